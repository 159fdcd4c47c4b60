package cpu

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// threadCPUNanos is the CPU time the calling OS thread has run, from
// /proc/thread-self/schedstat (0 where unavailable). On a shared machine it
// separates what the kernel costs from time spent waiting for a core.
func threadCPUNanos() int64 {
	data, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseInt(f[0], 10, 64)
	return v
}

// BenchmarkLinear measures the bf16 matmul on one thread for decode-like
// (1 row) and prefill-like (many rows) shapes of Qwen3-0.6B. Metrics:
// GFLOP/s of wall time, and GFLOP per second of the thread's own CPU time
// (cpu-GFLOP/s), which is what the kernel achieves when it has the core.
func BenchmarkLinear(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct{ rows, n, k int }{
		{1, 3072, 1024}, {1, 1024, 3072}, {16, 3072, 1024}, {64, 3072, 1024}, {192, 3072, 1024}, {192, 1024, 3072}, {512, 3072, 1024},
	} {
		for _, mode := range []struct {
			name string
			opts Options
			ok   bool
		}{
			{"amx", Options{Threads: 1}, haveAVX512()},
			{"avx512", Options{Threads: 1, NoAMX: true}, haveAVX512()},
			{"avx2", Options{Threads: 1, NoAVX512: true}, haveSIMD()},
			{"go", Options{Threads: 1, PureGo: true}, true},
		} {
			if !mode.ok || (mode.name == "go" && s.rows > 16) {
				continue // the portable kernels take seconds per op at prefill sizes
			}
			name := fmt.Sprintf("rows=%d/n=%d/k=%d/%s", s.rows, s.n, s.k, mode.name)
			b.Run(name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				d := New(mode.opts)
				defer d.Close()
				w, err := d.UploadWeight("w", device.BF16, []int{s.n, s.k}, randBF16(r, s.n*s.k))
				if err != nil {
					b.Fatal(err)
				}
				x := &buffer{data: randFloats(r, s.rows*s.k)}
				out := &buffer{data: make([]float32, s.rows*s.n)}
				if err := begin(d, oneSeqBatch(1)); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				c0 := threadCPUNanos()
				for range b.N {
					d.Linear(out, x, w, s.rows)
				}
				c1 := threadCPUNanos()
				flop := 2 * float64(s.rows*s.n*s.k) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if c1 > c0 {
					b.ReportMetric(flop/float64(c1-c0), "cpu-GFLOP/s")
				}
				b.SetBytes(int64(2 * s.n * s.k))
			})
		}
	}
}

// BenchmarkReadBandwidth measures memory read bandwidth with the device's
// threads (GB/s of wall time).
func BenchmarkReadBandwidth(b *testing.B) {
	d := New(Options{})
	defer d.Close()
	buf := NewBandwidthBuffer(256 << 20)
	b.ResetTimer()
	for range b.N {
		b.ReportMetric(d.ReadBandwidth(buf, 3)/1e9, "GB/s")
	}
}

// processCPUNanos is the CPU time of the whole process (all threads) from
// /proc/self/stat, in 10 ms ticks (0 where unavailable).
func processCPUNanos() int64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return (u + k) * 10e6
}

// BenchmarkAttentionPrefill measures one layer of prefill attention for a
// 512-token prompt with Qwen3-0.6B's heads (16 query heads over 8 KV heads
// of 128 dims). cpu-ms/op is the process CPU time per op, which on a shared
// machine is steadier than the wall time.
func BenchmarkAttentionPrefill(b *testing.B) {
	const n, heads, nkv, hd = 512, 16, 8, 128
	r := rand.New(rand.NewPCG(3, 4))
	d := New(Options{})
	defer d.Close()
	batch := oneSeqBatch(n)
	cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: n / 16, BlockSize: 16, KVHeads: nkv, HeadDim: hd})
	if err != nil {
		b.Fatal(err)
	}
	q := &buffer{data: randFloats(r, n*heads*hd)}
	k := &buffer{data: randFloats(r, n*nkv*hd)}
	v := &buffer{data: randFloats(r, n*nkv*hd)}
	out := &buffer{data: make([]float32, n*heads*hd)}
	if err := d.BeginStep(batch, cache); err != nil {
		b.Fatal(err)
	}
	d.WriteKV(cache, 0, k, v, n)
	b.ResetTimer()
	c0 := processCPUNanos()
	for range b.N {
		d.Attention(out, q, cache, 0, heads, n)
	}
	c1 := processCPUNanos()
	if d.err != nil {
		b.Fatal(d.err)
	}
	b.ReportMetric(float64(c1-c0)/1e6/float64(b.N), "cpu-ms/op")
	// Causal prefill: Σ_t (t+1) scores and weighted values per query head.
	flop := 4 * float64(heads*hd) * float64(n*(n+1)/2) * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkRMSNorm measures the prefill shapes of Qwen3-0.6B's norms: the
