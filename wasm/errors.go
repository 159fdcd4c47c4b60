package main

import (
	"errors"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// The codes of NanoVLLMError (web/nanovllm.js), the errors JavaScript sees.
// Go sets some of them (errorCode), web/nanovllm.js the others.
const (
	codeNoWebGPU    = "no-webgpu"
	codeNotFound    = "not-found"
	codeNetwork     = "network"
	codeBadModel    = "bad-model"
	codeOutOfMemory = "out-of-memory"
	codeBadRequest  = "bad-request"
	codeAborted     = "aborted"
	codeCrashed     = "crashed"
	codeInternal    = "internal"
	codeQuota       = "quota"
	codeGPULost     = "gpu-lost"
)

// errorCodes is the one list of error codes and what they mean. web/errors.js
// is generated from it (JavaScript's errorCodes), and the table in
// docs/browser.md must say the same; TestErrorCodes checks both and rewrites
// web/errors.js when run with -update.
var errorCodes = []struct{ Code, Meaning string }{
	{codeNoWebGPU, "`device: 'webgpu'` but the browser has no WebGPU or no adapter: offer the CPU"},
	{codeNotFound, "a model file does not exist (HTTP 404), or needs credentials (401/403)"},
	{codeNetwork, "the download failed (offline, or a cross-origin server without CORS)"},
	{codeBadModel, "the files are there but wrong: not Qwen3, a malformed safetensors or GGUF header, a GGUF tensor type the device cannot take, a truncated download"},
	{codeOutOfMemory, "a tensor or the KV cache exceeds the GPU's limits; on the CPU device, weights plus KV cache above 2.25 GiB (refused before allocating: running out of wasm memory would crash the instance); or the instance did run out of memory (detected from Go's `fatal error: out of memory`)"},
	{codeBadRequest, "a request the engine cannot take (both `prompt` and `prompt_ids`, a token outside the vocabulary, `temperature: -1`, ...)"},
	{codeAborted, "the request was aborted (its signal, a `break` out of a stream, `close()`)"},
	{codeCrashed, "the Go program died; the message carries the end of its output"},
	{codeQuota, "the browser's storage quota cannot hold the model's files: the message says how many bytes are needed and how many are free (delete cached models, or load with `cache: false`)"},
	{codeGPULost, "the GPU device was lost (driver reset, another tab took the GPU, the device was destroyed): requests in flight fail, `engine.onlost` fires; call `createEngine` again"},
	{codeInternal, "anything else: a bug in nano-vllm-go; the message says what failed"},
}

// errBadRequest marks a request the JavaScript caller got wrong.
var errBadRequest = errors.New("bad request")

// codedError carries an explicit code for errors no sentinel describes.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// withCode attaches a code to err.
func withCode(code string, err error) error { return &codedError{code: code, err: err} }

// errorCode classifies err for JavaScript, so the page can tell a typo in a
// model name from a broken checkpoint from a bug.
func errorCode(err error) string {
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, errBadRequest), errors.Is(err, sampler.ErrInvalidParams),
		errors.Is(err, scheduler.ErrPromptTooLong), errors.Is(err, scheduler.ErrEmptyPrompt),
		errors.Is(err, qwen3.ErrBadInput), errors.Is(err, tokenizer.ErrNoChatTemplate),
		errors.Is(err, tokenizer.ErrConversation), errors.Is(err, tokenizer.ErrTooLong):
		return codeBadRequest
	case errors.Is(err, scheduler.ErrAborted):
		return codeAborted
	case errors.Is(err, block.ErrOutOfBlocks):
		return codeOutOfMemory
	case errors.Is(err, safetensors.ErrInvalid), errors.Is(err, safetensors.ErrTensorNotFound),
		errors.Is(err, safetensors.ErrUnsupported), errors.Is(err, qwen3.ErrInvalidConfig),
		errors.Is(err, qwen3.ErrUnsupported), errors.Is(err, tokenizer.ErrMalformed),
		errors.Is(err, tokenizer.ErrUnsupported), errors.Is(err, tokenizer.ErrTemplateLimit),
		errors.Is(err, gguf.ErrInvalid), errors.Is(err, gguf.ErrUnsupported), errors.Is(err, gguf.ErrNotFound):
		return codeBadModel
	}
	return codeInternal
}
