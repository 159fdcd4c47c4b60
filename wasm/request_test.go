package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string
		check   func(t *testing.T, r *request)
	}{
		{name: "text prompt", json: `{"prompt":"hi"}`, check: func(t *testing.T, r *request) {
			require.Equal(t, "hi", *r.Prompt)
			require.Nil(t, r.PromptIDs)
		}},
		{name: "ids", json: `{"prompt_ids":[1,2,3]}`, check: func(t *testing.T, r *request) {
			require.Equal(t, []int32{1, 2, 3}, r.PromptIDs)
		}},
		{name: "chat", json: `{"chat":{"messages":[{"role":"user","content":"x"}],"enable_thinking":false}}`, check: func(t *testing.T, r *request) {
			require.JSONEq(t, `[{"role":"user","content":"x"}]`, string(r.Chat.Messages))
			require.False(t, *r.Chat.EnableThinking)
		}},
		{name: "empty text is a prompt", json: `{"prompt":""}`, check: func(t *testing.T, r *request) {
			require.Equal(t, "", *r.Prompt)
		}},
		{name: "nothing", json: `{}`, wantErr: "exactly one"},
		{name: "two prompts", json: `{"prompt":"a","prompt_ids":[1]}`, wantErr: "exactly one"},
		{name: "empty ids", json: `{"prompt_ids":[]}`, wantErr: "prompt_ids is empty"},
		{name: "misspelt field", json: `{"prompt":"a","max_token":3}`, wantErr: "max_token"},
		{name: "wrong type", json: `{"prompt":"a","max_tokens":"3"}`, wantErr: "max_tokens"},
		{name: "id too large for int32", json: `{"prompt_ids":[4294967296]}`, wantErr: "bad request"},
		{name: "trailing data", json: `{"prompt":"a"} {}`, wantErr: "trailing"},
		{name: "not json", json: `hello`, wantErr: "bad request"},
		{name: "conversation nested too deep", json: `{"chat":{"messages":` + strings.Repeat("[", 3<<20) + `}}`, wantErr: "nest more than 66 deep"},
		{name: "conversation too large", json: `{"chat":{"messages":[{"role":"user","content":"` + strings.Repeat("x", maxRequestBytes) + `"}]}}`, wantErr: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRequest(tt.json)
			if tt.wantErr != "" {
				require.Error(t, err)
				require.ErrorIs(t, err, errBadRequest)
				require.Contains(t, err.Error(), tt.wantErr)
				require.Equal(t, codeBadRequest, errorCode(err))
				return
			}
			require.NoError(t, err)
			tt.check(t, r)
		})
	}
}

