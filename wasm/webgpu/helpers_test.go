//go:build js && wasm

package webgpu

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// newGPU opens a WebGPU device for t, skipping where the browser has none.
func newGPU(t testing.TB, opts Options) *Device {
	t.Helper()
	d, err := New(context.Background(), opts)
	if errors.Is(err, ErrNoWebGPU) || errors.Is(err, ErrNoAdapter) {
		t.Skipf("no WebGPU here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// pair runs every operation on the WebGPU device under test and on the CPU
// reference device, with the same weights and inputs.
type pair struct {
	t   testing.TB
	gpu device.Device
	cpu device.Device
}

func newPair(t testing.TB, g *Device) *pair {
	c := cpu.New(cpu.Options{Threads: 1})
	t.Cleanup(func() { c.Close() })
	return &pair{t: t, gpu: g, cpu: c}
}

// both holds the same object on each device.
type both[T any] struct{ g, c T }

func (p *pair) weight(dtype device.DType, shape []int, data []byte) both[device.Weight] {
	p.t.Helper()
	g, err := p.gpu.UploadWeight("w", dtype, shape, data)
	require.NoError(p.t, err)
	c, err := p.cpu.UploadWeight("w", dtype, shape, append([]byte(nil), data...))
	require.NoError(p.t, err)
	return both[device.Weight]{g, c}
}

func (p *pair) buffer(n int) both[device.Buffer] {
	p.t.Helper()
	g, err := p.gpu.NewBuffer(n)
	require.NoError(p.t, err)
	c, err := p.cpu.NewBuffer(n)
	require.NoError(p.t, err)
	return both[device.Buffer]{g, c}
}

// filled returns a buffer holding vals on both devices. The Device
// interface has no upload of activations, so it embeds token 0 of a
// one-row float32 table.
func (p *pair) filled(vals []float32) both[device.Buffer] {
	p.t.Helper()
	b := p.buffer(len(vals))
	tab := p.weight(device.F32, []int{1, len(vals)}, f32Bytes(vals))
	one := seqBatch(1, [][2]int{{0, 1}})
	for _, d := range []struct {
		dev device.Device
		out device.Buffer
		tab device.Weight
	}{{p.gpu, b.g, tab.g}, {p.cpu, b.c, tab.c}} {
		require.NoError(p.t, beginScratch(d.dev, one))
		d.dev.Embed(d.out, d.tab)
		require.NoError(p.t, d.dev.ReadFloats(nil, d.out))
	}
	return b
}

func (p *pair) cache(spec device.KVCacheSpec) both[device.KVCache] {
	p.t.Helper()
	g, err := p.gpu.NewKVCache(spec)
	require.NoError(p.t, err)
	c, err := p.cpu.NewKVCache(spec)
	require.NoError(p.t, err)
	return both[device.KVCache]{g, c}
}

// begin starts step b on both devices, for kernels that do not touch the KV
// cache (see beginScratch).
func (p *pair) begin(b *step.Step) {
	p.t.Helper()
	require.NoError(p.t, beginScratch(p.gpu, b))
	require.NoError(p.t, beginScratch(p.cpu, b))
}

// beginWith starts step b on both devices over their halves of cache.
func (p *pair) beginWith(b *step.Step, cache both[device.KVCache]) {
	p.t.Helper()
	require.NoError(p.t, p.gpu.BeginStep(b, cache.g))
	require.NoError(p.t, p.cpu.BeginStep(b, cache.c))
}

// beginScratch starts step s on d for kernels that do not touch the KV
// cache, with a scratch cache just large enough for the step's block tables.
func beginScratch(d device.Device, s *step.Step) error {
	nb := 1
	for _, b := range s.BlockTables {
		nb = max(nb, int(b)+1)
	}
	c, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: nb, BlockSize: s.BlockSize, KVHeads: 1, HeadDim: 1})
	if err != nil {
		return err
	}
	return d.BeginStep(s, c)
}

// check reads n floats of buf from both devices and compares them.
func (p *pair) check(buf both[device.Buffer], n int, abs, rel float64, what string) {
	p.t.Helper()
	got := make([]float32, n)
	want := make([]float32, n)
	require.NoError(p.t, p.gpu.ReadFloats(got, buf.g), what)
	require.NoError(p.t, p.cpu.ReadFloats(want, buf.c), what)
	requireClose(p.t, want, got, abs, rel, what)
}

// requireClose fails unless |got-want| <= abs + rel*|want| everywhere.
func requireClose(t testing.TB, want, got []float32, abs, rel float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	worst, at := 0.0, -1
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		lim := abs + rel*math.Abs(float64(want[i]))
		if !(d <= lim) && (at < 0 || d-lim > worst) {
			worst, at = d-lim, i
		}
	}
	if at >= 0 {
		t.Fatalf("%s: element %d: got %v, want %v (|Δ| %.3g over tolerance; %d elements)", what, at, got[at], want[at], worst, len(want))
	}
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func randFloats(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * scale
	}
	return v
}

// randBF16 returns n random bfloat16 values as checkpoint bytes.
func randBF16(r *rand.Rand, n int, scale float32) []byte {
	b := make([]byte, 0, 2*n)
	for _, x := range randFloats(r, n, scale) {
		b = binary.LittleEndian.AppendUint16(b, safetensors.F32ToBF16(x))
	}
	return b
}

// randWeight returns random weight bytes of dtype.
func randWeight(r *rand.Rand, dtype device.DType, n int, scale float32) []byte {
	switch dtype {
	case device.BF16:
		return randBF16(r, n, scale)
	case device.F16:
		b := make([]byte, 0, 2*n)
		for _, x := range randFloats(r, n, scale) {
			b = binary.LittleEndian.AppendUint16(b, safetensors.F32ToF16(x))
		}
		return b
	}
	return f32Bytes(randFloats(r, n, scale))
}

// seqBatch builds a step of whole sequences laid out in consecutive blocks
// of blockSize: spans[i] = {first position computed in this step, count}.
// Sequence i's tokens are ids (i*1000+pos) % 500.
func seqBatch(blockSize int, spans [][2]int) *step.Step {
	return tableBatch(blockSize, spans, nil)
}

// tableBatch is seqBatch with the block of sequence i's k-th block given by
// tables[i][k] (nil: consecutive blocks).
func tableBatch(blockSize int, spans [][2]int, tables [][]int32) *step.Step {
	var b step.Builder
	b.Reset(blockSize, 0)
	next := int32(0)
	for i, s := range spans {
		end := s[0] + s[1]
		var blocks []int32
		for k := 0; k*blockSize < end; k++ {
			if tables != nil {
				blocks = append(blocks, tables[i][k])
			} else {
				blocks = append(blocks, next)
				next++
			}
		}
		tokens := make([]int32, end)
		for pos := range tokens {
			tokens[pos] = int32(i*1000+pos) % 500
		}
		b.Add(tokens, s[0], end, blocks, 1)
	}
	return b.Step()
}
