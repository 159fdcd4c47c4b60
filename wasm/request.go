package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// This file and errors.go hold the platform-free half of the JavaScript
// bridge: what the JSON crossing the boundary looks like and how errors are
// classified. They compile (and are tested) natively; the syscall/js half is
// in *_js.go.

// loadOptions is the first argument of newLoader.
type loadOptions struct {
	Device       string `json:"device"`
	KVCacheBytes int64  `json:"kvCacheBytes"`
	Model        string `json:"model"`
	// BlockSize is the KV block size in tokens (default 16).
	BlockSize int `json:"blockSize"`
	// MaxNumSeqs caps the sequences decoded together (default 16).
	MaxNumSeqs int `json:"maxNumSeqs"`
	// Speculative turns on speculative decoding (null: off).
	Speculative *speculativeOptions `json:"speculative"`
	// KVCacheDType is the element type of the KV cache: "f32" (the
	// default, also ""), "bf16" or "f16". A 16-bit cache holds twice the
	// tokens in the same kvCacheBytes.
	KVCacheDType string `json:"kvCacheDType"`
	// Quantize quantizes the weights while they load: "q8_0" or "q4_0"
	// (ggml's reference quantizers, byte-identical to llama-quantize),
	// or "" for the weights as stored.
	Quantize string `json:"quantize"`
}

// quantize is Quantize as a device dtype (F32: as stored).
func (o loadOptions) quantize() (device.DType, error) {
	switch o.Quantize {
	case "":
		return device.F32, nil
	case "q8_0":
		return device.Q8_0, nil
	case "q4_0":
		return device.Q4_0, nil
	}
	return 0, fmt.Errorf("%w: quantize %q: want \"q8_0\" or \"q4_0\" (or leave it out for the weights as stored)", errBadRequest, o.Quantize)
}

// kvCacheDType is KVCacheDType as a device dtype.
func (o loadOptions) kvCacheDType() (device.DType, error) {
	switch o.KVCacheDType {
	case "", "f32":
		return device.F32, nil
	case "bf16":
		return device.BF16, nil
	case "f16":
		return device.F16, nil
	}
	return 0, fmt.Errorf("%w: kvCacheDType %q: want \"f32\", \"bf16\" or \"f16\"", errBadRequest, o.KVCacheDType)
}

// modelOptions are the model's load options that come from o: the KV
// cache's dtype and the quantization (checked by parseLoadOptions).
func (o loadOptions) modelOptions() qwen3.Options {
	dt, _ := o.kvCacheDType()
	q, _ := o.quantize()
	return qwen3.Options{KVCacheDType: dt, Quantize: q}
}

// speculativeOptions configure speculative decoding in the browser: prompt
// lookup only. (A draft model would mean downloading and holding a second
// checkpoint; the native engine has it.)
type speculativeOptions struct {
	Method          string `json:"method"`          // "ngram"
	NumTokens       int    `json:"numTokens"`       // K, default 4
	PromptLookupMin int    `json:"promptLookupMin"` // default 1
	PromptLookupMax int    `json:"promptLookupMax"` // default 4
}

// speculative returns the engine's configuration for o (off for nil).
func (o *speculativeOptions) speculative() (engine.Speculative, error) {
	if o == nil {
		return engine.Speculative{}, nil
	}
	if o.Method != "ngram" {
		return engine.Speculative{}, fmt.Errorf("%w: speculative.method %q: the browser build has \"ngram\" (prompt lookup)", errBadRequest, o.Method)
	}
	k, lo, hi := o.NumTokens, o.PromptLookupMin, o.PromptLookupMax
	if k == 0 {
		k = 4
	}
	if lo == 0 {
		lo = 1
	}
	if hi == 0 {
		hi = max(4, lo)
	}
	if k < 1 || k > engine.MaxSpeculativeTokens {
		return engine.Speculative{}, fmt.Errorf("%w: speculative.numTokens %d: want 1 to %d", errBadRequest, k, engine.MaxSpeculativeTokens)
	}
	g, err := engine.NewNGram(lo, hi)
	if err != nil {
		return engine.Speculative{}, fmt.Errorf("%w: speculative.promptLookupMin %d / promptLookupMax %d: want 1 <= min <= max <= 64", errBadRequest, lo, hi)
	}
	return engine.Speculative{Proposer: g, NumTokens: k}, nil
}

