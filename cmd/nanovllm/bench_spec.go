package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

const benchSpecUsage = `Usage: nanovllm bench spec [flags]

Measures speculative decoding the honest way on random weights, where real
acceptance rates mean nothing: an oracle proposer proposes the true greedy
continuation (from a run without speculation), each token corrupted with
probability 1 - --acceptance. Runs without and with speculation alternate
(--rounds each, medians reported), on the same prompts, in the same process;
every speculative output must equal the plain one token for token, or the
benchmark fails. Decode speed is output tokens after the first per second of
decoding (prefill excluded), summed over the --batch requests.

Flags:
`

// specBenchResult is the --json output of bench spec.
type specBenchResult struct {
	Model                string    `json:"model"`
	Device               string    `json:"device"`
	Batch                int       `json:"batch"`
	NumSpeculativeTokens int       `json:"num_speculative_tokens"`
	Acceptance           float64   `json:"acceptance"`
	BaselineTokensPerS   float64   `json:"baseline_tokens_per_s"`
	SpecTokensPerS       float64   `json:"spec_tokens_per_s"`
	Speedup              float64   `json:"speedup"`
	AcceptanceRate       float64   `json:"acceptance_rate"` // accepted / proposed tokens, as vLLM's metric
	MeanAcceptedPerStep  float64   `json:"mean_accepted_per_step"`
	BaselineRounds       []float64 `json:"baseline_rounds_tokens_per_s"`
	SpecRounds           []float64 `json:"spec_rounds_tokens_per_s"`
}

