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
	neturl "net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serveUsage is the help for `nanovllm serve`.
const serveUsage = `Usage: nanovllm serve [--addr 127.0.0.1:8080 | --port N] [--root DIR] [--model-dir DIR [--model-name NAME]]
                     [--allowed-host NAME]... [--allow-origin ORIGIN]...
                     [--model DIR|REPO [--api-key KEY] [--served-model-name NAME]]

Serves the browser demo from the repository root: index.html and web/
(with the MIME types browsers insist on, application/wasm for the engine),
nothing else, and never a file or directory whose name starts with '.'.
Build the engine first with 'make wasm' ('make serve' does both).

With --model-dir, a local model directory (config.json, tokenizer.json,
model.safetensors, ...) is also served at /models/NAME/, so the page can load
it without the Hugging Face Hub: enter http://ADDR/models/NAME as the model.
Symbolic links in it are followed only when they stay inside the directory,
the Hugging Face cache folder it is a snapshot of, or --root.

Requests must name the server by an address it listens on, or by
localhost: a page on another site that points its own host name at this
machine (DNS rebinding) gets 421. --allowed-host adds a name. Model files
are readable by pages from other origins only with --allow-origin (an
origin such as https://example.com, or '*'); the demo page itself needs
none. docs/security.md explains these defences.

With --model DIR|REPO (a model directory, or a Hub repo id found in the
Hugging Face cache or downloaded into it), the page loads that model on
opening: its files are served at /model/FILE (with Range and HEAD), their
list with sizes and SHA-256s at /model/ (in the Hub's tree format, so the
page checks every file it caches), and index.html names /model/ in a
<meta name="nanovllm-default-model">. No internet is needed once the model
is local. serve also runs that model on the CPU engine behind OpenAI's
API on the same address: GET /v1/models, POST /v1/completions and
POST /v1/chat/completions (streamed or not), GET /health and Prometheus
GET /metrics. --api-key (default $NANOVLLM_API_KEY) requires
"Authorization: Bearer KEY" on /v1/; --allow-origin also lets pages from
those origins call the API. Without index.html in --root only the API is
served. docs/server.md has the details.

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

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (l *stringsFlag) String() string { return strings.Join(*l, ",") }

func (l *stringsFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, serveUsage)
		fl.PrintDefaults()
	}
	addr := fl.String("addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free one)")
	port := fl.Int("port", -1, "listen on port `N` of --addr's host (default: --addr's port)")
	root := fl.String("root", ".", "repository root `DIR` holding index.html and web/")
	modelDir := fl.String("model-dir", "", "local model `DIR` to serve at /models/NAME/")
	modelName := fl.String("model-name", "local", "`NAME` under /models/ for --model-dir")
	var hosts, origins stringsFlag
	fl.Var(&hosts, "allowed-host", "also answer requests for host `NAME` (repeatable); addresses the server listens on and localhost always work")
	fl.Var(&origins, "allow-origin", "let pages from `ORIGIN` (e.g. https://example.com, or '*') fetch the model files and call the API (repeatable)")
	var api apiFlags
	api.register(fl)
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

	if *port >= 0 {
		if *port > 65535 {
			return fmt.Errorf("--port %d: want 0 to 65535", *port)
		}
		host, _, err := net.SplitHostPort(*addr)
		if err != nil {
			return fmt.Errorf("--addr %q: %w", *addr, err)
		}
		*addr = net.JoinHostPort(host, strconv.Itoa(*port))
	}
	if err := checkDir(*root); err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	_, pageErr := os.Stat(filepath.Join(*root, "index.html"))
	if pageErr != nil && !api.enabled() {
		return fmt.Errorf("--root %s has no index.html (run from the repository root or pass --root): %w", *root, pageErr)
	}
	opts := serveOptions{root: *root, models: map[string]string{}}
	if *modelDir != "" {
		if err := checkDir(*modelDir); err != nil {
			return fmt.Errorf("--model-dir: %w", err)
		}
		if !validModelName(*modelName) {
			return fmt.Errorf("--model-name %q: use letters, digits, '.', '-' and '_' only, not starting with '.'", *modelName)
		}
		opts.models[*modelName] = *modelDir
	}
	for _, h := range hosts {
		if !validHostName(h) {
			return fmt.Errorf("--allowed-host %q: want a host name such as example.lan (no port, scheme or path)", h)
		}
		opts.hosts = append(opts.hosts, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
	for _, o := range origins {
		if o != "*" && !validOrigin(o) {
			return fmt.Errorf("--allow-origin %q: want an origin such as https://example.com (scheme, host and port only), or '*'", o)
		}
		opts.origins = append(opts.origins, strings.TrimSuffix(o, "/"))
	}
	if _, err := os.Stat(filepath.Join(*root, wasmPath)); err != nil && pageErr == nil {
		fmt.Fprintf(stderr, "warning: %s is missing: run 'make wasm' first, or the page cannot start the engine\n", wasmPath)
	}
	served, err := api.start(ctx, stderr)
	if err != nil {
		return err
	}
	defer served.Close()
	if api.enabled() && pageErr == nil {
		// The page loads the same model: its files at /model/. The API
		// resolved it already, so a Hub repo id is in the cache now.
		dir, err := resolveModel(ctx, api.engine.model, nil)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(dir, "random:"):
			fmt.Fprintf(stderr, "note: --model %s has no files, so the page does not load it; only the API serves it\n", dir)
		default:
			opts.model = dir
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		opts.listen = tcp.IP
	}
	h, err := newServeHandlerOpts(opts)
	if err != nil {
		ln.Close()
		return err
	}
	h = served.mount(h, opts)
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "Serving nano-vllm-go on %s (root %s)\n", url, *root)
	for name, dir := range opts.models {
		fmt.Fprintf(stdout, "Model %s is at %smodels/%s (load it by that URL)\n", dir, url, name)
	}
	if opts.model != "" {
		fmt.Fprintf(stdout, "The page loads %s from %s%s on opening\n", opts.model, url, strings.TrimPrefix(servedModelPath, "/"))
	}
	served.describe(stdout, url)
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
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
	if name == "" || strings.HasPrefix(name, ".") {
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

// validHostName accepts a DNS name or an IP address, without a port.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// validOrigin accepts scheme://host[:port], as browsers send in Origin.
func validOrigin(o string) bool {
	u, err := neturl.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// serveOptions configure the handler of `nanovllm serve`.
type serveOptions struct {
	root    string            // holds index.html and web/
	models  map[string]string // name -> model directory, served at /models/name/
	model   string            // the directory served at /model/ and loaded by the page, or ""
	listen  net.IP            // the address listened on; nil or unspecified: any
	hosts   []string          // further host names to answer to (--allowed-host)
	origins []string          // origins that may read model files (--allow-origin)
}

// newServeHandler serves root (index.html and web/) and each models[name]
// directory at /models/name/, answering only to loopback addresses and
// localhost, without cross-origin access: serve's defaults.
func newServeHandler(root string, models map[string]string) http.Handler {
	h, err := newServeHandlerOpts(serveOptions{root: root, models: models, listen: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		})
	}
	return h
}

// newServeHandlerOpts builds serve's handler. Only what the page needs is
// reachable: "/" and "/index.html", files under "/web/", and the model
// directories under "/models/NAME/". No path element may start with '.'
// (.git, .env, ...), there are no directory listings, and symbolic links
// are followed only within the directories serveRoot allows.
func newServeHandlerOpts(o serveOptions) (http.Handler, error) {
	rootFS, err := newConfinedFS(o.root, "")
	if err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	}
	page := fileHandler(rootFS, false)
	mux := http.NewServeMux()
	if o.model != "" {
		files, err := newModelFiles(o.model, o.root)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", o.model, err)
		}
		page = pageWithDefaultModel(rootFS, files.pagePath(), page)
		p := strings.TrimSuffix(servedModelPath, "/")
		mux.Handle(servedModelPath, http.StripPrefix(p, corsHandler(o.origins, files)))
	}
	mux.Handle("/{$}", page)
	mux.Handle("/index.html", page)
	mux.Handle("/web/", page)
	for name, dir := range o.models {
		base, prefix, err := serveRoot(dir, o.root)
		if err != nil {
			return nil, fmt.Errorf("--model-dir %s: %w", dir, err)
		}
		fsys, err := newConfinedFS(base, prefix)
		if err != nil {
			return nil, fmt.Errorf("--model-dir %s: %w", dir, err)
		}
		p := "/models/" + name
		mux.Handle(p+"/", http.StripPrefix(p, corsHandler(o.origins, fileHandler(fsys, false))))
	}
	g := &hostGuard{listen: o.listen, hosts: o.hosts}
	return g.wrap(mux), nil
}

// serveRoot chooses where a model directory's symbolic links may lead: the
// Hugging Face cache folder (models--Org--Name) when dir is one of its
// snapshots, whose files link to ../../blobs; else root when dir is inside
// it (the repository's fixtures share a tokenizer through links); else dir
// itself. It returns that directory and dir's path inside it.
func serveRoot(dir, root string) (base, prefix string, err error) {
	real, err := realDir(dir)
	if err != nil {
		return "", "", err
	}
	snaps := filepath.Dir(real)
	if filepath.Base(snaps) == "snapshots" && strings.HasPrefix(filepath.Base(filepath.Dir(snaps)), "models--") {
		return filepath.Dir(snaps), filepath.Join("snapshots", filepath.Base(real)), nil
	}
	if r, err := realDir(root); err == nil {
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return r, rel, nil
		}
	}
	return real, ".", nil
}

// realDir is dir made absolute, with symbolic links resolved.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// confinedFS serves the files under prefix inside base. Names with an
// element starting with '.' are not there; a file is opened through an
// os.Root at base, which refuses symbolic links that lead outside it, and
// only if its resolved path inside base has no element starting with '.'
// either (a link to .git/config is refused like the name would be).
type confinedFS struct {
	root   *os.Root
	base   string // real path of the root
	prefix string // slash-separated path of the served directory in base
}

func newConfinedFS(base, prefix string) (*confinedFS, error) {
	real, err := realDir(base)
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(real)
	if err != nil {
		return nil, err
	}
	return &confinedFS{root: r, base: real, prefix: filepath.ToSlash(prefix)}, nil
}

// hiddenElement reports whether a slash-separated path has an element
// starting with '.'.
func hiddenElement(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if strings.HasPrefix(e, ".") && e != "." {
			return true
		}
	}
	return false
}

// Open implements fs.FS.
func (c *confinedFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) || hiddenElement(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	full := path.Join(c.prefix, name)
	real, err := filepath.EvalSymlinks(filepath.Join(c.base, filepath.FromSlash(full)))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	rel, err := filepath.Rel(c.base, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || hiddenElement(filepath.ToSlash(rel)) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return c.root.FS().Open(full)
}

// hostGuard answers only requests whose Host names the server: an IP
// address it listens on (any, when it listens on all of them), a loopback
// address, localhost or a *.localhost name, or a name given with
// --allowed-host. Anything else is what a page that rebound its own name
// to this machine's address would send, and gets 421.
type hostGuard struct {
	listen net.IP
	hosts  []string
}

func (g *hostGuard) allowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || g.listen == nil || g.listen.IsUnspecified() || ip.Equal(g.listen)
	}
	for _, h := range g.hosts {
		if h == host {
			return true
		}
	}
	return false
}

func (g *hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allowed(r.Host) {
			http.Error(w, fmt.Sprintf("host %q is not served here: nanovllm serve answers to the addresses it listens on and localhost (pass --allowed-host to add a name)", r.Host),
				http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedOrigin is the Access-Control-Allow-Origin value for a request
// from origin: "*" when any origin is allowed, origin itself when it is
// listed, "" (no CORS headers) otherwise.
func allowedOrigin(origins []string, origin string) string {
	for _, o := range origins {
		if o == "*" {
			return "*"
		}
		if origin != "" && strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}

// corsHandler lets the listed origins ("*": any) read what next serves, and
// answers their preflights. Other cross-origin requests get no CORS
// headers, so the browser keeps the response from the page.
func corsHandler(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		allow := allowedOrigin(origins, r.Header.Get("Origin"))
		if allow != "" {
			w.Header().Set("Access-Control-Allow-Origin", allow)
			w.Header().Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges")
		}
		if r.Method == http.MethodOptions {
			preflight(w, r, allow != "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers an OPTIONS request: the methods the server takes and,
// for an allowed origin asking for GET or HEAD with at most a Range header,
// the CORS permission.
func preflight(w http.ResponseWriter, r *http.Request, allowed bool) {
	w.Header().Set("Allow", "GET, HEAD, OPTIONS")
	method := r.Header.Get("Access-Control-Request-Method")
	if allowed && (method == http.MethodGet || method == http.MethodHead) {
		ok := true
		for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
			if h = strings.TrimSpace(strings.ToLower(h)); h != "" && h != "range" {
				ok = false
			}
		}
		if ok {
			w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD")
			w.Header().Set("Access-Control-Allow-Headers", "Range")
			w.Header().Set("Access-Control-Max-Age", "600")
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// fileHandler serves fsys with pinned content types, no directory listings,
// no names starting with '.', and no caching (a rebuilt nanovllm.wasm must
// be picked up by a reload). crossOrigin lets any origin read the files
// (tests serve fixtures that way); serve itself leaves CORS to corsHandler.
func fileHandler(fsys fs.FS, crossOrigin bool) http.Handler {
	files := http.FileServerFS(noListingFS{fsys})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if hiddenElement(strings.Trim(r.URL.Path, "/")) {
			http.NotFound(w, r)
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
