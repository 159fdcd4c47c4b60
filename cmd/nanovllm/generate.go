package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
)

// generateResult is the --json output of generate. Keep the shape stable:
// scripts and tests compare it.
type generateResult struct {
	TokenIDs     []int32 `json:"token_ids"`
	FinishReason string  `json:"finish_reason"`
}

// runGenerate implements "nanovllm generate": greedy decoding of one prompt
// given as token ids, on the CPU device.
func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model directory (config.json + safetensors), or random:qwen3-0.6b")
	promptIDs := fs.String("prompt-ids", "", "comma-separated prompt token ids")
	maxTokens := fs.Int("max-tokens", 64, "maximum number of tokens to generate")
	temperature := fs.Float64("temperature", 0, "sampling temperature (only 0, greedy, for now)")
	ignoreEOS := fs.Bool("ignore-eos", false, "keep generating after an end-of-sequence token")
	asJSON := fs.Bool("json", false, `print {"token_ids": [...], "finish_reason": "..."}`)
	threads := fs.Int("threads", 0, "CPU threads (0: GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *model == "" {
		fmt.Fprintln(stderr, "generate: --model is required")
		return errUsage
	}
	prompt, err := parseIDs(*promptIDs)
	if err != nil {
		return err
	}
	if *maxTokens < 0 {
		return fmt.Errorf("--max-tokens %d is negative", *maxTokens)
	}
	if *temperature != 0 {
		return fmt.Errorf("--temperature %v: only greedy decoding (0) is supported by this command yet", *temperature)
	}
	dev := cpu.New(cpu.Options{Threads: *threads})
	defer dev.Close()
	m, err := qwen3.Load(*model, dev, qwen3.Options{MaxTokens: len(prompt)})
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := greedy(ctx, m, prompt, *maxTokens, *ignoreEOS)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(res)
	}
	strs := make([]string, len(res.TokenIDs))
	for i, id := range res.TokenIDs {
		strs[i] = strconv.Itoa(int(id))
	}
	_, err = fmt.Fprintf(stdout, "%s\n(finish_reason: %s)\n", strings.Join(strs, " "), res.FinishReason)
	return err
}

// parseIDs parses "1,2,3".
func parseIDs(s string) ([]int32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("--prompt-ids is empty: give at least one token id")
	}
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--prompt-ids: %q is not a token id", f)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}

// blockSize is the KV block size of the hand-built batches of generate and
// bench.
const blockSize = 16

// greedy decodes one sequence: a single prefill step, then one decode step
// per token, with a KV cache sized for exactly this sequence.
func greedy(ctx context.Context, m *qwen3.Model, prompt []int32, maxTokens int, ignoreEOS bool) (generateResult, error) {
	cfg := m.Config()
	total := min(len(prompt)+maxTokens, cfg.MaxPositionEmbeddings)
	if len(prompt) > cfg.MaxPositionEmbeddings {
		return generateResult{}, fmt.Errorf("prompt of %d tokens exceeds max_position_embeddings %d", len(prompt), cfg.MaxPositionEmbeddings)
	}
	blocks := (total + blockSize - 1) / blockSize
	if err := m.NewKVCache(blocks, blockSize); err != nil {
		return generateResult{}, err
	}
	table := make([]int32, blocks)
	for i := range table {
		table[i] = int32(i)
	}
	tokens := slices.Clone(prompt)
	res := generateResult{TokenIDs: []int32{}, FinishReason: "length"}
	computed := 0
	for len(res.TokenIDs) < maxTokens {
		if err := ctx.Err(); err != nil {
			return generateResult{}, err
		}
		if len(tokens) > total || len(tokens) > cfg.MaxPositionEmbeddings {
			break
		}
		b := buildBatch([]stepSeq{{tokens: tokens, from: computed, blocks: table}})
		ids, err := m.ForwardArgmax(b)
		if err != nil {
			return generateResult{}, err
		}
		computed = len(tokens)
		res.TokenIDs = append(res.TokenIDs, ids[0])
		tokens = append(tokens, ids[0])
		if !ignoreEOS && slices.Contains(cfg.EOSTokenIDs, int(ids[0])) {
			res.FinishReason = "stop"
			break
		}
	}
	return res, nil
}

// stepSeq is one sequence's share of a hand-built step: it computes tokens
// [from, len(tokens)) with the given block table, and wants the logits of
// its last token.
type stepSeq struct {
	tokens []int32
	from   int
	blocks []int32
}

// buildBatch lays out a scheduler.Batch for seqs, the way the scheduler
// would for sequences whose blocks are already allocated.
func buildBatch(seqs []stepSeq) *scheduler.Batch {
	b := &scheduler.Batch{BlockSize: blockSize, QueryStarts: []int32{0}}
	for _, s := range seqs {
		b.BlockTableStride = max(b.BlockTableStride, len(s.blocks))
	}
	for i, s := range seqs {
		for pos := s.from; pos < len(s.tokens); pos++ {
			b.TokenIDs = append(b.TokenIDs, s.tokens[pos])
			b.Positions = append(b.Positions, int32(pos))
			b.Slots = append(b.Slots, s.blocks[pos/blockSize]*blockSize+int32(pos%blockSize))
		}
		b.QueryStarts = append(b.QueryStarts, int32(len(b.TokenIDs)))
		b.ContextLens = append(b.ContextLens, int32(len(s.tokens)))
		row := slices.Repeat([]int32{-1}, b.BlockTableStride)
		copy(row, s.blocks)
		b.BlockTables = append(b.BlockTables, row...)
		b.LogitsRows = append(b.LogitsRows, int32(len(b.TokenIDs)-1))
		b.LogitsSeqs = append(b.LogitsSeqs, int32(i))
	}
	return b
}
