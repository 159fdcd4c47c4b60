package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
)

// specFlags are the speculative decoding flags of generate, chat and
// bench engine (vLLM's names: --speculative is its "method").
type specFlags struct {
	method               string // "", "ngram" or "draft"
	numTokens            int
	lookupMin, lookupMax int
	draftModel           string
}

func (f *specFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.method, "speculative", "", "speculative decoding `METHOD`: ngram (prompt lookup) or draft (a smaller model, --draft-model); off when empty")
	fs.IntVar(&f.numTokens, "num-speculative-tokens", 4, "most tokens proposed per request and step (`K`)")
	fs.IntVar(&f.lookupMin, "prompt-lookup-min", 1, "ngram: shortest suffix looked up, in `tokens`")
	fs.IntVar(&f.lookupMax, "prompt-lookup-max", 4, "ngram: longest suffix looked up, in `tokens`")
	fs.StringVar(&f.draftModel, "draft-model", "", "draft: the smaller model `DIR|REPO` (same vocabulary as --model)")
}

func (f *specFlags) check() error {
	switch f.method {
	case "":
		return nil
	case "ngram":
		if _, err := engine.NewNGram(f.lookupMin, f.lookupMax); err != nil {
			return fmt.Errorf("--prompt-lookup-min %d / --prompt-lookup-max %d: want 1 <= min <= max <= 64", f.lookupMin, f.lookupMax)
		}
		if f.draftModel != "" {
			return fmt.Errorf("--draft-model is for --speculative draft")
		}
	case "draft":
		if f.draftModel == "" {
			return fmt.Errorf("--speculative draft needs --draft-model DIR|REPO")
		}
	default:
		return fmt.Errorf("--speculative %q: want ngram or draft", f.method)
	}
	if f.numTokens < 1 || f.numTokens > engine.MaxSpeculativeTokens {
		return fmt.Errorf("--num-speculative-tokens %d: want 1 to %d", f.numTokens, engine.MaxSpeculativeTokens)
	}
	return nil
}

// loadDraft loads --draft-model on the target's device, checking that the
// two models share a vocabulary (proposals are token ids).
func (f *specFlags) loadDraft(ctx context.Context, l *loadedModel, stderr io.Writer) error {
	if f.method != "draft" {
		return nil
	}
	dir, err := resolveModel(ctx, f.draftModel, stderr)
	if err != nil {
		return fmt.Errorf("--draft-model: %w", err)
	}
	// The draft's cache holds as many tokens as the target's, in its dtype.
	m, err := loadQwen3(dir, l.dev, qwen3.Options{KVCacheDType: l.model.KVCacheDType()})
	if err != nil {
		return fmt.Errorf("--draft-model %s: %w", f.draftModel, err)
	}
	if dv, tv := m.Config().VocabSize, l.model.Config().VocabSize; dv != tv {
		m.Close()
		return fmt.Errorf("--draft-model %s has a vocabulary of %d tokens, --model %s one of %d: a draft must share the target's vocabulary", f.draftModel, dv, l.name, tv)
	}
	l.draft = m
	return nil
}

// speculative is the engine's speculative decoding configuration. The
// draft model's KV cache holds as many tokens as the target's.
func (f *specFlags) speculative(l *loadedModel, cfg engine.Config) (engine.Speculative, error) {
	var p engine.Proposer
	switch f.method {
	case "":
		return engine.Speculative{}, nil
	case "ngram":
		g, err := engine.NewNGram(f.lookupMin, f.lookupMax)
		if err != nil {
			return engine.Speculative{}, err
		}
		p = g
	case "draft":
		blocks, err := cfg.Cache.Blocks(l.model.KVBytesPerToken())
		if err != nil {
			return engine.Speculative{}, fmt.Errorf("sizing the KV cache: %w", err)
		}
		d, err := engine.NewDraft(engine.Qwen3Model(l.draft), blocks, cfg.Cache.BlockSize, l.draft.Config().MaxPositionEmbeddings)
		if err != nil {
			return engine.Speculative{}, err
		}
		p = d
	}
	return engine.Speculative{Proposer: p, NumTokens: f.numTokens}, nil
}
