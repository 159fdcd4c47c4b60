// Package engine is the LLM engine: it ties the scheduler, the paged KV
// cache, the model, the sampler and the tokenizer into the loop that turns
// prompts into text, many requests at once.
//
// Every Step runs one iteration of continuous batching, in five phases
// (step.go, one function each):
//
//  1. reap: requests whose context was cancelled are aborted, freeing their
//     KV blocks at once;
//  2. schedule: the scheduler plans the step: one token for each decoding
//     request plus prompt chunks of prefilling and newly admitted ones;
//  3. forward: the model runs the step and returns one row of logits for
//     every request that needs a next token;
//  4. sample: the sampler picks each request's token with that request's
//     own parameters and random source;
//  5. commit: the scheduler records the step, and the engine applies the
//     stop conditions (stop tokens, stop strings, length), detokenizes the
//     new tokens and reports an Output per request.
//
// Requests join and leave at every step: a short request does not wait for
// the longest one in its batch, which is the whole point of continuous
// batching.
//
// # Concurrency
//
// AddRequest, Abort and Stats may be called from any goroutine at any time.
// Step, Generate and Stream drive the engine; they too may be called from
// several goroutines, which then take turns running steps (every step
// advances every request, whoever drives it). A common arrangement is one
// goroutine per HTTP request calling Stream, or one loop calling Step with
// requests added from elsewhere.
package engine

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// Errors callers tell apart. Several are the scheduler's and block
// manager's own, re-exported so callers need import only this package.
var (
	// ErrInvalidConfig reports an unusable Config; the message names the
	// field.
	ErrInvalidConfig = errors.New("invalid engine config")
	// ErrInvalidRequest reports a request that can never run as given: no
	// prompt, token ids outside the vocabulary, stop strings without a
	// tokenizer. Bad sampling parameters wrap sampler.ErrInvalidParams.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrPromptTooLong reports a prompt longer than the model's maximum
	// length (Config.Scheduler.MaxModelLen).
	ErrPromptTooLong = scheduler.ErrPromptTooLong
	// ErrOutOfBlocks reports a request that needs more KV cache than the
	// whole pool holds.
	ErrOutOfBlocks = block.ErrOutOfBlocks
	// ErrAborted is the Err of a request ended by Abort.
	ErrAborted = scheduler.ErrAborted
	// ErrUnknownRequest reports an id that is not running: never added, or
	// already finished.
	ErrUnknownRequest = scheduler.ErrUnknownRequest
)

// Model is the network the engine runs. *qwen3.Model satisfies it through
// Qwen3Model.
type Model interface {
	// Forward runs step s and returns len(s.LogitsRows) rows of VocabSize
	// logits, row k for token s.LogitsRows[k], having written every
	// token's keys and values to the KV cache at s.Slots.
	Forward(s *step.Step) ([]float32, error)
	// VocabSize is the number of logits per row.
	VocabSize() int
	// NewKVCache allocates the paged KV cache that batches index.
	NewKVCache(numBlocks, blockSize int) error
	// KVBytesPerToken is the cache memory one token takes, for sizing the
	// cache from a memory budget.
	KVBytesPerToken() int64
}

// ArgmaxModel is a Model that can also return only the most likely token of
// each row (lowest id on a tie). The engine uses it for steps in which every
// request decodes greedily with no penalties or logprobs, saving the copy of
// a full row of logits per request.
type ArgmaxModel interface {
	Model
	ForwardArgmax(s *step.Step) ([]int32, error)
}

// Tokenizer turns text into token ids and back. *tokenizer.Tokenizer
// satisfies it through Qwen3Tokenizer.
type Tokenizer interface {
	Encode(text string) []int32
	// NewTextDecoder returns a streaming decoder for one request's output.
	NewTextDecoder() TextDecoder
}

// TextDecoder turns one request's output tokens into text as they arrive.
// Push returns only complete UTF-8 characters, holding back a character
// whose bytes span several tokens; Flush returns what is held at the end.
// Special tokens are left out.
type TextDecoder interface {
	Push(id int32) string
	Flush() string
}

