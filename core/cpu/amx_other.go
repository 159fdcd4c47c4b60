//go:build !linux || !amd64 || purego

package cpu

// enableAMX is false: AMX is used only on linux/amd64.
func enableAMX() bool { return false }
