//go:build !purego

package cpu

import (
	"syscall"

	"golang.org/x/sys/cpu"
)

// enableAMX asks Linux for permission to use the AMX tile registers (their
// 8 KiB of state is opt-in per process) and reports whether they can be
// used.
func enableAMX() bool {
	if !cpu.X86.HasAMXTile || !cpu.X86.HasAMXBF16 {
		return false
	}
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}

// haveAMXInt8 reports whether the tile units multiply int8 too (TDPBSSD);
// call it after enableAMX.
func haveAMXInt8() bool { return cpu.X86.HasAMXInt8 }

// haveAVX512VBMI reports whether q40int8v's byte permutes (VPERMI2B,
// VPERMB) can run.
func haveAVX512VBMI() bool { return cpu.X86.HasAVX512VBMI && cpu.X86.HasAVX512BW }
