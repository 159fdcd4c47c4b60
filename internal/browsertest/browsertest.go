// Package browsertest runs a Go test binary compiled to WebAssembly inside
// headless Chromium, with WebGPU on SwiftShader (Chromium's CPU Vulkan), and
// reports its output and exit status. It is how `make test` checks the
// WebGPU device against the CPU device in a real browser.
//
// Run builds `GOOS=js GOARCH=wasm go test -c` of a package, serves the binary,
// Go's wasm_exec.js, a small page and the repository's testdata/ folder from
// 127.0.0.1 (a secure context, which WebGPU requires), opens the page with
// chromedp and streams the test's console output until it exits.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoBrowser means no Chromium or Chrome executable was found.
var ErrNoBrowser = errors.New("browsertest: Chromium not found (apt-get install chromium, or set NANOVLLM_CHROMIUM)")

// Flags are the Chromium switches that give headless WebGPU on SwiftShader.
var Flags = map[string]any{
	"headless":                      "new",
	"no-sandbox":                    true,
	"enable-unsafe-webgpu":          true,
	"enable-features":               "Vulkan",
	"use-vulkan":                    "swiftshader",
	"use-webgpu-adapter":            "swiftshader",
	"disable-background-networking": true,
	"disable-component-update":      true,
	"no-first-run":                  true,
}

// FindChromium returns the browser executable: $NANOVLLM_CHROMIUM, or the
// first of chromium, chromium-browser, google-chrome(-stable) on $PATH.
func FindChromium() (string, error) {
	if p := os.Getenv("NANOVLLM_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Config says what to run.
type Config struct {
	// Package is the import path or ./relative directory of the package
	// whose tests to build, resolved from ModuleDir.
	Package string
	// ModuleDir is the module root; testdata/ under it is served at
	// /testdata/ and its URL is passed to the test as $NANOVLLM_TESTDATA_URL.
	ModuleDir string
	// Args are the test binary's flags, e.g. "-test.v", "-test.run=X".
	Args []string
	// Env is extra environment for the test binary.
	Env map[string]string
	// Output receives the test's output, line by line.
	Output io.Writer
	// Chromium is the browser executable; empty means FindChromium.
	Chromium string
}

// Result is the outcome of a run.
type Result struct {
	ExitCode int
	Output   string
}

// Run builds, serves and runs the test binary, waiting until it exits or
// ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Chromium == "" {
		p, err := FindChromium()
		if err != nil {
			return Result{}, err
		}
		cfg.Chromium = p
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	tmp, err := os.MkdirTemp("", "browsertest")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)

	wasm := filepath.Join(tmp, "test.wasm")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", wasm, cfg.Package)
	build.Dir = cfg.ModuleDir
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		return Result{}, fmt.Errorf("browsertest: building %s for wasm: %w\n%s", cfg.Package, err, out)
	}
	goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return Result{}, fmt.Errorf("browsertest: go env GOROOT: %w", err)
	}
	wasmExec := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	base := "http://" + ln.Addr().String()
	env := map[string]string{"NANOVLLM_TESTDATA_URL": base + "/testdata"}
	for k, v := range cfg.Env {
		env[k] = v
	}
	page, err := pageHTML(append([]string{"test.wasm"}, cfg.Args...), env)
	if err != nil {
		return Result{}, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, wasmExec) })
	mux.HandleFunc("/test.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})
	mux.Handle("/testdata/", http.StripPrefix("/testdata/", http.FileServer(http.Dir(filepath.Join(cfg.ModuleDir, "testdata")))))
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	profile := filepath.Join(tmp, "profile")
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(cfg.Chromium), chromedp.UserDataDir(profile)}
	for k, v := range Flags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		return Result{}, fmt.Errorf("browsertest: opening the page: %w", err)
	}

	var all strings.Builder
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return Result{ExitCode: -1, Output: all.String()}, fmt.Errorf("browsertest: %w", ctx.Err())
		case <-tick.C:
		}
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__poll()`))
		if err != nil {
			return Result{ExitCode: -1, Output: all.String()}, fmt.Errorf("browsertest: polling the page: %w", err)
		}
		var st struct {
			Lines []string `json:"lines"`
			Exit  *int     `json:"exit"`
		}
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return Result{ExitCode: -1, Output: all.String()}, fmt.Errorf("browsertest: %w", err)
		}
		for _, l := range st.Lines {
			fmt.Fprintln(cfg.Output, l)
			all.WriteString(l)
			all.WriteByte('\n')
		}
		if st.Exit != nil {
			return Result{ExitCode: *st.Exit, Output: all.String()}, nil
		}
	}
}

// pageHTML is the page that runs the test binary: it captures what Go writes
// to stdout and stderr (wasm_exec.js routes both through fs.writeSync) and
// the exit code, for the driver to poll.
func pageHTML(argv []string, env map[string]string) (string, error) {
	a, err := json.Marshal(argv)
	if err != nil {
		return "", err
	}
	e, err := json.Marshal(env)
	if err != nil {
		return "", err
	}
	return `<!doctype html><meta charset="utf-8"><title>go test (wasm)</title>
<script src="/wasm_exec.js"></script>
<script>
const lines = [];
let exit = null;
let pending = "";
const decoder = new TextDecoder();
globalThis.fs.writeSync = function (fd, buf) {
  pending += decoder.decode(buf);
  const nl = pending.lastIndexOf("\n");
  if (nl >= 0) {
    lines.push(...pending.slice(0, nl).split("\n"));
    pending = pending.slice(nl + 1);
  }
  return buf.length;
};
window.__poll = () => JSON.stringify({ lines: lines.splice(0), exit: exit === null ? null : exit });
window.addEventListener("unhandledrejection", (e) => lines.push("unhandled rejection: " + (e.reason && e.reason.stack || e.reason)));
const go = new Go();
go.argv = ` + string(a) + `;
go.env = ` + string(e) + `;
go.exit = (code) => {
  if (pending !== "") { lines.push(pending); pending = ""; }
  exit = code;
};
WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((err) => { lines.push("browsertest: " + (err && err.stack || err)); exit = 2; });
</script>`, nil
}
