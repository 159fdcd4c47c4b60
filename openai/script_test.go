package openai

import (
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// scriptModel is an engine.Model that writes a script: the token after
// position p is script[p+1-promptLen] (filler outside the script), so a
// test knows exactly what a request generates. gate, when set, runs at the
// start of every step, to hold the model mid-step (or slow it down, as a
// real model's step takes time); fail makes steps fail.
type scriptModel struct {
	vocab     int
	promptLen int
	script    []int32
	filler    int32

	mu    sync.Mutex
	gate  func()
	fail  error
	steps int
}

func (m *scriptModel) Forward(s *step.Step) ([]float32, error) {
	m.mu.Lock()
	gate, fail := m.gate, m.fail
	m.steps++
	m.mu.Unlock()
	if gate != nil {
		gate()
	}
	if fail != nil {
		return nil, fail
	}
	out := make([]float32, len(s.LogitsRows)*m.vocab)
	for k, row := range s.LogitsRows {
		tok := m.filler
		if i := int(s.Positions[row]) + 1 - m.promptLen; i >= 0 && i < len(m.script) {
			tok = m.script[i]
		}
		out[k*m.vocab+int(tok)] = 10
	}
	return out, nil
}

func (m *scriptModel) VocabSize() int            { return m.vocab }
func (m *scriptModel) NewKVCache(_, _ int) error { return nil }
func (m *scriptModel) KVBytesPerToken() int64    { return 1 }
func (m *scriptModel) setGate(g func())          { m.mu.Lock(); m.gate = g; m.mu.Unlock() }
func (m *scriptModel) setFail(err error)         { m.mu.Lock(); m.fail = err; m.mu.Unlock() }
func (m *scriptModel) stepsRun() int             { m.mu.Lock(); defer m.mu.Unlock(); return m.steps }
func (m *scriptModel) setScript(promptLen int, s []int32) {
	m.mu.Lock()
	m.promptLen, m.script = promptLen, s
	m.mu.Unlock()
}

// scriptServer is a Server over a scriptModel, with the real Qwen3
// tokenizer when tok is set.
type scriptServer struct {
	model *scriptModel
	eng   *engine.Engine
	srv   *Server
	api   *apiServer
}

func startScriptServer(t *testing.T, tok *tokenizer.Tokenizer, vocab, maxLen int, opts Options) *scriptServer {
	t.Helper()
	m := &scriptModel{vocab: vocab, filler: 7}
	cfg := engine.Config{
		Cache:       block.Config{BlockSize: 16, NumBlocks: (maxLen + 15) / 16 * 4, PrefixCaching: true},
		Scheduler:   scheduler.Config{MaxSeqs: 8, MaxBatchedTokens: 512, MaxModelLen: maxLen},
		EOSTokenIDs: []int32{int32(vocab - 1)},
	}
	var et engine.Tokenizer
	if tok != nil {
		et = engine.Qwen3Tokenizer(tok)
	}
	e, err := engine.New(m, et, cfg)
	require.NoError(t, err)
	if opts.ModelName == "" {
		opts.ModelName = modelName
	}
	s, err := New(e, tok, opts)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		m.setGate(nil)
		s.Close()
		hs.Close()
	})
	return &scriptServer{model: m, eng: e, srv: s, api: &apiServer{fixture: fixture{tok: tok, eng: e}, srv: s, url: hs.URL}}
}

var errModel = errors.New("the device fell over")

func loadTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(testdata + "/" + vocabFixture)
	require.NoError(t, err)
	return tok
}
