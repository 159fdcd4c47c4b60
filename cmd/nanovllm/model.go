package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/hub"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// modelHelp is the --model flag's help, the same for every command.
const modelHelp = "model: a local `DIR` (config.json + safetensors, or one .gguf file), a FILE.gguf, a Hugging Face repo id Org/Name[@revision] (downloaded once into the Hugging Face cache; Org/Name:Q8_0 or Org/Name:FILE.gguf picks one file of a GGUF repo), or random:qwen3-0.6b"

// errNoTokenizer reports a model directory without tokenizer.json (the
// qwen3-tiny fixtures, random: presets) used where text is needed.
var errNoTokenizer = errors.New("the model has no tokenizer")

// resolveModel turns a --model argument into something loadQwen3 accepts:
// a random: preset as is; a local .gguf file, or a directory (a safetensors
// checkpoint, or its only .gguf file; see localModel); and otherwise a Hub
// repo id, downloaded (or found) in the Hugging Face cache with progress
// bars on progress: "Org/Name:QUANT" or "Org/Name:FILE.gguf" fetches one
// file of a GGUF repository, and a repo without config.json falls back to
// its only GGUF file. The Hub client is configured from the environment
// like huggingface_hub: HF_ENDPOINT, HF_TOKEN, HF_HOME / HF_HUB_CACHE and
// HF_HUB_OFFLINE.
func resolveModel(ctx context.Context, model string, progress io.Writer) (string, error) {
	if model == "" {
		return "", errors.New("--model is required: " + strings.ReplaceAll(modelHelp, "`", ""))
	}
	if strings.HasPrefix(model, qwen3.RandomPrefix) {
		return model, nil
	}
	if p, ok, err := localModel(model); ok {
		return p, err
	}
	c := hub.NewClientFromEnv()
	if progress != nil {
		c.Progress = hub.NewProgressBar(progress).Update
	}
	var dir string
	var err error
	if _, _, sel := hub.ParseModelRef(model); sel != "" {
		dir, err = hub.ResolveGGUF(ctx, c, model)
	} else {
		dir, err = hub.ResolveModel(ctx, c, model)
		if errors.Is(err, hub.ErrEntryNotFound) || errors.Is(err, hub.ErrNotCached) {
			// No config.json or safetensors (on the Hub, or in the cache
			// offline): a GGUF repository?
			p, gerr := hub.ResolveGGUF(ctx, c, model)
			switch {
			case gerr == nil:
				dir, err = p, nil
			case !errors.Is(gerr, hub.ErrNoGGUF) && !errors.Is(gerr, hub.ErrNotCached):
				err = gerr
			}
		}
	}
	if err != nil {
		hint := hubHint(c, err)
		if hint != "" {
			// A mistyped local path with one slash looks like a repo id.
			hint += "\n  (" + model + " is not a local directory, so it was looked up as a Hub repo id)"
		}
		return "", fmt.Errorf("--model %s: %w%s", model, err, hint)
	}
	return dir, nil
}

// hubHint says what a person can do about a failed Hub resolution.
func hubHint(c *hub.Client, err error) string {
	switch {
	case errors.Is(err, hub.ErrNotCached) && c.Offline:
		return fmt.Sprintf("\n  HF_HUB_OFFLINE is set, so only the cache %s is used; unset it to download, "+
			"or point HF_HUB_CACHE/HF_HOME at a cache that has the model", c.CacheDir)
	case errors.Is(err, hub.ErrNotCached):
		return fmt.Sprintf("\n  the Hub at %s could not be reached and the model is not in the cache %s; "+
			"check the network, set HF_ENDPOINT to a reachable mirror, point HF_HUB_CACHE/HF_HOME at a cache "+
			"that has the model, or pass a local model directory (HF_HUB_OFFLINE=1 skips the network)",
			c.Endpoint, c.CacheDir)
	case errors.Is(err, hub.ErrNotFound) && !errors.Is(err, hub.ErrEntryNotFound):
		return fmt.Sprintf("\n  check the repo id and revision on %s (or give a local directory)", c.Endpoint)
	}
	return ""
}

