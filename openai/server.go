// Package openai serves an OpenAI-compatible HTTP API over the engine:
// GET /v1/models, POST /v1/completions and POST /v1/chat/completions, each
// answered at once or streamed as server-sent events in OpenAI's format,
// plus GET /health and Prometheus GET /metrics.
//
// A Server drives its engine itself: while any request is in flight, one
// goroutine runs engine steps back to back, and every step hands each
// request its new tokens through a bounded per-request queue that the
// request's handler drains and writes to its client. So a slow client
// never delays a step: its queue fills, and a stream that falls
// Options.StreamBuffer outputs behind is aborted. A client that disconnects
// has its requests aborted at once, which frees their KV blocks.
//
// Requests for n choices run as n engine requests with the same prompt;
// the first one is started alone, and the others once it has been
// prefilled, so that they find its prompt in the prefix cache.
package openai

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// Defaults of the Options fields left zero.
const (
	DefaultMaxBodyBytes = 4 << 20
	DefaultStreamBuffer = 1024
	DefaultWriteTimeout = 30 * time.Second
	DefaultMaxSequences = 64
)

// Options configure a Server.
type Options struct {
	// ModelName is the model's id in /v1/models and in responses. Requests
	// must name it, or leave "model" empty.
	ModelName string
	// Defaults are the sampling parameters for the fields a request leaves
	// out: usually the model's generation_config.json (engine.DefaultParams),
	// as vLLM does. Its stop conditions, lengths and logprobs are ignored.
	Defaults sampler.Params
	// APIKey, when not empty, must be sent as "Authorization: Bearer KEY"
	// with every /v1/ request. /health and /metrics stay open.
	APIKey string
	// MaxBodyBytes limits a request body (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// StreamBuffer is how many outputs of one streamed sequence may wait
	// for a client that is not reading before the sequence is aborted (0:
	// DefaultStreamBuffer). A response that is not streamed is written
	// once, at the end, and collects every output.
	StreamBuffer int
	// WriteTimeout bounds every write to a client (0: DefaultWriteTimeout).
	WriteTimeout time.Duration
	// MaxSequences bounds the engine requests one API request may start: n,
	// times the number of prompts for completions (0: DefaultMaxSequences).
	MaxSequences int
	// RawThinking leaves Qwen3's <think>...</think> block in the content of
	// chat replies instead of returning it as reasoning_content.
	RawThinking bool
	// Logger receives model failures; nil discards them.
	Logger *slog.Logger
}

// Server is the API as an http.Handler. Create it with New.
type Server struct {
	eng         *engine.Engine
	tok         *tokenizer.Tokenizer // nil: token ids only
	opts        Options
	mux         *http.ServeMux
	texts       tokenTexts
	metrics     *metrics
	keyHash     *[sha256.Size]byte // nil: no API key
	maxModelLen int
	created     int64
	reasoning   bool // split <think> blocks off chat replies

	// driving is set while a goroutine runs engine steps; stopped is
	// signalled when it clears; closed stops new drivers after Close.
	driveMu sync.Mutex
	driving bool
	closed  bool
	stopped *sync.Cond

	// base is cancelled by Close, ending every request in flight.
	base   context.Context
	cancel context.CancelFunc
}

