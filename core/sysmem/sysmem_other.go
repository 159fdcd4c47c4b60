//go:build !linux

package sysmem

// available is unknown outside Linux, the browser included.
func available() (uint64, bool) { return 0, false }