// loadModelTokenizer loads the tokenizer for a model: from tokDir if given
// (a directory, or a repo id whose tokenizer files are fetched), else from
// the resolved model directory, or for a GGUF file from tokenizer.json
// beside it or else the file's own tokenizer metadata. A model without a
// tokenizer gives a nil tokenizer and no error: such models still run on
// token ids.
func loadModelTokenizer(ctx context.Context, model, dir, tokDir string) (*tokenizer.Tokenizer, error) {
	if tokDir != "" {
		d, err := resolveTokenizer(ctx, tokDir)
		if err != nil {
			return nil, fmt.Errorf("--tokenizer: %w", err)
		}
		return loadTokenizerDir(d, "--tokenizer")
	}
	if strings.HasPrefix(model, qwen3.RandomPrefix) {
		return nil, nil
	}
	if isGGUFPath(dir) {
		tok, err := ggufTokenizer(dir)
		if err != nil {
			return nil, fmt.Errorf("--model %s: loading its tokenizer: %w", model, err)
		}
		return tok, nil
	}
	tok, err := tokenizer.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--model %s: loading its tokenizer: %w", model, err)
	}
	return tok, nil
}

// noTokenizerError explains how to get text in or out of a model without a
// tokenizer; what names the thing that needs one, and alt is another way
// out, if any (" or ...").
func noTokenizerError(model, what, alt string) error {
	why := "has no " + tokenizer.TokenizerFile
	if strings.HasPrefix(model, qwen3.RandomPrefix) {
		why = "has random weights and no tokenizer"
	}
	return fmt.Errorf("%s needs a tokenizer, and %s %s: pass --tokenizer DIR|REPO%s (%w)", what, model, why, alt, errNoTokenizer)
}

// precisionHelp documents --precision.
const precisionHelp = "`MODE` of the activations of batched matmuls on the CPU's AMX tile units: float32 (three bf16 parts, float32-accurate; two, 16 bits, on dequantized weights, which are rounded to bf16) or bf16 (rounded, as PyTorch's bf16 inference: about 3x the matmul speed)"

// engineFlags are the flags of the commands that run the engine: where the
// model comes from, the CPU threads, and how the KV cache and the scheduler
// are sized.
type engineFlags struct {
	model, tokenizer string
	threads          int
	precision        cpu.Precision
	kvCacheMiB       int64
	kvDType          kvCacheDType
	quantize         weightQuant
	maxModelLen      int
	maxNumSeqs       int
	maxBatchedTokens int
	noPrefixCaching  bool
	spec             specFlags
}

// register adds the flags to fs. kvDefault is the --kv-cache-mib default;
// 0 lets the command size the cache itself and says so in the help.
func (f *engineFlags) register(fs *flag.FlagSet, modelDefault string, kvDefault int64) {
	fs.StringVar(&f.model, "model", modelDefault, modelHelp)
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer `DIR` or repo id, if not the model's (random: models have none)")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads (0: GOMAXPROCS)")
	fs.TextVar(&f.precision, "precision", cpu.PrecisionFloat32, precisionHelp)
	kvHelp := "memory for the paged KV cache, in `MiB`"
	if kvDefault == 0 {
		kvHelp += " (0: just enough for the request)"
	}
	fs.Int64Var(&f.kvCacheMiB, "kv-cache-mib", kvDefault, kvHelp)
	fs.TextVar(&f.kvDType, "kv-cache-dtype", kvCacheDType(0), kvDTypeHelp)
	fs.TextVar(&f.quantize, "quantize", weightQuant(0), quantizeHelp)
	sc := scheduler.DefaultConfig()
	fs.IntVar(&f.maxModelLen, "max-model-len", sc.MaxModelLen, "most tokens (prompt + output) per sequence; capped at the model's max_position_embeddings")
	fs.IntVar(&f.maxNumSeqs, "max-num-seqs", sc.MaxSeqs, "most sequences running at once")
	fs.IntVar(&f.maxBatchedTokens, "max-num-batched-tokens", sc.MaxBatchedTokens, "most tokens computed in one step (longer prompts are prefilled in chunks)")
	fs.BoolVar(&f.noPrefixCaching, "no-prefix-caching", false, "do not share the KV blocks of common prompt prefixes")
	f.spec.register(fs)
}