// New returns a Server for e, whose tokenizer tok is (nil for a model
// without one: then only completions with token-id prompts work).
func New(e *engine.Engine, tok *tokenizer.Tokenizer, opts Options) (*Server, error) {
	switch {
	case e == nil:
		return nil, fmt.Errorf("openai: nil engine: %w", ErrInvalidOptions)
	case opts.ModelName == "":
		return nil, fmt.Errorf("openai: Options.ModelName is empty: %w", ErrInvalidOptions)
	case opts.MaxBodyBytes < 0, opts.StreamBuffer < 0, opts.WriteTimeout < 0, opts.MaxSequences < 0:
		return nil, fmt.Errorf("openai: negative limit in Options: %w", ErrInvalidOptions)
	}
	if err := opts.Defaults.Validate(); err != nil {
		return nil, fmt.Errorf("openai: Options.Defaults: %w: %w", ErrInvalidOptions, err)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.StreamBuffer == 0 {
		opts.StreamBuffer = DefaultStreamBuffer
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxSequences == 0 {
		opts.MaxSequences = DefaultMaxSequences
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := e.Config()
	s := &Server{
		eng:     e,
		tok:     tok,
		opts:    opts,
		texts:   newTokenTexts(tok),
		metrics: newMetrics(time.Now),
		// A sequence can never outgrow the KV pool, whatever the
		// scheduler's limit, so the context is the smaller of the two.
		maxModelLen: min(cfg.Scheduler.MaxModelLen, e.NumBlocks()*cfg.Cache.BlockSize),
		created:     time.Now().Unix(),
	}
	if tok != nil && !opts.RawThinking {
		_, okStart := tok.TokenToID(thinkStart)
		_, okEnd := tok.TokenToID(thinkEnd)
		s.reasoning = okStart && okEnd
	}
	if opts.APIKey != "" {
		h := sha256.Sum256([]byte(opts.APIKey))
		s.keyHash = &h
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.stopped = sync.NewCond(&s.driveMu)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", s.api(s.handleModels))
	mux.Handle("GET /v1/models/{model...}", s.api(s.handleModel))
	mux.Handle("POST /v1/completions", s.api(s.handleCompletions))
	mux.Handle("POST /v1/chat/completions", s.api(s.handleChat))
	mux.Handle("/v1/", s.api(func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, typ: typeNotFound,
			message: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)}
	}))
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.mux = mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close ends every request in flight (their KV blocks are freed at once),
// answers later ones with 503, and returns once no engine step is running,
// so the caller may then release the model. It does not close the engine.
func (s *Server) Close() {
	s.cancel()
	s.driveMu.Lock()
	defer s.driveMu.Unlock()
	s.closed = true
	for s.driving {
		s.stopped.Wait()
	}
}

// api wraps an endpoint of /v1/: the API key, the body limit, shutdown, and
// errors answered as OpenAI error objects.
func (s *Server) api(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			writeError(w, &apiError{status: http.StatusUnauthorized, typ: typeInvalidRequest, code: "invalid_api_key",
				message: "missing or incorrect API key: send it as 'Authorization: Bearer KEY'"})
			return
		}
		if s.base.Err() != nil {
			writeError(w, &apiError{status: http.StatusServiceUnavailable, typ: typeUnavailable, message: "the server is shutting down"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

// handleHealth answers load balancers: 200 while the server takes requests.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if s.base.Err() != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) card() modelCard {
	return modelCard{ID: s.opts.ModelName, Object: "model", Created: s.created, OwnedBy: "nanovllm", MaxModelLen: s.maxModelLen}
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: []modelCard{s.card()}})
	return nil
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkModel(r.PathValue("model")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.card())
	return nil
}

// checkModel accepts the served model's name, or none.
func (s *Server) checkModel(name string) error {
	if name == "" || name == s.opts.ModelName {
		return nil
	}
	return &apiError{status: http.StatusNotFound, typ: typeNotFound, param: "model", code: "model_not_found",
		message: fmt.Sprintf("the model %q does not exist; this server serves %q", name, s.opts.ModelName)}
}

// kick makes sure a goroutine is running engine steps. It is called after
// every AddRequest; the driver stops when the engine has nothing left.
func (s *Server) kick() {
	s.driveMu.Lock()
	defer s.driveMu.Unlock()
	if s.driving || s.closed {
		return
	}
	s.driving = true
	go s.drive()
}

// drive runs engine steps while any request is unfinished. Checking for
// work and clearing driving happen under driveMu, so a request added at
// any moment is either seen here or finds driving clear and starts a new
// driver.
func (s *Server) drive() {
	var backoff time.Duration
	for {
		s.driveMu.Lock()
		if !s.eng.HasUnfinished() {
			s.driving = false
			s.stopped.Broadcast()
			s.driveMu.Unlock()
			return
		}
		s.driveMu.Unlock()
		if _, err := s.eng.Step(context.Background()); err != nil {
			// The step's requests have failed with the error and the
			// others go on; a model that keeps failing is not retried in
			// a tight loop.
			s.opts.Logger.Error("engine step failed", "err", err)
			backoff = min(max(2*backoff, time.Millisecond), 100*time.Millisecond)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
	}
}
