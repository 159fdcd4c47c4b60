//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// jsEngine is the loaded model as JavaScript sees it: the LLM engine of
// core/engine (the same scheduler, paged KV cache with prefix caching,
// sampler and detokenizer as the native build) and the requests JavaScript
// waits on. One goroutine (loop) runs engine steps while there is work; the
// JavaScript-facing methods only queue requests and wake it, so no call from
// JavaScript ever waits for a step.
type jsEngine struct {
	eng      *engine.Engine
	tok      *tokenizer.Tokenizer
	defaults sampler.Params
	vocab    int
	info     map[string]any
	cpu      bool
	// gpuCalls counts the WebGPU device's Go/JavaScript calls (nil on CPU).
	gpuCalls func() int64

	live   map[uint64]*liveRequest
	wake   chan struct{}
	quit   chan struct{}
	closed bool
	funcs  []js.Func

	// Counters for stats(): steps run, and calls from Go into JavaScript
	// made by the step loop (one per request per step).
	steps, crossings, tokens int64
	stepTime                 time.Duration
	gpuCallsAtLoad           int64

	// insp records every step and builds snapshot()'s picture of the
	// engine (the page's inside view); inspMu guards it.
	inspMu sync.Mutex
	insp   inspector
}

// liveRequest is a request in flight and the JavaScript callback that
// receives its events.
type liveRequest struct {
	onEvent js.Value
	prompt  int
	tokens  []int32
	text    strings.Builder
	// logprobs of the generated tokens, when the request asked for them
	logprobs []sampler.Result
}

// newEngine builds the engine over the loaded model with a KV cache of
// cache.NumBlocks blocks, and starts its step loop.
// errNoTokenizer refuses text where the model was loaded without tokenizer
// files: such a model runs on prompt_ids only.
var errNoTokenizer = fmt.Errorf("%w: the model was loaded without a tokenizer: give prompt_ids, not text or messages", errBadRequest)