// runBenchSpec implements "nanovllm bench spec".
func runBenchSpec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench spec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchSpecUsage)
		fs.PrintDefaults()
	}
	var ef engineFlags
	ef.register(fs, "random:qwen3-0.6b", 0)
	acceptance := fs.Float64("acceptance", 1, "probability that the oracle proposes the right token")
	batch := fs.Int("batch", 1, "requests decoding together")
	inputLen := fs.Int("input-len", 32, "prompt tokens per request")
	outputLen := fs.Int("output-len", 64, "tokens generated per request")
	rounds := fs.Int("rounds", 3, "alternating rounds without and with speculation")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	if err := parseCommandFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case !(*acceptance >= 0 && *acceptance <= 1):
		return fmt.Errorf("--acceptance %v: want a probability in [0, 1]", *acceptance)
	case *batch < 1 || *batch > 256:
		return fmt.Errorf("--batch %d: want 1 to 256", *batch)
	case *inputLen < 1 || *outputLen < 2:
		return fmt.Errorf("--input-len %d / --output-len %d: want at least 1 and 2", *inputLen, *outputLen)
	case *rounds < 1 || *rounds > 100:
		return fmt.Errorf("--rounds %d: want 1 to 100", *rounds)
	case ef.spec.method != "":
		return fmt.Errorf("--speculative: bench spec uses its own oracle proposer")
	}
	k := ef.spec.numTokens
	if k < 1 || k > engine.MaxSpeculativeTokens {
		return fmt.Errorf("--num-speculative-tokens %d: want 1 to %d", k, engine.MaxSpeculativeTokens)
	}
	lm, err := ef.load(ctx, stderr)
	if err != nil {
		return err
	}
	defer lm.Close()
	vocab := lm.model.Config().VocabSize
	r := rand.New(rand.NewPCG(1, 1))
	reqs := make([]engine.Request, *batch)
	for i := range reqs {
		prompt := make([]int32, *inputLen)
		for j := range prompt {
			prompt[j] = r.Int32N(int32(vocab))
		}
		reqs[i] = engine.Request{PromptIDs: prompt, Params: sampler.Params{MaxTokens: *outputLen, IgnoreEOS: true}}
	}
	cfg := ef.engineConfig(*batch * (*inputLen + *outputLen + k + blockSize))
	cfg.Scheduler.MaxSeqs = max(cfg.Scheduler.MaxSeqs, *batch)
	cfg.Scheduler.MaxBatchedTokens = max(cfg.Scheduler.MaxBatchedTokens, *batch*(*inputLen+k+1))

	// run generates reqs with proposer p (nil: none) and returns the decode
	// throughput, the outputs and the engine's counters.
	run := func(p engine.Proposer) (float64, []engine.Result, engine.Stats, error) {
		c := cfg
		if p != nil {
			c.Speculative = engine.Speculative{Proposer: p, NumTokens: k}
		}
		if err := checkEngineMemory(lm.model, c); err != nil {
			return 0, nil, engine.Stats{}, err
		}
		e, err := engine.NewQwen3(lm.model, nil, c)
		if err != nil {
			return 0, nil, engine.Stats{}, err
		}
		res, err := e.Generate(ctx, reqs)
		if err != nil {
			return 0, nil, engine.Stats{}, err
		}
		var first, last time.Time
		tokens := 0
		for _, r := range res {
			if r.Err != nil {
				return 0, nil, engine.Stats{}, r.Err
			}
			m := r.Metrics
			if first.IsZero() || m.FirstToken.Before(first) {
				first = m.FirstToken
			}
			if m.LastToken.After(last) {
				last = m.LastToken
			}
			tokens += m.GeneratedTokens - 1
		}
		return float64(tokens) / last.Sub(first).Seconds(), res, e.Stats(), nil
	}
	// A warm-up run, which also gives the greedy truth for the oracle.
	_, truthRes, _, err := run(nil)
	if err != nil {
		return err
	}
	truth := map[uint64][]int32{}
	for i, res := range truthRes {
		truth[uint64(i+1)] = append(slices.Clone(reqs[i].PromptIDs), res.TokenIDs...)
	}
	out := specBenchResult{Model: ef.model, Device: lm.dev.Name(), Batch: *batch, NumSpeculativeTokens: k, Acceptance: *acceptance}
	var proposed, accepted, steps int64
	for i := range *rounds {
		base, _, _, err := run(nil)
		if err != nil {
			return err
		}
		// Request ids restart at 1 in every engine, in submission order.
		oracle, err := engine.NewOracle(func(id uint64) []int32 { return truth[id] }, *acceptance, vocab)
		if err != nil {
			return err
		}
		spec, res, st, err := run(oracle)
		if err != nil {
			return err
		}
		for i := range res {
			if !slices.Equal(res[i].TokenIDs, truthRes[i].TokenIDs) {
				return fmt.Errorf("bench spec: request %d's speculative output differs from the plain greedy output", i)
			}
		}
		proposed, accepted, steps = proposed+st.SpecProposed, accepted+st.SpecAccepted, steps+st.SpecSteps
		out.BaselineRounds = append(out.BaselineRounds, round(base, 2))
		out.SpecRounds = append(out.SpecRounds, round(spec, 2))
		if !*asJSON {
			fmt.Fprintf(stderr, "round %d: %.2f tokens/s plain, %.2f with speculation\n", i+1, base, spec)
		}
	}
	out.BaselineTokensPerS = round(percentile(slices.Sorted(slices.Values(out.BaselineRounds)), 50), 2)
	out.SpecTokensPerS = round(percentile(slices.Sorted(slices.Values(out.SpecRounds)), 50), 2)
	out.Speedup = round(out.SpecTokensPerS/out.BaselineTokensPerS, 2)
	if proposed > 0 {
		out.AcceptanceRate = round(float64(accepted)/float64(proposed), 2)
	}
	if steps > 0 {
		out.MeanAcceptedPerStep = round(float64(accepted)/float64(steps), 2)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "speculative decoding: %s on %s, batch %d, K=%d, oracle acceptance %.2f\n", ef.model, out.Device, *batch, k, *acceptance)
	fmt.Fprintf(stdout, "decode: %.2f tokens/s plain, %.2f with speculation (%.2fx); %.0f%% of proposals accepted, %.2f per verification\n",
		out.BaselineTokensPerS, out.SpecTokensPerS, out.Speedup, 100*out.AcceptanceRate, out.MeanAcceptedPerStep)
	return nil
}
