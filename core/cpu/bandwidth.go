package cpu

import (
	"time"
)

// NewBandwidthBuffer returns a buffer of about size bytes, written once so
// its pages are resident, for ReadBandwidth.
func NewBandwidthBuffer(size int64) []float32 {
	n := int(size/4) &^ (1<<16 - 1)
	buf := make([]float32, max(n, 1<<16))
	for i := range buf {
		buf[i] = float32(i & 7)
	}
	return buf
}

// ReadBandwidth measures how fast the device's threads can stream memory:
// it sums buf (choose one far larger than the caches, from
// NewBandwidthBuffer) across the pool rounds times and returns the best rate
// in bytes per second. Batch-1 decode reads every weight once per token, so
// this rate divided by the weight bytes is its speed limit. With SIMD each
// task reads its chunk as four interleaved sequential streams with software
// prefetch, the pattern that gets the most out of the memory system (on the
// 2-core VM about 30 GB/s, where one stream per thread gets about 21): a
// bound the matmul kernels cannot beat, not one they happen to match.
func (d *Device) ReadBandwidth(buf []float32, rounds int) float64 {
	const chunk = 1 << 16 // floats per task: 256 KiB
	tasks := len(buf) / chunk
	sums := make([]float32, tasks)
	best := 0.0
	for range max(rounds, 1) {
		start := time.Now()
		d.pool.run(tasks, func(t int) {
			part := buf[t*chunk : (t+1)*chunk]
			if d.isa != isaGo {
				sums[t] = sumF32AVX(&part[0], len(part))
				return
			}
			var s0, s1, s2, s3 float32
			for i := 0; i < len(part); i += 4 {
				s0 += part[i]
				s1 += part[i+1]
				s2 += part[i+2]
				s3 += part[i+3]
			}
			sums[t] = s0 + s1 + s2 + s3
		})
		if rate := float64(tasks*chunk*4) / time.Since(start).Seconds(); rate > best {
			best = rate
		}
	}
	return best
}