func TestRequestParams(t *testing.T) {
	seed := uint64(7)
	defaults := sampler.Params{Temperature: 0.6, TopK: 20, TopP: 0.95, StopTokenIDs: []int32{99}, Seed: &seed}
	tests := []struct {
		name    string
		json    string
		want    func() sampler.Params
		wantErr string
	}{
		{name: "defaults kept", json: `{"prompt":"x"}`, want: func() sampler.Params { return defaults.Clone() }},
		{name: "greedy override", json: `{"prompt":"x","temperature":0,"max_tokens":24,"ignore_eos":true}`, want: func() sampler.Params {
			p := defaults.Clone()
			p.Temperature, p.MaxTokens, p.IgnoreEOS = 0, 24, true
			return p
		}},
		{name: "every field", json: `{"prompt":"x","top_p":0.5,"top_k":3,"min_p":0.1,"seed":42,"stop_token_ids":[5],
			"stop":["END","\n\n"],"repetition_penalty":1.1,"presence_penalty":0.5,"frequency_penalty":-0.5,
			"min_tokens":2,"include_stop_str_in_output":true}`, want: func() sampler.Params {
			p := defaults.Clone()
			s := uint64(42)
			p.TopP, p.TopK, p.MinP, p.Seed = 0.5, 3, 0.1, &s
			p.MinTokens, p.IncludeStopStrInOutput = 2, true
			p.StopTokenIDs = []int32{99, 5}
			p.Stop = []string{"END", "\n\n"}
			p.RepetitionPenalty, p.PresencePenalty, p.FrequencyPenalty = 1.1, 0.5, -0.5
			return p
		}},
		{name: "stop as one string", json: `{"prompt":"x","stop":"END"}`, want: func() sampler.Params {
			p := defaults.Clone()
			p.Stop = []string{"END"}
			return p
		}},
		{name: "stop null", json: `{"prompt":"x","stop":null}`, want: func() sampler.Params { return defaults.Clone() }},
		{name: "stop of numbers", json: `{"prompt":"x","stop":[1]}`, wantErr: "stop must be"},
		{name: "empty stop string", json: `{"prompt":"x","stop":[""]}`, wantErr: "stop[0] is empty"},
		{name: "negative temperature", json: `{"prompt":"x","temperature":-1}`, wantErr: "temperature"},
		{name: "top_p above 1", json: `{"prompt":"x","top_p":1.5}`, wantErr: "top_p"},
		{name: "negative max_tokens", json: `{"prompt":"x","max_tokens":-1}`, wantErr: "max_tokens"},
		{name: "min_tokens above max_tokens", json: `{"prompt":"x","max_tokens":2,"min_tokens":3}`, wantErr: "min_tokens"},
		{name: "logprobs", json: `{"prompt":"x","logprobs":5}`, want: func() sampler.Params {
			p := defaults.Clone()
			p.Logprobs = 5
			return p
		}},
		{name: "too many logprobs", json: `{"prompt":"x","logprobs":21}`, wantErr: "logprobs 21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRequest(tt.json)
			require.NoError(t, err)
			p, err := r.params(defaults)
			if tt.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.wantErr)
				require.Equal(t, codeBadRequest, errorCode(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want(), p)
		})
	}
	// The request must not share memory with the defaults it started from.
	r, err := parseRequest(`{"prompt":"x","stop_token_ids":[1],"seed":3}`)
	require.NoError(t, err)
	_, err = r.params(defaults)
	require.NoError(t, err)
	require.Equal(t, []int32{99}, defaults.StopTokenIDs)
	require.Equal(t, uint64(7), *defaults.Seed)
}

