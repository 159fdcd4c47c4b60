package sysmem

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func available() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	avail, err := parseMeminfo(f)
	if err != nil {
		return 0, false
	}
	if limit, ok := cgroupRemaining(os.ReadFile); ok && limit < avail {
		avail = limit
	}
	return avail, true
}

// parseMeminfo reads MemAvailable (in kB) from /proc/meminfo.
func parseMeminfo(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("sysmem: malformed MemAvailable line %q", sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || kb > 1<<53 {
			return 0, fmt.Errorf("sysmem: malformed MemAvailable line %q", sc.Text())
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("sysmem: %w", err)
	}
	return 0, fmt.Errorf("sysmem: no MemAvailable in /proc/meminfo")
}

// cgroupRemaining returns how much more memory the process's cgroup
// allows: memory.max minus memory.current (cgroup v2), or
// memory.limit_in_bytes minus memory.usage_in_bytes (v1). No limit, or no
// cgroup, is false.
func cgroupRemaining(read func(string) ([]byte, error)) (uint64, bool) {
	for _, p := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, ok := readUint(read, p[0])
		if !ok {
			continue
		}
		used, ok := readUint(read, p[1])
		if !ok {
			continue
		}
		// v1 reports "no limit" as a huge number.
		if limit >= 1<<62 {
			return 0, false
		}
		if used >= limit {
			return 0, true
		}
		return limit - used, true
	}
	return 0, false
}

// readUint reads a file holding one number ("max" is no number).
func readUint(read func(string) ([]byte, error), path string) (uint64, bool) {
	b, err := read(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return n, err == nil
}
