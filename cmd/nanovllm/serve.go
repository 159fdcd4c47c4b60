package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// serveUsage is the help for `nanovllm serve`.
const serveUsage = `Usage: nanovllm serve [--addr 127.0.0.1:8080] [--root DIR] [--model-dir DIR [--model-name NAME]]

Serves the browser demo (index.html, web/) from the repository root, with
the MIME types browsers insist on (application/wasm for the engine).
Build the engine first with 'make wasm' ('make serve' does both).

With --model-dir, a local model directory (config.json, tokenizer.json,
model.safetensors, ...) is also served at /models/NAME/, so the page can load
it without the Hugging Face Hub: enter http://ADDR/models/NAME as the model.

Flags:
`

// wasmPath is where `make wasm` writes the engine, relative to the root.
const wasmPath = "web/nanovllm.wasm"

// contentTypes pins the MIME types the page depends on instead of trusting
// the system's mime.types: WebAssembly.instantiateStreaming refuses anything
// but application/wasm, and module scripts must be served as JavaScript.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".wasm":        "application/wasm",
	".safetensors": "application/octet-stream",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".md":          "text/markdown; charset=utf-8",
	".txt":         "text/plain; charset=utf-8",
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, serveUsage)
		fl.PrintDefaults()
	}
	addr := fl.String("addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free one)")
	root := fl.String("root", ".", "repository root `DIR` holding index.html and web/")
	modelDir := fl.String("model-dir", "", "local model `DIR` to serve at /models/NAME/")
	modelName := fl.String("model-name", "local", "`NAME` under /models/ for --model-dir")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected argument %q\n", fl.Arg(0))
		fl.Usage()
		return errUsage
	}

	if err := checkDir(*root); err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(*root, "index.html")); err != nil {
		return fmt.Errorf("--root %s has no index.html (run from the repository root or pass --root): %w", *root, err)
	}
	models := map[string]string{}
	if *modelDir != "" {
		if err := checkDir(*modelDir); err != nil {
			return fmt.Errorf("--model-dir: %w", err)
		}
		if !validModelName(*modelName) {
			return fmt.Errorf("--model-name %q: use letters, digits, '.', '-' and '_' only", *modelName)
		}
		models[*modelName] = *modelDir
	}
	if _, err := os.Stat(filepath.Join(*root, wasmPath)); err != nil {
		fmt.Fprintf(stderr, "warning: %s is missing: run 'make wasm' first, or the page cannot start the engine\n", wasmPath)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "Serving nano-vllm-go on %s (root %s)\n", url, *root)
	for name, dir := range models {
		fmt.Fprintf(stdout, "Model %s is at %smodels/%s (load it by that URL)\n", dir, url, name)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	srv := &http.Server{
		Handler:           newServeHandler(*root, models),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutting down: %w", err)
		}
		return nil
	}
}

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

func validModelName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}

// newServeHandler serves root at / and each models[name] directory at
// /models/name/. Paths are resolved through fs.FS, which rejects ".."
// elements, so no request can reach outside those directories; symbolic
// links inside them are followed (the test fixtures link the shared
// tokenizer), so only serve directories whose links you trust.
// Directory listings are off: a directory answers only with its index.html.
func newServeHandler(root string, models map[string]string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", fileHandler(os.DirFS(root), false))
	for name, dir := range models {
		prefix := "/models/" + name
		h := http.StripPrefix(prefix, fileHandler(os.DirFS(dir), true))
		mux.Handle(prefix+"/", h)
	}
	return mux
}

// fileHandler serves fsys with pinned content types, no directory listings
// and no caching (a rebuilt nanovllm.wasm must be picked up by a reload).
// Model files may be fetched cross-origin so that a page served elsewhere can
// load a model from this server.
func fileHandler(fsys fs.FS, crossOrigin bool) http.Handler {
	files := http.FileServerFS(noListingFS{fsys})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if ct, ok := contentTypes[strings.ToLower(path.Ext(r.URL.Path))]; ok {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if crossOrigin {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		files.ServeHTTP(w, r)
	})
}

// noListingFS hides directory contents, so http.FileServer answers a
// directory without index.html with 404 instead of listing it.
type noListingFS struct{ fs.FS }

func (n noListingFS) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		if _, err := fs.Stat(n.FS, path.Join(name, "index.html")); err != nil {
			f.Close()
			return nil, fs.ErrNotExist
		}
	}
	return f, nil
}
