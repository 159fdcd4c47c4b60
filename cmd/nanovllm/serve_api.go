package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/openai"
)

// apiKeyEnv is the environment variable --api-key defaults to.
const apiKeyEnv = "NANOVLLM_API_KEY"

// apiFlags are serve's flags for the OpenAI-compatible API.
type apiFlags struct {
	engine          engineFlags
	apiKey          string
	servedModelName string
	reasoningParser string
}

// register adds the API's flags to fl: the engine's (--model and the
// cache and scheduler sizes) and the API's own.
func (f *apiFlags) register(fl *flag.FlagSet) {
	f.engine.register(fl, "", engine.DefaultConfig().Cache.MemoryBudget>>20)
	fl.StringVar(&f.apiKey, "api-key", "", "require \"Authorization: Bearer `KEY`\" on /v1/ (default $"+apiKeyEnv+")")
	fl.StringVar(&f.servedModelName, "served-model-name", "", "the model's `NAME` in the API (default: the --model argument)")
	fl.StringVar(&f.reasoningParser, "reasoning-parser", "qwen3", "`PARSER` for chat replies: qwen3 returns <think>...</think> as reasoning_content, none leaves it in content")
}

// enabled reports whether the API was asked for.
func (f *apiFlags) enabled() bool { return f.engine.model != "" }

// servedAPI is a loaded model served through the API.
type servedAPI struct {
	lm  *loadedModel
	srv *openai.Server
	key bool
}

// start loads the model and builds the API server, or returns nil when no
// --model was given. ctx ends the API: every request in flight is aborted
// when it is done, so that the HTTP server can shut down at once.
func (f *apiFlags) start(ctx context.Context, stderr io.Writer) (*servedAPI, error) {
	if !f.enabled() {
		switch {
		case f.apiKey != "":
			return nil, errors.New("--api-key needs --model (the model the API serves)")
		case f.servedModelName != "":
			return nil, errors.New("--served-model-name needs --model (the model the API serves)")
		}
		return nil, nil
	}
	raw := false
	switch f.reasoningParser {
	case "qwen3":
	case "none":
		raw = true
	default:
		return nil, fmt.Errorf("--reasoning-parser %q: want qwen3 or none", f.reasoningParser)
	}
	key := f.apiKey
	if key == "" {
		key = os.Getenv(apiKeyEnv)
	}
	if strings.TrimSpace(key) != key {
		return nil, errors.New("--api-key: the key starts or ends with white space, which an Authorization header cannot carry")
	}
	name := f.servedModelName
	if name == "" {
		name = f.engine.model
	}
	lm, err := f.engine.load(ctx, stderr)
	if err != nil {
		return nil, err
	}
	e, err := lm.newEngine(f.engine.engineConfig(0))
	if err != nil {
		lm.Close()
		return nil, err
	}
	srv, err := openai.New(e, lm.tok, openai.Options{
		ModelName:   name,
		Defaults:    engine.Qwen3DefaultParams(lm.model),
		APIKey:      key,
		RawThinking: raw,
		Logger:      slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		lm.Close()
		return nil, err
	}
	context.AfterFunc(ctx, srv.Close)
	return &servedAPI{lm: lm, srv: srv, key: key != ""}, nil
}

// Close ends the API's requests and releases the model. It is a no-op on
// nil.
func (a *servedAPI) Close() {
	if a == nil {
		return
	}
	a.srv.Close()
	a.lm.Close()
}

// mount returns site with the API beside it: /v1/, /health and /metrics,
// behind the same Host check as the page (against DNS rebinding), and
// readable by the pages of --allow-origin origins. With a nil a it returns
// site.
func (a *servedAPI) mount(site http.Handler, o serveOptions) http.Handler {
	if a == nil {
		return site
	}
	g := &hostGuard{listen: o.listen, hosts: o.hosts}
	api := g.wrap(apiCORS(o.origins, a.srv))
	mux := http.NewServeMux()
	mux.Handle("/", site)
	mux.Handle("/v1/", api)
	mux.Handle("/health", api)
	mux.Handle("/metrics", api)
	return mux
}

// describe prints where the API is.
func (a *servedAPI) describe(w io.Writer, url string) {
	if a == nil {
		return
	}
	key := "no API key"
	if a.key {
		key = "API key required"
	}
	fmt.Fprintf(w, "OpenAI-compatible API for %s at %sv1 (%s); metrics at %smetrics\n", a.lm.name, url, key, url)
	if a.lm.tok == nil {
		fmt.Fprintf(w, "%s has no tokenizer: only /v1/completions with token-id prompts works\n", a.lm.name)
	}
}

// apiCORS lets pages from the listed origins ("*": any) call the API, as a
// browser chat client does: their preflights for any method and headers of
// the API (Authorization, Content-Type, the SDKs' own) are granted. Other
// origins get no CORS headers, so browsers keep the answers from them.
func apiCORS(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		allow := allowedOrigin(origins, r.Header.Get("Origin"))
		if allow != "" {
			w.Header().Set("Access-Control-Allow-Origin", allow)
		}
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		if allow != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
				w.Header().Set("Access-Control-Allow-Headers", h)
			}
			w.Header().Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