// Limits of the sizes a person passes in flags. Each is checked before
// anything is allocated; the memory a size stands for is also checked
// against what the machine has (checkKVCacheMiB, checkEngineMemory).
const (
	// maxThreads bounds --threads: each thread has its own buffers, and a
	// million threads took 2.8 GB before doing anything.
	maxThreads = 1024
	// maxKVCacheMiB bounds --kv-cache-mib (1 PiB), far from the int64
	// overflow of turning it into bytes.
	maxKVCacheMiB = 1 << 30
	// maxModelLenFlag bounds --max-model-len, as config.json's
	// max_position_embeddings is bounded.
	maxModelLenFlag = qwen3.MaxPositions
	// maxNumSeqsFlag and maxBatchedTokensFlag bound the scheduler's sizes,
	// which size the activation buffers.
	maxNumSeqsFlag       = 1 << 16
	maxBatchedTokensFlag = 1 << 20
)

// checkThreads validates --threads.
func checkThreads(n int) error {
	if n < 0 || n > maxThreads {
		return fmt.Errorf("--threads %d: want 0 (all CPUs) up to %d", n, maxThreads)
	}
	return nil
}

// checkKVCacheMiB validates --kv-cache-mib: in range, and no more than the
// memory the machine has available.
func checkKVCacheMiB(n int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("--kv-cache-mib %d is negative", n)
	case n > maxKVCacheMiB:
		return fmt.Errorf("--kv-cache-mib %d is above the limit of %d MiB", n, maxKVCacheMiB)
	}
	return sysmem.Check(fmt.Sprintf("--kv-cache-mib %d (the KV cache)", n), uint64(n)<<20)
}

// checkModelLen validates --max-model-len.
func checkModelLen(n int) error {
	if n < 1 || n > maxModelLenFlag {
		return fmt.Errorf("--max-model-len %d: want a length from 1 to %d", n, maxModelLenFlag)
	}
	return nil
}

// check validates the values a flag parser cannot.
func (f *engineFlags) check() error {
	if err := checkThreads(f.threads); err != nil {
		return err
	}
	if err := checkKVCacheMiB(f.kvCacheMiB); err != nil {
		return err
	}
	if err := checkModelLen(f.maxModelLen); err != nil {
		return err
	}
	switch {
	case f.maxNumSeqs < 1 || f.maxNumSeqs > maxNumSeqsFlag:
		return fmt.Errorf("--max-num-seqs %d: want a count from 1 to %d", f.maxNumSeqs, maxNumSeqsFlag)
	case f.maxBatchedTokens > maxBatchedTokensFlag:
		return fmt.Errorf("--max-num-batched-tokens %d is above the limit of %d", f.maxBatchedTokens, maxBatchedTokensFlag)
	case f.maxBatchedTokens < f.maxNumSeqs:
		return fmt.Errorf("--max-num-batched-tokens %d is below --max-num-seqs %d (every running sequence must fit one step)",
			f.maxBatchedTokens, f.maxNumSeqs)
	}
	return f.spec.check()
}

// checkEngineMemory estimates what an engine with cfg over m allocates up
// front or on its first steps, the KV cache and the activation buffers,
// and refuses it, naming the flags, when the machine does not have that
// much memory available: that ended in "fatal error: runtime: out of
// memory" before. The activations follow qwen3.Model's buffers: per token
// of a step, the hidden state three times, queries and attention output,
// keys and values, and the MLP's two intermediate rows; per logits row, the
// hidden state and the vocabulary's logits; all float32, with the 25%
// growth margin the model allocates.
func checkEngineMemory(m *qwen3.Model, cfg engine.Config) error {
	c := m.Config()
	perToken := float64(m.KVBytesPerToken())
	bs := float64(cfg.Cache.BlockSize)
	var kv float64
	if cfg.Cache.NumBlocks > 0 {
		kv = float64(cfg.Cache.NumBlocks) * bs * perToken
	} else {
		kv = float64(cfg.Cache.MemoryBudget)
	}
	tokens := float64(cfg.Scheduler.MaxBatchedTokens) * 1.25
	rowFloats := float64(3*c.HiddenSize + 2*c.NumAttentionHeads*c.HeadDim + 2*c.NumKeyValueHeads*c.HeadDim + 2*c.IntermediateSize)
	rows := float64(cfg.Scheduler.MaxSeqs)
	act := 4 * (tokens*rowFloats + rows*float64(c.HiddenSize+c.VocabSize))
	need := kv + act
	if need >= 1<<63 {
		need = 1<<63 - 1
	}
	what := fmt.Sprintf("the KV cache (%s for %d-token blocks of %s each) and the activations (%s for --max-num-batched-tokens %d, --max-num-seqs %d)",
		sysmem.Format(uint64(kv)), cfg.Cache.BlockSize, sysmem.Format(uint64(bs*perToken)), sysmem.Format(uint64(act)),
		cfg.Scheduler.MaxBatchedTokens, cfg.Scheduler.MaxSeqs)
	if err := sysmem.Check(what, uint64(need)); err != nil {
		return fmt.Errorf("%w; lower --kv-cache-mib or --max-model-len", err)
	}
	return nil
}

