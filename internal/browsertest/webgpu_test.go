package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// browserEnv must be 1 for the browser tests to run (`make test-browser`,
// part of `make test`, sets it after installing Chromium): they take minutes
// on SwiftShader, so a plain `go test ./...` skips them.
const browserEnv = "NANOVLLM_BROWSER"

// moduleDir is the repository root.
func moduleDir(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// runInBrowser runs the wasm tests of pkg in headless Chromium and fails t
// with the test's output if they fail.
func runInBrowser(t *testing.T, pkg string, args ...string) Result {
	t.Helper()
	if os.Getenv(browserEnv) != "1" {
		t.Skip("the WebGPU browser tests run with NANOVLLM_BROWSER=1 (make test-browser, which installs Chromium)")
	}
	chromium, err := FindChromium()
	require.NoError(t, err, "NANOVLLM_BROWSER=1 needs Chromium: apt-get install chromium, or set NANOVLLM_CHROMIUM")
	timeout := 8 * time.Minute
	if dl, ok := t.Deadline(); ok {
		timeout = time.Until(dl) - 15*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if testing.Short() {
		args = append(args, "-test.short")
	}
	res, err := Run(ctx, Config{
		Package:   pkg,
		ModuleDir: moduleDir(t),
		Args:      append([]string{"-test.v"}, args...),
		Output:    testWriter{t},
		Chromium:  chromium,
	})
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "wasm tests of %s failed in Chromium (output above)", pkg)
	return res
}

// testWriter forwards the browser's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestWebGPUDevice runs the WebGPU device's kernel and model tests, which
// compare it against the CPU device, in headless Chromium on SwiftShader.
// $NANOVLLM_WEBGPU_RUN, if set, is passed as -test.run to pick tests.
func TestWebGPUDevice(t *testing.T) {
	var args []string
	if pat := os.Getenv("NANOVLLM_WEBGPU_RUN"); pat != "" {
		args = append(args, "-test.run="+pat)
	}
	res := runInBrowser(t, "./wasm/webgpu", args...)
	require.Contains(t, res.Output, "PASS")
	if len(args) > 0 {
		return // a chosen subset
	}
	for _, name := range []string{"TestKernels", "TestModelPrefillLogits", "TestModelGreedy", "TestWeightWriter", "TestRecordAllocs", "TestQuantKernels", "TestQuantWeightWriter", "TestQuantModelGGUF", "TestQuantModelKQuants",
		"TestKVCacheBytes", "TestKVAttentionHalf", "TestKVModelGreedyHalf"} {
		require.Contains(t, res.Output, "--- PASS: "+name, "%s must run, not skip, in the browser", name)
	}
}

func TestPageHTML(t *testing.T) {
	page, err := pageHTML([]string{"x.wasm", "-test.v"}, map[string]string{"A": `"quoted"`})
	require.NoError(t, err)
	require.Contains(t, page, `go.argv = ["x.wasm","-test.v"]`)
	require.Contains(t, page, `go.env = {"A":"\"quoted\""}`)
}

// TestWebGPUBenchmarks runs the WebGPU benchmarks in the browser when
// $NANOVLLM_WEBGPU_BENCH holds a -test.bench pattern, e.g.
//
//	NANOVLLM_BROWSER=1 NANOVLLM_WEBGPU_BENCH=. go test -v -run WebGPUBenchmarks ./internal/browsertest/
//
// Extra flags for the wasm binary (e.g. -test.benchtime=3x -layers=28) go in
// $NANOVLLM_WEBGPU_BENCH_ARGS, space separated.
func TestWebGPUBenchmarks(t *testing.T) {
	pattern := os.Getenv("NANOVLLM_WEBGPU_BENCH")
	if pattern == "" {
		t.Skip("set NANOVLLM_WEBGPU_BENCH to a benchmark pattern to run the WebGPU benchmarks in Chromium")
	}
	args := []string{"-test.run=^$", "-test.bench=" + pattern, "-test.benchtime=3x"}
	args = append(args, strings.Fields(os.Getenv("NANOVLLM_WEBGPU_BENCH_ARGS"))...)
	runInBrowser(t, "./wasm/webgpu", args...)
}
