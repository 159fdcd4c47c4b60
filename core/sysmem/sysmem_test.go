package sysmem

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		need, avail uint64
		want        string
	}{
		{need: 1 << 30, avail: 2 << 30},
		{need: 2 << 30, avail: 2 << 30},
		{need: 200000 << 20, avail: 8 << 30, want: "the cache needs 195.3 GiB, but only 8.0 GiB of memory is available"},
		{need: 1 << 62, avail: 100, want: "the cache needs 4.0 EiB, but only 100 B of memory is available"},
	} {
		err := check("the cache", tc.need, tc.avail)
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, ErrInsufficient)
		require.EqualError(t, err, tc.want+": not enough memory")
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 1 << 40: "1.0 TiB", 1<<64 - 1: "16.0 EiB",
	} {
		require.Equal(t, want, Format(n), n)
	}
}