// layer norms (512 rows of 1024) and q_norm (512 tokens x 16 heads of 128).
func BenchmarkRMSNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, s := range []struct{ rows, width int }{{512, 1024}, {8192, 128}} {
		b.Run(fmt.Sprintf("%dx%d", s.rows, s.width), func(b *testing.B) {
			d := New(Options{})
			defer d.Close()
			w, err := d.UploadWeight("norm", device.BF16, []int{s.width}, randBF16(r, s.width))
			if err != nil {
				b.Fatal(err)
			}
			x := &buffer{data: randFloats(r, s.rows*s.width)}
			out := &buffer{data: make([]float32, s.rows*s.width)}
			if err := begin(d, oneSeqBatch(1)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			c0 := processCPUNanos()
			for range b.N {
				d.RMSNorm(out, x, w, s.rows, 1e-6)
			}
			b.ReportMetric(float64(processCPUNanos()-c0)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}

// BenchmarkWriteKVAdd measures the two small per-layer passes of a
// 512-token Qwen3-0.6B prefill: writing keys and values to the cache (8 KV
// heads of 128) and the residual Add (1024 wide).
func BenchmarkWriteKVAdd(b *testing.B) {
	const n, nkv, hd, hidden = 512, 8, 128, 1024
	r := rand.New(rand.NewPCG(2, 2))
	d := New(Options{})
	defer d.Close()
	cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: n / 16, BlockSize: 16, KVHeads: nkv, HeadDim: hd})
	if err != nil {
		b.Fatal(err)
	}
	k := &buffer{data: randFloats(r, n*nkv*hd)}
	v := &buffer{data: randFloats(r, n*nkv*hd)}
	h := &buffer{data: randFloats(r, n*hidden)}
	o := &buffer{data: randFloats(r, n*hidden)}
	if err := d.BeginStep(oneSeqBatch(n), cache); err != nil {
		b.Fatal(err)
	}
	b.Run("WriteKV", func(b *testing.B) {
		c0 := processCPUNanos()
		for range b.N {
			d.WriteKV(cache, 0, k, v, n)
		}
		b.ReportMetric(float64(processCPUNanos()-c0)/1e3/float64(b.N), "cpu-us/op")
	})
	b.Run("Add", func(b *testing.B) {
		c0 := processCPUNanos()
		for range b.N {
			d.Add(h, o, n*hidden)
		}
		b.ReportMetric(float64(processCPUNanos()-c0)/1e3/float64(b.N), "cpu-us/op")
	})
	if d.err != nil {
		b.Fatal(d.err)
	}
}

// BenchmarkPoolRun measures one parallel loop of eight empty items on the
// device's threads, the hand-off every matmul of a decode step pays, and
// reports its median and tail: a loop that leaves a thread parked shows
// up as a 90th or 99th percentile far above the median.
func BenchmarkPoolRun(b *testing.B) {
	d := New(Options{})
	defer d.Close()
	var sink [8]int
	ds := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		d.pool.run(len(sink), func(i int) { sink[i]++ })
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	for _, q := range []struct {
		name string
		at   int
	}{{"p50-ns", len(ds) / 2}, {"p90-ns", len(ds) * 9 / 10}, {"p99-ns", len(ds) * 99 / 100}} {
		b.ReportMetric(float64(ds[q.at]), q.name)
	}
}
