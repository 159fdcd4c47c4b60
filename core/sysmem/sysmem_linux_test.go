package sysmem

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMeminfo(t *testing.T) {
	got, err := parseMeminfo(strings.NewReader("MemTotal:       16384000 kB\nMemFree:  100 kB\nMemAvailable:    8192000 kB\n"))
	require.NoError(t, err)
	require.Equal(t, uint64(8192000)<<10, got)
	for _, bad := range []string{"MemTotal: 1 kB\n", "MemAvailable: 12\n", "MemAvailable: x kB\n", "MemAvailable: 99999999999999999999 kB\n"} {
		_, err := parseMeminfo(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
}

func TestCgroupRemaining(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if s, ok := m[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	n, ok := cgroupRemaining(files(map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n", "/sys/fs/cgroup/memory.current": "73741824\n"}))
	require.True(t, ok)
	require.Equal(t, uint64(1000000000), n)
	_, ok = cgroupRemaining(files(map[string]string{"/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "5\n"}))
	require.False(t, ok, "no limit")
	n, ok = cgroupRemaining(files(map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2000", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "3000"}))
	require.True(t, ok)
	require.Zero(t, n, "over the limit")
	_, ok = cgroupRemaining(files(map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "3000"}))
	require.False(t, ok, "v1 without a limit")
	_, ok = cgroupRemaining(func(string) ([]byte, error) { return nil, errors.New("no cgroup") })
	require.False(t, ok)
}

func TestAvailableOnLinux(t *testing.T) {
	n, ok := Available()
	require.True(t, ok, "/proc/meminfo is readable on Linux")
	require.Positive(t, n)
	require.ErrorIs(t, Check("everything", 1<<63), ErrInsufficient)
	require.NoError(t, Check("a page", 4096))
}
