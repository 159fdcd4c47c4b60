package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"unicode/utf8"

	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// fakeModel is a deterministic stand-in for a transformer that really uses
// the paged KV cache: Forward stores every token id in its cache slot, and
// computes each logits row from the context it reads back through the
// sequence's block table. A wrong slot, block table or context length
// therefore changes the logits, just as it would for the real model, while
// next(context) gives the expected logits without any cache.
type fakeModel struct {
	vocab int
	next  func(ctx []int32) []float32

	mu        sync.Mutex
	cache     []int32 // token id per slot, -1 if never written
	blockSize int
	steps     int
	argmaxes  int
	failAt    map[int]error // step number -> error to return
	maxTokens int           // largest step seen
}

func newFakeModel(vocab int, next func([]int32) []float32) *fakeModel {
	if next == nil {
		next = hashLogits(vocab)
	}
	return &fakeModel{vocab: vocab, next: next, failAt: map[int]error{}}
}

// hashLogits gives every context its own pseudo-random logits: a spread of
// a few nats, so that sampling has real choices to make.
func hashLogits(vocab int) func([]int32) []float32 {
	return func(ctx []int32) []float32 {
		h := fnv.New64a()
		for _, t := range ctx {
			_, _ = fmt.Fprintf(h, "%d,", t)
		}
		rng := rand.New(rand.NewPCG(h.Sum64(), 1))
		l := make([]float32, vocab)
		for i := range l {
			l[i] = float32(rng.NormFloat64() * 2)
		}
		return l
	}
}

func (m *fakeModel) VocabSize() int         { return m.vocab }
func (m *fakeModel) KVBytesPerToken() int64 { return 64 }

func (m *fakeModel) NewKVCache(numBlocks, blockSize int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache = make([]int32, numBlocks*blockSize)
	for i := range m.cache {
		m.cache[i] = -1
	}
	m.blockSize = blockSize
	return nil
}

func (m *fakeModel) contexts(b *step.Step) ([][]int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps++
	m.maxTokens = max(m.maxTokens, b.NumTokens())
	if err := m.failAt[m.steps]; err != nil {
		return nil, err
	}
	if b.BlockSize != m.blockSize {
		return nil, fmt.Errorf("batch block size %d, cache %d", b.BlockSize, m.blockSize)
	}
	for j, slot := range b.Slots {
		m.cache[slot] = b.TokenIDs[j]
	}
	ctxs := make([][]int32, len(b.LogitsRows))
	for k, j := range b.LogitsRows {
		i := int(b.LogitsSeqs[k])
		// The last token's row, or with speculative decoding any token's:
		// each sees the positions up to its own.
		if j < b.QueryStarts[i] || j >= b.QueryStarts[i+1] {
			return nil, fmt.Errorf("logits row %d is not a token of sequence %d", j, i)
		}
		n := int(b.Positions[j]) + 1
		if j == b.QueryStarts[i+1]-1 && int32(n) != b.ContextLens[i] {
			return nil, fmt.Errorf("last position %d but context length %d", n-1, b.ContextLens[i])
		}
		table := b.BlockTables[i*b.BlockTableStride : (i+1)*b.BlockTableStride]
		ctx := make([]int32, n)
		for pos := range n {
			blk := table[pos/m.blockSize]
			if blk < 0 {
				return nil, fmt.Errorf("position %d has no block", pos)
			}
			ctx[pos] = m.cache[int(blk)*m.blockSize+pos%m.blockSize]
			if ctx[pos] < 0 {
				return nil, fmt.Errorf("position %d reads an unwritten slot", pos)
			}
		}
		ctxs[k] = ctx
	}
	return ctxs, nil
}

func (m *fakeModel) Forward(b *step.Step) ([]float32, error) {
	ctxs, err := m.contexts(b)
	if err != nil {
		return nil, err
	}
	out := make([]float32, 0, len(ctxs)*m.vocab)
	for _, c := range ctxs {
		out = append(out, m.next(c)...)
	}
	return out, nil
}

// argmaxModel adds ForwardArgmax to a fakeModel.
type argmaxModel struct{ *fakeModel }

func (m argmaxModel) ForwardArgmax(b *step.Step) ([]int32, error) {
	ctxs, err := m.contexts(b)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.argmaxes++
	m.mu.Unlock()
	out := make([]int32, len(ctxs))
	for k, c := range ctxs {
		l := m.next(c)
		best := 0
		for i, v := range l {
			if v > l[best] {
				best = i
			}
		}
		out[k] = int32(best)
	}
	return out, nil
}

// byteTokenizer is a fake byte-level tokenizer: token t < 256 is byte t,
// and the ids from 256 up are special tokens with no text.
type byteTokenizer struct{}

func (byteTokenizer) Encode(s string) []int32 {
	ids := make([]int32, len(s))
	for i := range len(s) {
		ids[i] = int32(s[i])
	}
	return ids
}

func (byteTokenizer) NewTextDecoder() TextDecoder { return &byteDecoder{} }

// byteDecoder emits complete UTF-8 characters only, like the real
// streaming detokenizer.
type byteDecoder struct{ buf []byte }

func (d *byteDecoder) Push(id int32) string {
	if id >= 256 {
		return ""
	}
	d.buf = append(d.buf, byte(id))
	n := 0
	for n < len(d.buf) {
		r, size := utf8.DecodeRune(d.buf[n:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(d.buf[n:]) {
				break // an unfinished character: wait for its next byte
			}
		}
		n += size
	}
	out := string(d.buf[:n])
	d.buf = d.buf[n:]
	return out
}

func (d *byteDecoder) Flush() string {
	out := string(d.buf)
	d.buf = nil
	if out != "" && !utf8.ValidString(out) {
		return "\uFFFD"
	}
	return out
}

// script returns logits that make the model say text (as bytes), then the
// token eos, after a prompt of promptLen tokens; far from certain otherwise
// (every token has a finite logit), so samplers still see a distribution.
func script(vocab, promptLen int, text string, eos int32) func([]int32) []float32 {
	return func(ctx []int32) []float32 {
		l := make([]float32, vocab)
		i := len(ctx) - promptLen
		target := eos
		if i < len(text) {
			target = int32(text[i])
		}
		l[target] = 30
		return l
	}
}

var errFakeDevice = errors.New("fake device lost")

func logSoftmax(l []float32) []float64 {
	maxv := math.Inf(-1)
	for _, v := range l {
		maxv = math.Max(maxv, float64(v))
	}
	z := 0.0
	for _, v := range l {
		z += math.Exp(float64(v) - maxv)
	}
	out := make([]float64, len(l))
	for i, v := range l {
		out[i] = float64(v) - maxv - math.Log(z)
	}
	return out
}
