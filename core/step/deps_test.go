package step_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDevicesDependOnlyOnTheStep checks the layering this package exists
// for: the step contract imports nothing of the engine, and the devices and
// the model see the step, never the scheduler that fills it (natively and
// in the browser build).
func TestDevicesDependOnlyOnTheStep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/nano-vllm-go/nano-vllm-go/"
	for _, tc := range []struct {
		goos, goarch string
		pkgs         []string
	}{
		{"", "", []string{"./core/device", "./core/cpu", "./core/qwen3"}},
		{"js", "wasm", []string{"./core/device", "./core/cpu", "./core/qwen3", "./wasm/webgpu"}},
	} {
		for _, pkg := range tc.pkgs {
			cmd := exec.Command("go", "list", "-deps", pkg)
			cmd.Dir = "../.."
			cmd.Env = os.Environ()
			if tc.goos != "" {
				cmd.Env = append(cmd.Env, "GOOS="+tc.goos, "GOARCH="+tc.goarch)
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			deps := strings.Fields(string(out))
			require.Contains(t, deps, mod+"core/step", "%s (%s)", pkg, tc.goos)
			for _, banned := range []string{"core/scheduler", "core/sequence", "core/block", "core/engine"} {
				require.NotContains(t, deps, mod+banned, "%s (%s) must not depend on %s", pkg, tc.goos, banned)
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, mod) {
			require.Equal(t, mod+"core/step", dep, "core/step is a leaf")
		}
	}
}
