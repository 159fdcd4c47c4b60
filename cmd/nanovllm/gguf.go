package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/hub"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// localModel resolves a --model argument that exists on disk: a .gguf
// file; a directory with a safetensors checkpoint (config.json and
// model.safetensors or its index); or a directory holding exactly one
// .gguf file. ok is false when nothing of that name exists.
func localModel(model string) (path string, ok bool, err error) {
	st, err := os.Stat(model)
	if err != nil {
		if hub.IsGGUF(model) && !strings.Contains(model, ":") { // Org/Name:FILE.gguf is a Hub file
			return "", true, fmt.Errorf("--model %s: %w", model, err)
		}
		return "", false, nil
	}
	if !st.IsDir() {
		if hub.IsGGUF(model) {
			return model, true, nil
		}
		return "", true, fmt.Errorf("--model %s is a file; want a model directory, a .gguf file or a Hub repo id", model)
	}
	if exists(filepath.Join(model, "config.json")) &&
		(exists(filepath.Join(model, "model.safetensors")) || exists(filepath.Join(model, "model.safetensors.index.json"))) {
		return model, true, nil
	}
	entries, err := os.ReadDir(model)
	if err != nil {
		return "", true, fmt.Errorf("--model %s: %w", model, err)
	}
	var ggufs []string
	for _, e := range entries {
		if !e.IsDir() && hub.IsGGUF(e.Name()) {
			ggufs = append(ggufs, e.Name())
		}
	}
	sort.Strings(ggufs)
	switch len(ggufs) {
	case 0:
		return model, true, nil // qwen3.Load names what is missing
	case 1:
		return filepath.Join(model, ggufs[0]), true, nil
	}
	return "", true, fmt.Errorf("--model %s has no safetensors checkpoint and %d .gguf files (%s): name one, e.g. --model %s",
		model, len(ggufs), strings.Join(ggufs, ", "), filepath.Join(model, ggufs[0]))
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// isGGUFPath reports whether a resolved model path is a GGUF file.
func isGGUFPath(p string) bool {
	if !hub.IsGGUF(p) {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// loadQwen3 loads a resolved model path: a GGUF file, or what qwen3.Load
// takes (a checkpoint directory, a random: preset).
func loadQwen3(path string, dev device.Device, opts qwen3.Options) (*qwen3.Model, error) {
	if isGGUFPath(path) {
		return qwen3.LoadGGUF(path, dev, opts)
	}
	return qwen3.Load(path, dev, opts)
}

// ggufTokenizer is the tokenizer of a GGUF model: tokenizer.json beside
// the file when there is one, else the one the file's metadata describes.
// A file without a tokenizer gives nil and no error.
func ggufTokenizer(path string) (*tokenizer.Tokenizer, error) {
	if dir := filepath.Dir(path); exists(filepath.Join(dir, tokenizer.TokenizerFile)) {
		return tokenizer.Load(dir)
	}
	tok, err := tokenizer.LoadGGUF(path)
	if errors.Is(err, tokenizer.ErrNoVocabulary) {
		return nil, nil
	}
	return tok, err
}

// weightType names the type of a model's 2-D weights as they will be on
// the device: q when --quantize is given (quantized files keep their own
// types), else the checkpoint's ("bf16", "q8_0", "q4_K+q6_K" for a mixed
// file). It reads only the headers.
func weightType(path string, q device.DType) string {
	var types []device.DType
	switch {
	case strings.HasPrefix(path, qwen3.RandomPrefix):
		types = []device.DType{device.BF16}
	case isGGUFPath(path):
		f, err := gguf.Open(path)
		if err != nil {
			return "unknown"
		}
		defer f.Close()
		for _, t := range f.Tensors() {
			if dt, ok := t.Type.DType(); ok && len(t.Dims) == 2 {
				types = append(types, dt)
			}
		}
	default:
		ck, err := safetensors.OpenDir(path)
		if err != nil {
			return "unknown"
		}
		defer ck.Close()
		for _, n := range ck.Names() {
			t, err := ck.Tensor(n)
			if err != nil || len(t.Shape) != 2 {
				continue
			}
			switch t.DType {
			case safetensors.BF16:
				types = append(types, device.BF16)
			case safetensors.F16:
				types = append(types, device.F16)
			case safetensors.F32:
				types = append(types, device.F32)
			}
		}
	}
	seen := map[string]bool{}
	var names []string
	for _, t := range types {
		if q != device.F32 && !t.Quantized() {
			t = q
		}
		if !seen[t.String()] {
			seen[t.String()] = true
			names = append(names, t.String())
		}
	}
	if len(names) == 0 {
		return "unknown"
	}
	sort.Strings(names)
	return strings.Join(names, "+")
}

// loadGGUFTokenizer is ggufTokenizer for the tokenize and detokenize
// commands, which need one.
func loadGGUFTokenizer(path, flagName string) (*tokenizer.Tokenizer, error) {
	tok, err := ggufTokenizer(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	if tok == nil {
		return nil, fmt.Errorf("%s %s has no tokenizer (tokenizer.ggml.model is \"none\") and no %s beside it: %w",
			flagName, path, tokenizer.TokenizerFile, tokenizer.ErrNoVocabulary)
	}
	return tok, nil
}