// Config configures an Engine.
type Config struct {
	// Cache sizes the paged KV cache: BlockSize, and NumBlocks or a
	// MemoryBudget, and whether prefix caching is on.
	Cache block.Config
	// Scheduler limits each step and sets the maximum sequence length.
	Scheduler scheduler.Config
	// EOSTokenIDs end generation unless a request sets IgnoreEOS; usually
	// the eos_token_id list of the model's generation_config.json.
	EOSTokenIDs []int32
	// Seeds seeds the random source of every request that does not set
	// Params.Seed. Nil means a source seeded from crypto/rand. Tests inject
	// a fixed one.
	Seeds rand.Source
	// Clock returns the current time for metrics. Nil means time.Now.
	Clock func() time.Time
	// Speculative turns on speculative decoding (off when its Proposer is
	// nil).
	Speculative Speculative
}

// DefaultConfig returns the cache and scheduler defaults: 16-token blocks,
// a 1 GiB KV budget, prefix caching, 256 sequences and 2048 tokens per
// step, and a 4096-token maximum length.
func DefaultConfig() Config {
	return Config{Cache: block.DefaultConfig(), Scheduler: scheduler.DefaultConfig()}
}

// Validate reports the first field that makes c unusable.
func (c Config) Validate() error {
	if err := c.Cache.Validate(); err != nil {
		return fmt.Errorf("engine: Config.Cache: %w: %w", ErrInvalidConfig, err)
	}
	if err := c.Scheduler.Validate(); err != nil {
		return fmt.Errorf("engine: Config.Scheduler: %w: %w", ErrInvalidConfig, err)
	}
	if err := c.Speculative.validate(); err != nil {
		return err
	}
	for i, id := range c.EOSTokenIDs {
		if id < 0 {
			return fmt.Errorf("engine: Config.EOSTokenIDs[%d] = %d, want >= 0: %w", i, id, ErrInvalidConfig)
		}
	}
	return nil
}

// Engine runs generation requests with continuous batching. See the package
// documentation for the loop and the concurrency rules.
type Engine struct {
	model     Model
	argmax    ArgmaxModel // nil when model has no ForwardArgmax
	tok       Tokenizer   // nil: token ids in and out only
	cfg       Config
	vocab     int
	numBlocks int

	// stepMu makes Steps take turns; it is held for a whole step.
	stepMu   sync.Mutex
	samplers []*sampler.Sampler // one per sampling goroutine
	sampled  []int32
	works    []seqWork
	// Speculative decoding's per-step buffers and counters.
	proposals []Proposal
	specStats specStats

	// mu guards everything below. Step holds it except while the model
	// runs, so AddRequest and Abort wait at most for the scheduler and
	// sampler's part of a step.
	mu      sync.Mutex
	sched   *scheduler.Scheduler
	reqs    map[uint64]*live
	nextID  uint64
	seeds   rand.Source
	pending []routed // finished outside Step (Abort), reported by the next Step
	// released are finished requests the proposer has yet to forget.
	released []uint64
}

// specStats are the engine's speculative decoding counters.
type specStats struct {
	steps, proposed, accepted, errors int64
}

