// Package sysmem tells how much memory the machine can still give this
// process, so that a size taken from a flag or a file (a KV cache, a
// context length, a batch) is refused with an error before it is
// allocated, instead of ending in Go's "fatal error: runtime: out of
// memory", which no recover catches.
//
// On Linux the figure is MemAvailable from /proc/meminfo, lowered to what
// the process's cgroup (a container's memory limit) still allows. Elsewhere,
// the browser (js/wasm) included, it is unknown, and Check lets every size
// through: there the caller must rely on its own bounds (in the browser,
// the device's limits).
package sysmem

import (
	"errors"
	"fmt"
)

// ErrInsufficient is wrapped by Check's error when an allocation would not
// fit the memory available.
var ErrInsufficient = errors.New("not enough memory")

// Available returns the bytes of memory the system can give this process
// now, and false where that is unknown.
func Available() (uint64, bool) { return available() }

// Check returns nil if need bytes fit in the memory available (or if that
// is unknown), and otherwise an error wrapping ErrInsufficient that names
// what needs the memory, how much, and how much there is. what is a phrase
// such as "--kv-cache-mib 200000 (the KV cache)".
func Check(what string, need uint64) error {
	avail, ok := Available()
	if !ok {
		return nil
	}
	return check(what, need, avail)
}

func check(what string, need, avail uint64) error {
	if need <= avail {
		return nil
	}
	return fmt.Errorf("%s needs %s, but only %s of memory is available: %w", what, Format(need), Format(avail), ErrInsufficient)
}

// Format prints a byte count in binary units: "512 B", "1.5 GiB".
func Format(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