// loadedModel is a model with its device and tokenizer (nil for a model
// without one).
type loadedModel struct {
	name  string // the --model argument
	path  string // the resolved model: a directory, a .gguf file or a random: preset
	dev   *cpu.Device
	model *qwen3.Model
	tok   *tokenizer.Tokenizer
	draft *qwen3.Model // --speculative draft's model, on the same device
	spec  specFlags
}

// Close releases the models and the device.
func (l *loadedModel) Close() {
	if l.draft != nil {
		l.draft.Close()
	}
	l.model.Close()
	l.dev.Close()
}

// load resolves and loads the model and its tokenizer on a new CPU device.
func (f *engineFlags) load(ctx context.Context, stderr io.Writer) (*loadedModel, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	dir, err := resolveModel(ctx, f.model, stderr)
	if err != nil {
		return nil, err
	}
	tok, err := loadModelTokenizer(ctx, f.model, dir, f.tokenizer)
	if err != nil {
		return nil, err
	}
	dev := cpu.New(cpu.Options{Threads: f.threads, Precision: f.precision})
	m, err := loadQwen3(dir, dev, qwen3.Options{KVCacheDType: f.kvDType.DType(), Quantize: f.quantize.DType()})
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("--model %s: %w", f.model, err)
	}
	lm := &loadedModel{name: f.model, path: dir, dev: dev, model: m, tok: tok, spec: f.spec}
	if err := f.spec.loadDraft(ctx, lm, stderr); err != nil {
		lm.Close()
		return nil, err
	}
	return lm, nil
}

// engineConfig is the engine configuration the flags ask for. With
// --kv-cache-mib 0 the pool holds poolTokens tokens: a command that knows
// what it will run (generate: one request) sizes the cache for exactly that
// rather than reserving a gigabyte.
func (f *engineFlags) engineConfig(poolTokens int) engine.Config {
	cfg := engine.Config{
		Cache: block.Config{BlockSize: blockSize, PrefixCaching: !f.noPrefixCaching},
		Scheduler: scheduler.Config{
			MaxSeqs:          f.maxNumSeqs,
			MaxBatchedTokens: f.maxBatchedTokens,
			MaxModelLen:      f.maxModelLen,
		},
	}
	switch {
	case f.kvCacheMiB > 0:
		cfg.Cache.MemoryBudget = f.kvCacheMiB << 20
	case poolTokens > 0:
		cfg.Cache.NumBlocks = (poolTokens + blockSize - 1) / blockSize
	default:
		cfg.Cache.MemoryBudget = engine.DefaultConfig().Cache.MemoryBudget
	}
	return cfg
}

// newEngine builds the engine over l. NewQwen3 fills in the end-of-sequence
// ids and caps the maximum length at the model's max_position_embeddings.
func (l *loadedModel) newEngine(cfg engine.Config) (*engine.Engine, error) {
	if err := checkEngineMemory(l.model, cfg); err != nil {
		return nil, err
	}
	spec, err := l.spec.speculative(l, cfg)
	if err != nil {
		return nil, err
	}
	cfg.Speculative = spec
	e, err := engine.NewQwen3(l.model, l.tok, cfg)
	if err != nil {
		return nil, fmt.Errorf("building the engine: %w", err)
	}
	return e, nil
}
