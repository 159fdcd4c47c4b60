package hub

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1_500_000: "1.5 MB", 1_200_000_000: "1.2 GB"} {
		require.Equal(t, want, humanBytes(n))
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	p := NewProgressBar(&out)
	now := time.Unix(0, 0)
	p.now = func() time.Time { return now }
	const total = 10_000_000

	p.Update("small.json", 10, 10) // under MinSize: never drawn
	p.Update("model.safetensors", 0, total)
	now = now.Add(50 * time.Millisecond)
	p.Update("model.safetensors", 1_000_000, total) // within Interval: skipped
	now = now.Add(950 * time.Millisecond)
	p.Update("model.safetensors", 5_000_000, total) // 5 MB in 1 s
	now = now.Add(time.Second)
	p.Update("model.safetensors", total, total) // complete: always drawn, ends the line
	p.Update("model.safetensors", total, total) // repeated completion: nothing more

	lines := strings.Split(out.String(), "\r")[1:]
	require.Equal(t, []string{
		"model.safetensors [>                   ]   0%  0 B / 10.0 MB",
		"model.safetensors [==========>         ]  50%  5.0 MB / 10.0 MB  5.0 MB/s",
		"model.safetensors [====================] 100%  10.0 MB / 10.0 MB  5.0 MB/s\n",
	}, lines)
}

func TestProgressBarUnknownSizeAndResume(t *testing.T) {
	var out bytes.Buffer
	p := NewProgressBar(&out)
	now := time.Unix(0, 0)
	p.now = func() time.Time { return now }
	p.Update("stream", 0, -1)
	now = now.Add(2 * time.Second)
	p.Update("stream", 4_000_000, -1)
	require.Equal(t, "\rstream 0 B\rstream 4.0 MB  2.0 MB/s", out.String())

	// A resumed download's speed counts only the bytes of this session.
	out.Reset()
	p.Update("big", 8_000_000, 10_000_000)
	now = now.Add(time.Second)
	p.Update("big", 10_000_000, 10_000_000)
	require.Contains(t, out.String(), "100%  10.0 MB / 10.0 MB  2.0 MB/s\n")
}
