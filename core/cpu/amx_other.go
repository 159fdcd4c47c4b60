//go:build !linux || !amd64 || purego

package cpu

// enableAMX is false: AMX is used only on linux/amd64.
func enableAMX() bool { return false }

// haveAMXInt8 is false: AMX is used only on linux/amd64.
func haveAMXInt8() bool { return false }

// haveAVX512VBMI is false: its only user is the AMX int8 path.
func haveAVX512VBMI() bool { return false }