// Defaults for loadOptions: a smaller cache and fewer sequences than the
// native engine's, blocks of the same size.
const (
	defaultKVCacheBytes = 256 << 20
	defaultMaxNumSeqs   = 16
)

var defaultBlockSize = block.DefaultConfig().BlockSize

func parseLoadOptions(data string) (loadOptions, error) {
	var o loadOptions
	if err := strictUnmarshal([]byte(data), &o); err != nil {
		return o, fmt.Errorf("%w: load options: %v", errBadRequest, err)
	}
	if o.Device != "cpu" && o.Device != "webgpu" {
		return o, fmt.Errorf("%w: device %q: want \"cpu\" or \"webgpu\"", errBadRequest, o.Device)
	}
	if o.KVCacheBytes == 0 {
		o.KVCacheBytes = defaultKVCacheBytes
	}
	if o.BlockSize == 0 {
		o.BlockSize = defaultBlockSize
	}
	if o.MaxNumSeqs == 0 {
		o.MaxNumSeqs = defaultMaxNumSeqs
	}
	switch {
	case o.KVCacheBytes < 0:
		return o, fmt.Errorf("%w: kvCacheBytes %d must be positive", errBadRequest, o.KVCacheBytes)
	case o.BlockSize < 1 || o.BlockSize > block.MaxBlockSize:
		return o, fmt.Errorf("%w: blockSize %d must be in [1, %d]", errBadRequest, o.BlockSize, block.MaxBlockSize)
	case o.MaxNumSeqs < 1:
		return o, fmt.Errorf("%w: maxNumSeqs %d must be positive", errBadRequest, o.MaxNumSeqs)
	}
	if _, err := o.Speculative.speculative(); err != nil {
		return o, err
	}
	if _, err := o.kvCacheDType(); err != nil {
		return o, err
	}
	if _, err := o.quantize(); err != nil {
		return o, err
	}
	return o, nil
}

// kvCache is the engine's KV cache configuration for these options:
// kvCacheBytes of blocks of blockSize tokens, with prefix caching, and the
// block count resolved (see kvBlocks) because the CPU device's memory check
// and the maximum sequence length need it before the engine exists.
func (o loadOptions) kvCache(bytesPerToken int64) (block.Config, error) {
	n, err := kvBlocks(o.KVCacheBytes, bytesPerToken, o.BlockSize)
	return block.Config{BlockSize: o.BlockSize, NumBlocks: n, PrefixCaching: true}, err
}

// kvBlocks is how many KV blocks of blockSize tokens fit in budget bytes
// when one token takes bytesPerToken (all layers, keys and values): the
// count block.Config.Blocks gives for that memory budget, which is how the
// engine sizes a cache from one. Its errors are worded for JavaScript's
// kvCacheBytes.
func kvBlocks(budget, bytesPerToken int64, blockSize int) (int, error) {
	if bytesPerToken <= 0 {
		return 0, fmt.Errorf("%w: model has no KV cache size", errBadRequest)
	}
	c := block.Config{BlockSize: blockSize, MemoryBudget: budget, PrefixCaching: true}
	if err := c.Validate(); err != nil {
		return 0, fmt.Errorf("%w: kvCacheBytes %d, blockSize %d: %w", errBadRequest, budget, blockSize, err)
	}
	n, err := c.Blocks(bytesPerToken)
	if err != nil {
		// With a valid configuration and a positive token size, the only
		// failure left is a budget below one block.
		return 0, withCode(codeBadRequest, fmt.Errorf("kvCacheBytes %d holds no block of %d tokens (%d bytes each): raise it",
			budget, blockSize, bytesPerToken*int64(blockSize)))
	}
	return n, nil
}