func TestParseLoadOptions(t *testing.T) {
	tests := []struct {
		json    string
		want    loadOptions
		wantErr string
	}{
		{json: `{"device":"cpu"}`, want: loadOptions{Device: "cpu", KVCacheBytes: defaultKVCacheBytes, BlockSize: defaultBlockSize, MaxNumSeqs: defaultMaxNumSeqs}},
		{json: `{"device":"webgpu","kvCacheBytes":1048576,"model":"Qwen/Qwen3-0.6B","blockSize":32,"maxNumSeqs":4}`,
			want: loadOptions{Device: "webgpu", KVCacheBytes: 1 << 20, Model: "Qwen/Qwen3-0.6B", BlockSize: 32, MaxNumSeqs: 4}},
		{json: `{"device":"tpu"}`, wantErr: `device "tpu"`},
		{json: `{}`, wantErr: `device ""`},
		{json: `{"device":"cpu","kvCacheBytes":-1}`, wantErr: "kvCacheBytes"},
		{json: `{"device":"cpu","blockSize":2048}`, wantErr: "blockSize"},
		{json: `{"device":"cpu","maxNumSeqs":-2}`, wantErr: "maxNumSeqs"},
		{json: `{"device":"cpu","kvBudget":1}`, wantErr: "unknown field"},
		{json: `{"device":"webgpu","kvCacheDType":"bf16"}`,
			want: loadOptions{Device: "webgpu", KVCacheBytes: defaultKVCacheBytes, BlockSize: defaultBlockSize, MaxNumSeqs: defaultMaxNumSeqs, KVCacheDType: "bf16"}},
		{json: `{"device":"cpu","kvCacheDType":"fp8"}`, wantErr: `kvCacheDType "fp8"`},
		{json: `{"device":"cpu","kvCacheDType":"BF16"}`, wantErr: `want "f32", "bf16" or "f16"`},
		{json: `{"device":"webgpu","quantize":"q4_0"}`,
			want: loadOptions{Device: "webgpu", KVCacheBytes: defaultKVCacheBytes, BlockSize: defaultBlockSize, MaxNumSeqs: defaultMaxNumSeqs, Quantize: "q4_0"}},
		{json: `{"device":"cpu","quantize":"q5_k"}`, wantErr: `quantize "q5_k": want "q8_0" or "q4_0"`},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			got, err := parseLoadOptions(tt.json)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errBadRequest)
				require.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLoadOptionsKVCacheDType(t *testing.T) {
	for in, want := range map[string]device.DType{"": device.F32, "f32": device.F32, "bf16": device.BF16, "f16": device.F16} {
		o := loadOptions{KVCacheDType: in}
		dt, err := o.kvCacheDType()
		require.NoError(t, err)
		require.Equal(t, want, dt, "%q", in)
		require.Equal(t, want, o.modelOptions().KVCacheDType, "%q", in)
	}
	// The option reaches the model, whose token size sizes the cache: the
	// same budget holds twice the blocks with a 16-bit cache. qwen3-tiny's
	// token is 2 layers x 2 KV heads x 16 dims x (K and V) = 128 elements.
	dev := cpu.New(cpu.Options{})
	t.Cleanup(func() { dev.Close() })
	opts := loadOptions{KVCacheBytes: 1 << 20, BlockSize: 16}
	for dt, bytes := range map[string]int64{"f32": 4, "bf16": 2, "f16": 2} {
		opts.KVCacheDType = dt
		m, err := qwen3.Load("../testdata/qwen3-tiny", dev, opts.modelOptions())
		require.NoError(t, err)
		require.Equal(t, 128*bytes, m.KVBytesPerToken(), dt)
		cache, err := opts.kvCache(m.KVBytesPerToken())
		require.NoError(t, err)
		require.Equal(t, int((1<<20)/(128*bytes*16)), cache.NumBlocks, dt)
		require.NoError(t, m.Close())
	}
}

func TestKVBlocks(t *testing.T) {
	// Qwen3-0.6B: 28 layers x 8 KV heads x 128 dims x (K and V) x 4 bytes
	// = 229,376 bytes a token; a 16-token block is 3,670,016 bytes.
	perToken := int64(28 * 8 * 128 * 2 * 4)
	tests := []struct {
		budget, perToken int64
		blockSize        int
		want             int
		wantErr          string
	}{
		{256 << 20, perToken, 16, 73, ""}, // 268,435,456 / 3,670,016 = 73.1: 1,168 tokens
		{perToken * 16, perToken, 16, 1, ""},
		{perToken*16 - 1, perToken, 16, 0, "holds no block"},
		{1 << 40, 1, 1, 1<<31 - 1, ""}, // capped so block ids and slots fit int32
		{1 << 40, 1, 16, (1<<31 - 1) / 16, ""},
		{1 << 20, 0, 16, 0, "no KV cache size"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.budget, "/", tt.perToken, "/", tt.blockSize), func(t *testing.T) {
			got, err := kvBlocks(tt.budget, tt.perToken, tt.blockSize)
			if tt.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.wantErr)
				require.Equal(t, codeBadRequest, errorCode(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			// The count is the one the engine sizes a cache of that
			// budget with, and the resolved configuration is one the
			// engine accepts.
			budget := block.Config{BlockSize: tt.blockSize, MemoryBudget: tt.budget}
			n, err := budget.Blocks(tt.perToken)
			require.NoError(t, err)
			require.Equal(t, n, got)
			cache, err := loadOptions{KVCacheBytes: tt.budget, BlockSize: tt.blockSize}.kvCache(tt.perToken)
			require.NoError(t, err)
			require.Equal(t, block.Config{BlockSize: tt.blockSize, NumBlocks: got, PrefixCaching: true}, cache)
			require.NoError(t, cache.Validate())
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", errBadRequest), codeBadRequest},
		{fmt.Errorf("x: %w", sampler.ErrInvalidParams), codeBadRequest},
		{fmt.Errorf("x: %w", scheduler.ErrPromptTooLong), codeBadRequest},
		{fmt.Errorf("x: %w", scheduler.ErrAborted), codeAborted},
		{fmt.Errorf("x: %w", block.ErrOutOfBlocks), codeOutOfMemory},
		{&safetensors.FormatError{Problem: "bad"}, codeBadModel},
		{fmt.Errorf("config.json: %w", qwen3.ErrInvalidConfig), codeBadModel},
		{fmt.Errorf("x: %w", qwen3.ErrUnsupported), codeBadModel},
		{fmt.Errorf("chat template: %w", tokenizer.ErrTemplateLimit), codeBadModel},
		{fmt.Errorf("messages: %w", tokenizer.ErrConversation), codeBadRequest},
		{fmt.Errorf("prompt: %w", tokenizer.ErrTooLong), codeBadRequest},
		{withCode(codeNoWebGPU, errors.New("no gpu")), codeNoWebGPU},
		{fmt.Errorf("wrapped: %w", withCode(codeOutOfMemory, errors.New("too big"))), codeOutOfMemory},
		{errors.New("something else"), codeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			require.Equal(t, tt.want, errorCode(tt.err))
		})
	}
}

func TestEventJSON(t *testing.T) {
	// web/nanovllm.js reads these field names; pin them.
	// OpenAI's shape for the prompt tokens the prefix cache supplied.
	u := newUsage(20, 2, engine.Metrics{CachedTokens: 16})
	require.JSONEq(t, `{"token_ids":[7],"text":"hi"}`, mustJSON(stepEvent{TokenIDs: []int32{7}, Text: "hi"}))
	require.JSONEq(t, `{"token_ids":[],"text":"","finish_reason":"stop","usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":16}}}`,
		mustJSON(stepEvent{TokenIDs: []int32{}, FinishReason: "stop", Usage: &u}))
	require.JSONEq(t, `{"done":true,"result":{"token_ids":[1,2],"text":"ab","finish_reason":"length","usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":16}}}}`,
		mustJSON(doneEvent{Done: true, Result: &result{TokenIDs: []int32{1, 2}, Text: "ab", FinishReason: "length", Usage: u}}))
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustJSON(errorEvent(fmt.Errorf("p: %w", sampler.ErrInvalidParams)))), &ev))
	require.Equal(t, true, ev["done"])
	require.Equal(t, map[string]any{"code": codeBadRequest, "message": "p: " + sampler.ErrInvalidParams.Error()}, ev["error"])
}