func newEngine(l *loader, m *qwen3.Model, cache block.Config) (*jsEngine, error) {
	gen := m.GenerationConfig()
	if l.gen != nil {
		gen = *l.gen
	}
	defaults := engine.DefaultParams(gen)
	eos := gen.EOSTokenIDs
	if len(eos) == 0 {
		eos = l.cfg.EOSTokenIDs
	}
	ids := make([]int32, len(eos))
	for i, id := range eos {
		ids[i] = int32(id)
	}
	spec, err := l.opts.Speculative.speculative()
	if err != nil {
		return nil, err
	}
	eng, err := engine.NewQwen3(m, l.tok, engine.Config{
		Speculative: spec,
		Cache:       cache,
		Scheduler: scheduler.Config{
			MaxSeqs:          l.opts.MaxNumSeqs,
			MaxBatchedTokens: max(512, l.opts.MaxNumSeqs),
			MaxModelLen:      min(m.Config().MaxPositionEmbeddings, cache.NumBlocks*cache.BlockSize),
		},
		EOSTokenIDs: ids,
	})
	if err != nil {
		return nil, err
	}
	cfg := l.cfg
	blocks := eng.NumBlocks()
	h := &jsEngine{
		eng: eng, tok: l.tok, defaults: defaults, vocab: cfg.VocabSize, cpu: l.dev.gpu == nil,
		live: map[uint64]*liveRequest{},
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		info: map[string]any{
			"device":          m.Device().Name(),
			"model_type":      "qwen3",
			"vocab_size":      cfg.VocabSize,
			"hidden_size":     cfg.HiddenSize,
			"num_layers":      cfg.NumHiddenLayers,
			"max_model_len":   eng.Config().Scheduler.MaxModelLen,
			"kv_cache_blocks": blocks,
			"kv_block_size":   cache.BlockSize,
			"kv_cache_tokens": blocks * cache.BlockSize,
			"kv_cache_bytes":  m.KVCacheSpec(blocks, cache.BlockSize).Bytes(),
			"kv_cache_dtype":  m.KVCacheDType().String(),
			"max_num_seqs":    l.opts.MaxNumSeqs,
			"eos_token_ids":   eos,
			"default_sampling": map[string]any{
				"temperature": defaults.Temperature, "top_k": defaults.TopK, "top_p": defaults.TopP,
			},
			"wasm_heap_in_use": heapInUse(),
		},
	}
	if l.dev.gpu != nil {
		h.gpuCalls = l.dev.gpu.crossings
		h.gpuCallsAtLoad = h.gpuCalls()
	}
	go h.loop()
	return h, nil
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func (h *jsEngine) jsObject() js.Value {
	obj := js.Global().Get("Object").New()
	add := func(name string, fn func(args []js.Value) (any, error)) {
		f := method(fn)
		h.funcs = append(h.funcs, f)
		obj.Set(name, f)
	}
	add("info", func([]js.Value) (any, error) { return mustJSON(h.info), nil })
	add("submit", func(args []js.Value) (any, error) {
		data, err := argString(args, 0, "request")
		if err != nil {
			return nil, err
		}
		if len(args) < 2 || args[1].Type() != js.TypeFunction {
			return nil, fmt.Errorf("%w: submit needs an event callback", errBadRequest)
		}
		id, err := h.submit(data, args[1])
		return float64(id), err
	})
	add("abort", func(args []js.Value) (any, error) {
		if len(args) < 1 || args[0].Type() != js.TypeNumber {
			return nil, fmt.Errorf("%w: abort needs a request id", errBadRequest)
		}
		h.abort(uint64(args[0].Float()))
		h.poke()
		return nil, nil
	})
	add("tokenize", func(args []js.Value) (any, error) {
		text, err := argString(args, 0, "text")
		if err != nil {
			return nil, err
		}
		if h.tok == nil {
			return nil, errNoTokenizer
		}
		return mustJSON(nonNil(h.tok.Encode(text))), nil
	})
	add("detokenize", func(args []js.Value) (any, error) {
		data, err := argString(args, 0, "ids")
		if err != nil {
			return nil, err
		}
		var ids []int32
		if err := json.Unmarshal([]byte(data), &ids); err != nil {
			return nil, fmt.Errorf("%w: ids: %v", errBadRequest, err)
		}
		if h.tok == nil {
			return nil, errNoTokenizer
		}
		return h.tok.Decode(ids, false), nil
	})
	add("stats", func([]js.Value) (any, error) {
		st := map[string]any{
			"steps": h.steps, "tokens": h.tokens, "js_calls_from_step_loop": h.crossings,
			"step_seconds": h.stepTime.Seconds(), "wasm_heap_in_use": heapInUse(),
			"live_requests": len(h.live),
		}
		if h.steps > 0 {
			st["js_calls_per_step"] = float64(h.crossings) / float64(h.steps)
		}
		if h.gpuCalls != nil {
			n := h.gpuCalls() - h.gpuCallsAtLoad
			st["device_js_calls"] = n
			if h.steps > 0 {
				st["device_js_calls_per_step"] = float64(n) / float64(h.steps)
			}
		}
		return mustJSON(st), nil
	})
	add("snapshot", func([]js.Value) (any, error) {
		if h.closed {
			return nil, fmt.Errorf("%w: the engine is closed", errBadRequest)
		}
		h.inspMu.Lock()
		defer h.inspMu.Unlock()
		return string(h.insp.encode(h.eng, counters{Steps: h.steps, Tokens: h.tokens})), nil
	})
	add("close", func([]js.Value) (any, error) {
		h.close()
		return nil, nil
	})
	return obj
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// submit turns a request into prompt tokens and sampling parameters and
// queues it. Errors in the request come back at once; errors while running
// arrive as the request's final event.
func (h *jsEngine) submit(data string, onEvent js.Value) (uint64, error) {
	if h.closed {
		return 0, fmt.Errorf("%w: the engine is closed", errBadRequest)
	}
	r, err := parseRequest(data)
	if err != nil {
		return 0, err
	}
	p, err := r.params(h.defaults)
	if err != nil {
		return 0, err
	}
	var prompt []int32
	switch {
	case r.PromptIDs != nil:
		prompt = r.PromptIDs
	case h.tok == nil:
		return 0, errNoTokenizer
	case r.Prompt != nil:
		prompt = h.tok.Encode(*r.Prompt)
	default:
		text, err := h.tok.ApplyChatTemplateJSON(r.Chat.Messages, tokenizer.ChatOptions{
			AddGenerationPrompt: true, EnableThinking: r.Chat.EnableThinking,
		})
		if err != nil {
			return 0, fmt.Errorf("%w: messages: %w", errBadRequest, err)
		}
		prompt = h.tok.Encode(text)
	}
	if len(prompt) == 0 {
		return 0, fmt.Errorf("%w: the prompt is empty", errBadRequest)
	}
	for i, id := range prompt {
		if id < 0 || int(id) >= h.vocab {
			return 0, fmt.Errorf("%w: prompt token %d is %d, outside the vocabulary [0, %d)", errBadRequest, i, id, h.vocab)
		}
	}
	id, err := h.eng.AddRequest(context.Background(), engine.Request{PromptIDs: prompt, Params: p})
	if err != nil {
		return 0, err
	}
	h.live[id] = &liveRequest{onEvent: onEvent, prompt: len(prompt)}
	h.poke()
	return id, nil
}

// abort ends a request; the next step reports it.
func (h *jsEngine) abort(id uint64) {
	if err := h.eng.Abort(id); err != nil && !errors.Is(err, engine.ErrUnknownRequest) {
		fmt.Printf("nanovllm: abort %d: %v\n", id, err)
	}
}

func (h *jsEngine) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// loop runs engine steps while requests are live and delivers each step's
// output with one JavaScript call per request.
func (h *jsEngine) loop() {
	for {
		select {
		case <-h.wake:
		case <-h.quit:
			return
		}
		for !h.closed && h.eng.HasUnfinished() {
			start := time.Now()
			outs, err := h.eng.Step(context.Background())
			end := time.Now()
			h.stepTime += end.Sub(start)
			h.steps++
			h.recordStep(outs, start, end)
			// A failed step (a model failure) still reports its requests
			// as finished with the error; the engine stays usable for the
			// others.
			for _, o := range outs {
				h.deliver(o)
			}
			if err != nil {
				js.Global().Get("console").Call("error", "nanovllm: step failed: "+err.Error())
			}
			if h.cpu {
				// The CPU device never waits on JavaScript, so without a
				// pause the page could not repaint or deliver a Stop click
				// until the whole reply was done. WebGPU steps wait for the
				// GPU's readback and yield there anyway.
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// recordStep notes what the step just run computed, for snapshot().
func (h *jsEngine) recordStep(outs []engine.Output, start, end time.Time) {
	b := h.eng.LastBatch()
	if b.Seqs == 0 {
		return // only finished requests were reported: nothing ran
	}
	n := 0
	for _, o := range outs {
		n += len(o.TokenIDs)
	}
	h.inspMu.Lock()
	defer h.inspMu.Unlock()
	h.insp.record(stepRecord{
		At: float64(end.UnixNano()) / 1e6, Ms: float64(end.Sub(start).Microseconds()) / 1000, Batch: b, Tokens: n,
		Preemptions: h.eng.Stats().Preemptions,
	})
}

// deliver hands one step's output for one request to its JavaScript
// callback: a step event, and when the request finished, its done event.
func (h *jsEngine) deliver(o engine.Output) {
	req, ok := h.live[o.ID]
	if !ok {
		return
	}
	req.tokens = append(req.tokens, o.TokenIDs...)
	req.logprobs = append(req.logprobs, o.Logprobs...)
	req.text.WriteString(o.Text)
	h.tokens += int64(len(o.TokenIDs))
	var reason string
	if o.Finished {
		var err error
		if reason, err = finishReason(o); err != nil {
			delete(h.live, o.ID)
			h.emit(req, mustJSON(errorEvent(err)))
			return
		}
	}
	ev := stepEvent{TokenIDs: nonNil(o.TokenIDs), Text: o.Text}
	var u usage
	if o.Finished {
		u = newUsage(req.prompt, len(req.tokens), o.Metrics)
		ev.FinishReason = reason
		ev.Usage = &u
	}
	if len(o.TokenIDs) > 0 || o.Text != "" || o.Finished {
		h.emit(req, mustJSON(ev))
	}
	if o.Finished {
		delete(h.live, o.ID)
		h.emit(req, mustJSON(doneEvent{Done: true, Result: &result{
			TokenIDs: nonNil(req.tokens), Text: req.text.String(), FinishReason: reason, Usage: u,
			Logprobs: req.logprobs,
		}}))
	}
}

// finishReason is a finished request's finish_reason as OpenAI's API names
// it, or the error it ended with.
func finishReason(o engine.Output) (string, error) {
	switch o.FinishReason {
	case sequence.Stop, sequence.StopString:
		return "stop", nil // OpenAI's name for both
	case sequence.Length:
		return "length", nil
	case sequence.Aborted:
		return "", withCode(codeAborted, fmt.Errorf("request %d was aborted: %w", o.ID, o.Err))
	}
	if o.Err != nil {
		return "", o.Err
	}
	return "", fmt.Errorf("request %d failed", o.ID)
}

func (h *jsEngine) emit(req *liveRequest, event string) {
	h.crossings++
	req.onEvent.Invoke(event)
}

func (h *jsEngine) failAll(err error) {
	for id, req := range h.live {
		h.abort(id)
		delete(h.live, id)
		h.emit(req, mustJSON(errorEvent(err)))
	}
}

func (h *jsEngine) close() {
	if h.closed {
		return
	}
	h.closed = true
	h.failAll(withCode(codeAborted, fmt.Errorf("the engine was closed")))
	close(h.quit)
	for _, f := range h.funcs {
		f.Release()
	}
	h.funcs = nil
}