// wasmMemoryBudget is what the CPU device may use of wasm32's 4 GiB address
// space for weights and KV cache together; the rest is for Go's heap
// overhead, the tokenizer and activations. Measured in Chromium with the
// tiny fixture: a 2.33 GiB KV cache loads, 2.70 GiB crashes the instance
// out of memory; this leaves a margin below that.
const wasmMemoryBudget = 2304 << 20

// fitsWasm checks that the CPU device's weights and KV cache fit in wasm
// memory.
func fitsWasm(weights, kvCache int64) error {
	if weights+kvCache <= wasmMemoryBudget {
		return nil
	}
	return withCode(codeOutOfMemory, fmt.Errorf(
		"the CPU device keeps the weights (%d MiB) and the KV cache (%d MiB) in wasm memory, which cannot hold more than %d MiB of them: lower kvCacheBytes, or use WebGPU",
		weights>>20, kvCache>>20, int64(wasmMemoryBudget)>>20))
}

// request is one generate or chat request from the JavaScript API. Sampling
// fields are pointers so that an absent field keeps the model's default from
// generation_config.json.
type request struct {
	Prompt    *string      `json:"prompt"`
	PromptIDs []int32      `json:"prompt_ids"`
	Chat      *chatRequest `json:"chat"`

	MaxTokens         *int            `json:"max_tokens"`
	Temperature       *float32        `json:"temperature"`
	TopP              *float32        `json:"top_p"`
	TopK              *int            `json:"top_k"`
	MinP              *float32        `json:"min_p"`
	Seed              *uint64         `json:"seed"`
	IgnoreEOS         bool            `json:"ignore_eos"`
	MinTokens         *int            `json:"min_tokens"`
	IncludeStopStr    bool            `json:"include_stop_str_in_output"`
	Stop              json.RawMessage `json:"stop"` // a string or a list of strings, as in OpenAI's API
	StopTokenIDs      []int32         `json:"stop_token_ids"`
	RepetitionPenalty *float32        `json:"repetition_penalty"`
	PresencePenalty   *float32        `json:"presence_penalty"`
	FrequencyPenalty  *float32        `json:"frequency_penalty"`
	// Logprobs asks for each generated token's log-probability and the
	// Logprobs most likely alternatives (at most sampler.MaxLogprobs).
	Logprobs *int `json:"logprobs"`
}

// chatRequest is the chat part of a request: the messages are rendered with
// the model's chat template, with the generation prompt added.
type chatRequest struct {
	Messages       json.RawMessage `json:"messages"`
	EnableThinking *bool           `json:"enable_thinking"`
}

// maxRequestBytes is the largest request: a conversation of
// tokenizer.MaxConversationBytes and room for the rest.
const maxRequestBytes = tokenizer.MaxConversationBytes + 1<<20

func parseRequest(data string) (*request, error) {
	// A conversation is untrusted JSON: bounded in size and nesting (the
	// request and chat objects hold the messages two levels down) before
	// anything decodes it.
	if len(data) > maxRequestBytes {
		return nil, fmt.Errorf("%w: the request is %d bytes, more than %d", errBadRequest, len(data), maxRequestBytes)
	}
	if err := tokenizer.CheckJSONDepth([]byte(data), tokenizer.MaxJSONDepth+2); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	var r request
	if err := strictUnmarshal([]byte(data), &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	n := 0
	if r.Prompt != nil {
		n++
	}
	if r.PromptIDs != nil {
		n++
	}
	if r.Chat != nil {
		n++
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: give exactly one of prompt, prompt_ids and messages", errBadRequest)
	}
	if r.PromptIDs != nil && len(r.PromptIDs) == 0 {
		return nil, fmt.Errorf("%w: prompt_ids is empty", errBadRequest)
	}
	return &r, nil
}

// params applies the request's sampling fields over defaults and validates
// the result.
func (r *request) params(defaults sampler.Params) (sampler.Params, error) {
	p := defaults.Clone()
	if r.MaxTokens != nil {
		p.MaxTokens = *r.MaxTokens
	}
	if r.Temperature != nil {
		p.Temperature = *r.Temperature
	}
	if r.TopP != nil {
		p.TopP = *r.TopP
	}
	if r.TopK != nil {
		p.TopK = *r.TopK
	}
	if r.MinP != nil {
		p.MinP = *r.MinP
	}
	if r.Seed != nil {
		s := *r.Seed
		p.Seed = &s
	}
	if r.IgnoreEOS {
		p.IgnoreEOS = true
	}
	if r.MinTokens != nil {
		p.MinTokens = *r.MinTokens
	}
	if r.IncludeStopStr {
		p.IncludeStopStrInOutput = true
	}
	if r.RepetitionPenalty != nil {
		p.RepetitionPenalty = *r.RepetitionPenalty
	}
	if r.PresencePenalty != nil {
		p.PresencePenalty = *r.PresencePenalty
	}
	if r.FrequencyPenalty != nil {
		p.FrequencyPenalty = *r.FrequencyPenalty
	}
	if r.Logprobs != nil {
		p.Logprobs = *r.Logprobs
	}
	if len(r.StopTokenIDs) > 0 {
		p.StopTokenIDs = append(p.StopTokenIDs, r.StopTokenIDs...)
	}
	stop, err := parseStop(r.Stop)
	if err != nil {
		return p, err
	}
	p.Stop = append(p.Stop, stop...)
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

func parseStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%w: stop must be a string or a list of strings", errBadRequest)
	}
	return many, nil
}