func TestFitsWasm(t *testing.T) {
	require.NoError(t, fitsWasm(1500<<20, 256<<20)) // Qwen3-0.6B with the default cache
	require.NoError(t, fitsWasm(2048<<20, 256<<20)) // exactly the 2304 MiB budget
	err := fitsWasm(2048<<20, 256<<20+1)
	require.Error(t, err)
	require.Equal(t, codeOutOfMemory, errorCode(err))
	require.Contains(t, err.Error(), "lower kvCacheBytes")
	require.Equal(t, codeOutOfMemory, errorCode(fitsWasm(0, 4<<30)))
}

func TestSpeculativeOptions(t *testing.T) {
	o, err := parseLoadOptions(`{"device":"cpu","speculative":{"method":"ngram"}}`)
	require.NoError(t, err)
	spec, err := o.Speculative.speculative()
	require.NoError(t, err)
	require.Equal(t, 4, spec.NumTokens, "the default K")
	require.Equal(t, &engine.NGram{Min: 1, Max: 4}, spec.Proposer)
	o, err = parseLoadOptions(`{"device":"webgpu","speculative":{"method":"ngram","numTokens":6,"promptLookupMin":2,"promptLookupMax":3}}`)
	require.NoError(t, err)
	spec, err = o.Speculative.speculative()
	require.NoError(t, err)
	require.Equal(t, 6, spec.NumTokens)
	require.Equal(t, &engine.NGram{Min: 2, Max: 3}, spec.Proposer)
	o, err = parseLoadOptions(`{"device":"cpu"}`)
	require.NoError(t, err)
	spec, err = o.Speculative.speculative()
	require.NoError(t, err)
	require.Nil(t, spec.Proposer, "off by default")
	for _, tc := range []struct{ json, want string }{
		{`{"method":"draft"}`, `speculative.method "draft"`},
		{`{"method":"ngram","numTokens":33}`, "speculative.numTokens 33"},
		{`{"method":"ngram","promptLookupMin":5,"promptLookupMax":2}`, "promptLookupMin 5 / promptLookupMax 2"},
		{`{"method":"ngram","k":4}`, `unknown field "k"`},
	} {
		_, err := parseLoadOptions(`{"device":"cpu","speculative":` + tc.json + `}`)
		require.ErrorIs(t, err, errBadRequest, tc.json)
		require.ErrorContains(t, err, tc.want, tc.json)
		require.Equal(t, codeBadRequest, errorCode(err))
	}
}