// New builds an engine over model, allocating its KV cache. tok may be nil,
// in which case requests must give PromptIDs, cannot use stop strings, and
// their outputs carry no text.
func New(model Model, tok Tokenizer, cfg Config) (*Engine, error) {
	if model == nil {
		return nil, fmt.Errorf("engine: nil model: %w", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	vocab := model.VocabSize()
	if vocab <= 0 {
		return nil, fmt.Errorf("engine: model has vocabulary size %d: %w", vocab, ErrInvalidConfig)
	}
	for i, id := range cfg.EOSTokenIDs {
		if int(id) >= vocab {
			return nil, fmt.Errorf("engine: Config.EOSTokenIDs[%d] = %d is outside the vocabulary of %d: %w", i, id, vocab, ErrInvalidConfig)
		}
	}
	numBlocks, err := cfg.Cache.Blocks(model.KVBytesPerToken())
	if err != nil {
		return nil, fmt.Errorf("engine: sizing the KV cache: %w", err)
	}
	mgr, err := block.NewManager(numBlocks, cfg.Cache.BlockSize, cfg.Cache.PrefixCaching)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	sched, err := scheduler.New(cfg.Scheduler, mgr)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := model.NewKVCache(numBlocks, cfg.Cache.BlockSize); err != nil {
		return nil, fmt.Errorf("engine: allocating a KV cache of %d blocks: %w", numBlocks, err)
	}
	seeds := cfg.Seeds
	if seeds == nil {
		var key [32]byte
		if _, err := crand.Read(key[:]); err != nil {
			return nil, fmt.Errorf("engine: seeding: %w", err)
		}
		seeds = rand.NewChaCha8(key)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.EOSTokenIDs = slices.Clone(cfg.EOSTokenIDs)
	e := &Engine{
		model:     model,
		tok:       tok,
		cfg:       cfg,
		vocab:     vocab,
		numBlocks: numBlocks,
		sched:     sched,
		reqs:      map[uint64]*live{},
		seeds:     seeds,
	}
	e.argmax, _ = model.(ArgmaxModel)
	return e, nil
}

// Config returns the engine's configuration, with the defaults New filled in.
func (e *Engine) Config() Config {
	c := e.cfg
	c.EOSTokenIDs = slices.Clone(c.EOSTokenIDs)
	return c
}

// NumBlocks is the size of the KV cache pool in blocks.
func (e *Engine) NumBlocks() int { return e.numBlocks }

// AddRequest validates req and queues it. It returns the request's id, or an
// error that says what is wrong with it: ErrInvalidRequest,
// sampler.ErrInvalidParams, ErrPromptTooLong or ErrOutOfBlocks. A rejected
// request changes nothing. ctx governs the request's whole life: once it is
// done, the next step aborts the request and frees its KV blocks.
func (e *Engine) AddRequest(ctx context.Context, req Request) (uint64, error) {
	id, _, err := e.add(ctx, req)
	return id, err
}

// add is AddRequest, also returning the prompt's token ids.
func (e *Engine) add(ctx context.Context, req Request) (uint64, []int32, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	p := req.Params.Clone()
	if err := p.Validate(); err != nil {
		return 0, nil, fmt.Errorf("engine: %w", err)
	}
	for i, id := range p.StopTokenIDs {
		if int(id) >= e.vocab {
			return 0, nil, fmt.Errorf("engine: %w: stop_token_ids[%d] = %d is outside the vocabulary of %d", ErrInvalidRequest, i, id, e.vocab)
		}
	}
	if len(p.Stop) > 0 && e.tok == nil {
		return 0, nil, fmt.Errorf("engine: %w: stop strings need a tokenizer", ErrInvalidRequest)
	}
	prompt := req.PromptIDs
	if len(prompt) == 0 {
		if req.Prompt == "" {
			return 0, nil, fmt.Errorf("engine: %w: empty prompt", ErrInvalidRequest)
		}
		if e.tok == nil {
			return 0, nil, fmt.Errorf("engine: %w: a text prompt needs a tokenizer; give PromptIDs", ErrInvalidRequest)
		}
		if len(req.Prompt) > tokenizer.MaxEncodeBytes {
			return 0, nil, fmt.Errorf("engine: %w: a prompt of %d bytes, more than tokenizer.MaxEncodeBytes (%d)", ErrInvalidRequest, len(req.Prompt), tokenizer.MaxEncodeBytes)
		}
		prompt = e.tok.Encode(req.Prompt)
		if len(prompt) == 0 {
			return 0, nil, fmt.Errorf("engine: %w: the prompt encodes to no tokens", ErrInvalidRequest)
		}
	}
	for i, id := range prompt {
		if id < 0 || int(id) >= e.vocab {
			return 0, nil, fmt.Errorf("engine: %w: prompt token %d at position %d is outside the vocabulary of %d", ErrInvalidRequest, id, i, e.vocab)
		}
	}

	r := &live{
		ctx:    ctx,
		params: p,
		sink:   req.OnOutput,
		noSpec: req.NoSpeculation,
	}
	if !p.IgnoreEOS {
		r.stopIDs = append(r.stopIDs, e.cfg.EOSTokenIDs...)
	}
	r.stopIDs = append(r.stopIDs, p.StopTokenIDs...)
	if e.tok != nil {
		r.decoder = e.tok.NewTextDecoder()
		r.stop = sampler.NewStopMatcher(p.Stop)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	r.id = e.nextID
	now := e.cfg.Clock()
	r.seq = sequence.New(r.id, prompt)
	r.seq.Priority = req.Priority
	r.seq.Arrival = now
	if err := e.sched.Add(r.seq); err != nil {
		e.nextID--
		return 0, nil, fmt.Errorf("engine: %w", err)
	}
	if !p.Greedy() {
		seed := e.seeds.Uint64()
		if p.Seed != nil {
			seed = *p.Seed
		}
		r.rng = sampler.NewRNG(seed)
	}
	r.metrics = Metrics{Arrival: now, PromptTokens: len(prompt)}
	e.reqs[r.id] = r
	return r.id, slices.Clone(prompt), nil
}

// Abort ends the request id at once and frees its KV blocks; the next Step
// reports it finished with FinishReason Aborted and ErrAborted. It returns
// ErrUnknownRequest if id is not running.
func (e *Engine) Abort(id uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.abortLocked(id, ErrAborted)
}

func (e *Engine) abortLocked(id uint64, cause error) error {
	r, ok := e.reqs[id]
	if !ok {
		return fmt.Errorf("engine: abort %d: %w", id, ErrUnknownRequest)
	}
	if err := e.sched.Abort(id); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	r.err = fmt.Errorf("request %d: %w", id, cause)
	e.pending = append(e.pending, e.finishLocked(r, sequence.Aborted, nil))
	return nil
}

// Stats are the engine's counters at one moment.
type Stats struct {
	// Waiting and Running count requests queued and admitted.
	Waiting, Running int
	// Preemptions counts every time a request lost its KV cache.
	Preemptions int64
	// Blocks are the KV cache's counters.
	Blocks block.Stats
	// Speculative decoding: sequence-steps that verified proposals, the
	// tokens proposed and accepted in them (accepted / steps is the mean
	// number of extra tokens per verification), and failed Propose calls.
	SpecSteps, SpecProposed, SpecAccepted, SpecErrors int64
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sched.Stats()
	return Stats{Waiting: s.Waiting, Running: s.Running, Preemptions: s.Preemptions, Blocks: e.sched.Blocks().Stats(),
		SpecSteps: e.specStats.steps, SpecProposed: e.specStats.proposed, SpecAccepted: e.specStats.accepted, SpecErrors: e.specStats.errors}
}

// HasUnfinished reports whether any request is waiting or running, or has
// finished with an Output that no Step has reported yet.
func (e *Engine) HasUnfinished() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.reqs) > 0 || len(e.pending) > 0
}

// Step runs one iteration of the engine loop (see the package
// documentation) and returns an Output for every request that generated a
// token or finished. It returns no outputs when there is nothing to do.
//
// A failure of the model fails the requests of that step (FinishReason
// Error) and is returned; the engine stays usable, and the other requests
// carry on with the next Step. ctx only bounds this call: a done ctx makes
// Step return ctx.Err() before starting.
func (e *Engine) Step(ctx context.Context) ([]Output, error) {
	e.stepMu.Lock()
	defer e.stepMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	outs, err := e.step()
	for _, o := range outs {
		if r := o.sink; r != nil {
			r(o.Output)
		}
	}
	res := make([]Output, len(outs))
	for i, o := range outs {
		res[i] = o.Output
	}
	return res, err
}

// routed is an Output with the callback it goes to.
type routed struct {
	Output
	sink func(Output)
}