// usage counts a request's tokens, as in OpenAI's API (the prompt tokens
// the prefix cache supplied in prompt_tokens_details.cached_tokens), and,
// with speculative decoding, the tokens proposed for it and accepted.
type usage struct {
	PromptTokens        int           `json:"prompt_tokens"`
	CompletionTokens    int           `json:"completion_tokens"`
	TotalTokens         int           `json:"total_tokens"`
	PromptTokensDetails promptDetails `json:"prompt_tokens_details"`
	SpecProposed        int           `json:"speculative_proposed_tokens,omitempty"`
	SpecAccepted        int           `json:"speculative_accepted_tokens,omitempty"`
}

// promptDetails is OpenAI's usage.prompt_tokens_details.
type promptDetails struct {
	// CachedTokens is how many prompt tokens were found in the prefix
	// cache (whole KV blocks computed for an earlier request) and not
	// computed again.
	CachedTokens int `json:"cached_tokens"`
}

// newUsage is the usage of a finished request with prompt prompt tokens
// and completion generated ones.
func newUsage(prompt, completion int, m engine.Metrics) usage {
	return usage{
		PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion,
		PromptTokensDetails: promptDetails{CachedTokens: m.CachedTokens},
		SpecProposed:        m.SpecProposed, SpecAccepted: m.SpecAccepted,
	}
}

// stepEvent is what one engine step produced for one request: the new
// token ids and the text they complete. The request's last step event
// carries its finish reason and usage.
type stepEvent struct {
	TokenIDs     []int32 `json:"token_ids"`
	Text         string  `json:"text"`
	FinishReason string  `json:"finish_reason,omitempty"`
	Usage        *usage  `json:"usage,omitempty"`
}

// result is a finished request.
type result struct {
	TokenIDs     []int32 `json:"token_ids"`
	Text         string  `json:"text"`
	FinishReason string  `json:"finish_reason"`
	Usage        usage   `json:"usage"`
	// Logprobs has one entry per generated token when the request asked
	// for logprobs: {token_id, logprob, top: [{token_id, logprob}]}.
	Logprobs []sampler.Result `json:"logprobs,omitempty"`
}

// doneEvent ends a request's event stream, with its result or its error.
type doneEvent struct {
	Done   bool        `json:"done"`
	Result *result     `json:"result,omitempty"`
	Error  *eventError `json:"error,omitempty"`
}

type eventError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorEvent(err error) doneEvent {
	return doneEvent{Done: true, Error: &eventError{Code: errorCode(err), Message: err.Error()}}
}

// mustJSON marshals values whose types cannot fail to marshal.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshalling %T: %v", v, err))
	}
	return string(b)
}

// strictUnmarshal decodes JSON rejecting unknown fields, so a misspelt
// option ("max_token") is an error rather than silently ignored.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
