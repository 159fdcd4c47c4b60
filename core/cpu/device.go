// Package cpu is the reference device.Device: every operation of the Qwen3
// forward pass in plain Go, float32 activations with float32 accumulation,
// bf16 weights read in place (no widened copy in memory), and loops spread
// over a small pool of goroutines. On amd64 it switches at run time to
// assembly kernels: AVX2/FMA, AVX-512, and for batched matmuls the AMX tile
// units with activations split into three exact bf16 parts. The pure-Go
// kernels remain for other processors and for checking (build tag purego,
// or Options.PureGo).
package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Options configures a Device.
type Options struct {
	// Threads is the number of goroutines a parallel operation uses;
	// 0 means runtime.GOMAXPROCS(0).
	Threads int
	// PureGo disables the assembly kernels even where the processor
	// supports them (tests compare the paths).
	PureGo bool
	// NoAVX512 keeps to the AVX2 kernels on processors with AVX-512.
	NoAVX512 bool
	// NoAMX keeps batched matmuls off the AMX tile units.
	NoAMX bool
	// Precision is the activation precision of matmuls on the AMX tile
	// units. The zero value, PrecisionFloat32, keeps results within float32
	// rounding of exact (the reference the fixtures check).
	Precision Precision
}

// Precision selects how matmuls on the AMX tile units, which multiply only
// bf16, treat float32 activations.
type Precision uint8

const (
	// PrecisionFloat32 splits each activation into three bf16 parts whose
	// sum is exact: three tile products per product, float32 accuracy.
	PrecisionFloat32 Precision = iota
	// PrecisionBF16 rounds each activation to the nearest bf16, as
	// PyTorch's bf16 inference does: one tile product, about three times
	// the matmul speed, each activation off by up to 2^-9 relative.
	// It applies where the tile units are used: matmuls of 12 or more rows,
	// and the attention of sequences with 32 or more query rows in a step
	// (bf16 queries, keys, values and softmax numerators; float32 scores
	// and sums). Smaller steps and processors without AMX stay
	// float32-accurate.
	PrecisionBF16
)

// String returns "float32" or "bf16".
func (p Precision) String() string {
	switch p {
	case PrecisionFloat32:
		return "float32"
	case PrecisionBF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// MarshalText implements encoding.TextMarshaler (so a Precision can be a
// flag.TextVar).
func (p Precision) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "float32" (or "fp32",
// "f32") and "bf16" (or "bfloat16").
func (p *Precision) UnmarshalText(text []byte) error {
	switch string(text) {
	case "float32", "fp32", "f32":
		*p = PrecisionFloat32
	case "bf16", "bfloat16":
		*p = PrecisionBF16
	default:
		return fmt.Errorf("unknown precision %q (want float32 or bf16)", text)
	}
	return nil
}

// isa is the instruction set the kernels use.
type isa uint8

const (
	isaGo     isa = iota // portable Go
	isaAVX2              // AVX2 + FMA assembly
	isaAVX512            // AVX-512 assembly for the matmuls, AVX2 elsewhere
)

// Device runs Qwen3 operations on the CPU. Operations run synchronously in
// the calling goroutine (spreading work over the pool), so a step's results
// are ready as soon as each call returns. A Device serves one model step at
// a time; it is not safe for concurrent steps.
type Device struct {
	pool  *pool
	isa   isa
	batch *step.Step // the step BeginStep validated
	cache *kvCache   // and the KV cache it validated it against
	err   error

	perm []float32 // permuted activations for the SIMD matmul

	amx       bool       // AMX tile units in use for batched matmuls
	amxParts  int        // bf16 parts per activation: 3 (exact) or 1 (bf16)
	amxCfg    [64]byte   // tile configuration
	amxTables [64]uint16 // constants of the packing kernels
	amxPacked []uint16   // activations packed for the tile units
	// amxPackedOf is the buffer (with its rows and width) whose contents
	// amxPacked holds, so that consecutive Linears of the same input (q, k
	// and v; gate and up) pack it once. Every other operation clears it.
	amxPackedOf struct {
		buf            *buffer
		rows, k, tiles int
	}
	scratch sync.Pool // []float32 score rows for attention
	// Keys and values packed as bf16 tiles for attentionAMX, and its
	// per-task buffers.
	attnKPack, attnVPack []uint16
	amxAttnPool          sync.Pool
	ropes                map[ropeKey]*ropeTable
}

var _ device.Device = (*Device)(nil)

// New returns a CPU device. Call Close to stop its worker goroutines.
func New(opts Options) *Device {
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	d := &Device{pool: newPool(threads), ropes: make(map[ropeKey]*ropeTable)}
	switch {
	case opts.PureGo || !haveSIMD():
		d.isa = isaGo
	case opts.NoAVX512 || !haveAVX512():
		d.isa = isaAVX2
	default:
		d.isa = isaAVX512
		if !opts.NoAMX && enableAMX() {
			d.amx, d.amxCfg, d.amxTables = true, amxTileConfig(), amxPackTables()
			d.amxParts = 3
			if opts.Precision == PrecisionBF16 {
				d.amxParts = 1
			}
		}
	}
	return d
}

// Close stops the worker goroutines. The device must not be used afterwards.
func (d *Device) Close() error {
	d.pool.close()
	return nil
}

// Name implements device.Device.
func (d *Device) Name() string {
	kind := [...]string{isaGo: "go", isaAVX2: "avx2+fma", isaAVX512: "avx512"}[d.isa]
	if d.amx {
		kind += "+amx"
		if d.amxParts == 1 {
			kind += ", bf16 activations"
		}
	}
	return fmt.Sprintf("cpu (%d threads, %s)", d.pool.threads(), kind)
}

// SIMD reports whether the assembly kernels are in use.
func (d *Device) SIMD() bool { return d.isa != isaGo }

// buffer is a float32 activation buffer.
type buffer struct{ data []float32 }

func (b *buffer) Len() int { return len(b.data) }

// weight is a parameter tensor. Matrices stored as bf16 stay bf16 (aliasing
// the caller's bytes, typically a memory-mapped checkpoint); everything else
// is held as float32.
type weight struct {
	name  string
	shape []int
	bf    []uint16
	f     []float32
}

func (w *weight) Shape() []int { return w.shape }

// kvCache stores, per layer, the keys and values of every slot, grouped by
// block and then KV head, so that the block of one head (the unit attention
// reads) is contiguous. For slot = block*BlockSize + offset, values are
// v[layer][((block*KVHeads + head)*BlockSize + offset)*HeadDim + d]; keys
// are transposed within the block, k[layer][((block*KVHeads + head)*HeadDim
// + d)*BlockSize + offset], so that the attention kernel can score a query
// against a whole block of keys with vector multiply-adds and no horizontal
// sums. (Values with all heads of a slot together would put a head's rows
// 4 KiB apart at Qwen3's 8 heads of 128: rows that collide in the same few
// L1 sets.)
type kvCache struct {
	spec device.KVCacheSpec
	k, v [][]float32
}

func (c *kvCache) Spec() device.KVCacheSpec { return c.spec }

// UploadWeight implements device.Device. BF16 matrices are used in place:
// data must stay valid and unmodified while the weight is in use. F16
// tensors and all vectors are converted to float32 (copies).
func (d *Device) UploadWeight(name string, dtype device.DType, shape []int, data []byte) (device.Weight, error) {
	n := 1
	for _, s := range shape {
		if s <= 0 {
			return nil, fmt.Errorf("cpu: weight %s: bad shape %v", name, shape)
		}
		n *= s
	}
	if len(shape) < 1 || len(shape) > 2 {
		return nil, fmt.Errorf("cpu: weight %s: shape %v, want 1 or 2 dimensions", name, shape)
	}
	size := map[device.DType]int{device.F32: 4, device.BF16: 2, device.F16: 2}[dtype]
	if size == 0 {
		return nil, fmt.Errorf("cpu: weight %s: unsupported dtype %d", name, dtype)
	}
	if len(data) != n*size {
		return nil, fmt.Errorf("cpu: weight %s: %d bytes, want %d for shape %v", name, len(data), n*size, shape)
	}
	w := &weight{name: name, shape: append([]int(nil), shape...)}
	switch {
	case dtype == device.BF16 && len(shape) == 2:
		w.bf = uint16s(data)
	case dtype == device.F32 && len(shape) == 2:
		w.f = float32s(data)
	default:
		w.f = make([]float32, n)
		for i := range w.f {
			u := binary.LittleEndian.Uint16(data[2*i:])
			switch dtype {
			case device.BF16:
				w.f[i] = bf16ToF32(u)
			case device.F16:
				w.f[i] = f16ToF32(u)
			case device.F32:
				w.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
		}
	}
	return w, nil
}

// uint16s views little-endian data as uint16s without copying when the host
// and alignment allow it.
func uint16s(data []byte) []uint16 {
	if littleEndian && uintptr(unsafe.Pointer(&data[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&data[0])), len(data)/2)
	}
	out := make([]uint16, len(data)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(data[2*i:])
	}
	return out
}

// float32s is uint16s for float32.
func float32s(data []byte) []float32 {
	if littleEndian && uintptr(unsafe.Pointer(&data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&data[0])), len(data)/4)
	}
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// f16ToF32 converts an IEEE half-precision number exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// NewBuffer implements device.Device.
func (d *Device) NewBuffer(n int) (device.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: buffer of %d elements", n)
	}
	return &buffer{data: make([]float32, n)}, nil
}

// NewKVCache implements device.Device.
func (d *Device) NewKVCache(spec device.KVCacheSpec) (device.KVCache, error) {
	if spec.Layers <= 0 || spec.NumBlocks <= 0 || spec.BlockSize <= 0 || spec.KVHeads <= 0 || spec.HeadDim <= 0 {
		return nil, fmt.Errorf("cpu: bad KV cache spec %+v", spec)
	}
	per := spec.NumBlocks * spec.BlockSize * spec.KVHeads * spec.HeadDim
	c := &kvCache{spec: spec, k: make([][]float32, spec.Layers), v: make([][]float32, spec.Layers)}
	for l := range spec.Layers {
		c.k[l] = make([]float32, per)
		c.v[l] = make([]float32, per)
	}
	return c, nil
}

// BeginStep implements device.Device. It validates s against cache with
// step.Validate and clears the error of the previous step.
func (d *Device) BeginStep(s *step.Step, cache device.KVCache) error {
	d.batch, d.cache, d.err = nil, nil, nil
	d.amxPackedOf.buf = nil
	kc, ok := cache.(*kvCache)
	if !ok || kc == nil {
		return fmt.Errorf("cpu: BeginStep: cache %T is not from the CPU device", cache)
	}
	if err := s.Validate(kc.spec.Shape()); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	d.batch, d.cache = s, kc
	return nil
}

// fail records the first error of the step.
func (d *Device) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("cpu: "+format, args...)
	}
}

// ok reports whether the step may go on; it fails the step when no batch
// is active.
func (d *Device) ok(op string) bool {
	if op != "Linear" {
		d.amxPackedOf.buf = nil
	}
	if d.err == nil && d.batch == nil {
		d.fail("%s outside a step (BeginStep not called or failed)", op)
	}
	return d.err == nil
}

// floats returns the first n elements of b, failing the step when b is not
// a CPU buffer or is too short.
func (d *Device) floats(op string, b device.Buffer, n int) []float32 {
	cb, ok := b.(*buffer)
	switch {
	case !ok:
		d.fail("%s: buffer %T is not from the CPU device", op, b)
		return nil
	case n < 0 || n > len(cb.data):
		d.fail("%s: buffer of %d elements, need %d", op, len(cb.data), n)
		return nil
	}
	return cb.data[:n]
}

func (d *Device) weight(op string, w device.Weight, dims int) *weight {
	cw, ok := w.(*weight)
	switch {
	case !ok:
		d.fail("%s: weight %T is not from the CPU device", op, w)
		return nil
	case len(cw.shape) != dims:
		d.fail("%s: weight %s has shape %v, want %d dimensions", op, cw.name, cw.shape, dims)
		return nil
	}
	return cw
}

// rowsParallel splits rows into chunks for the pool when there is enough
// work to pay for the hand-off.
func (d *Device) rowsParallel(rows, width int, fn func(r int)) {
	if rows*width < 1<<15 || rows < 2 {
		for r := range rows {
			fn(r)
		}
		return
	}
	chunk := max(1, rows/(4*d.pool.threads()))
	d.pool.run((rows+chunk-1)/chunk, func(c int) {
		for r := c * chunk; r < min(rows, (c+1)*chunk); r++ {
			fn(r)
		}
	})
}

// Embed implements device.Device.
func (d *Device) Embed(out device.Buffer, table device.Weight) {
	if !d.ok("Embed") {
		return
	}
	w := d.weight("Embed", table, 2)
	if w == nil {
		return
	}
	vocab, hidden := w.shape[0], w.shape[1]
	ids := d.batch.TokenIDs
	o := d.floats("Embed", out, len(ids)*hidden)
	if o == nil {
		return
	}
	for i, id := range ids {
		if id < 0 || int(id) >= vocab {
			d.fail("Embed: token id %d outside vocab of %d", id, vocab)
			return
		}
		row := o[i*hidden : (i+1)*hidden]
		if w.bf != nil {
			for j, u := range w.bf[int(id)*hidden : (int(id)+1)*hidden] {
				row[j] = bf16ToF32(u)
			}
		} else {
			copy(row, w.f[int(id)*hidden:])
		}
	}
}

// RMSNorm implements device.Device. The sum of squares is accumulated in
// float64, so the result is the correctly rounded float32 norm in practice.
func (d *Device) RMSNorm(out, x device.Buffer, w device.Weight, rows int, eps float32) {
	if !d.ok("RMSNorm") {
		return
	}
	cw := d.weight("RMSNorm", w, 1)
	if cw == nil {
		return
	}
	width := cw.shape[0]
	xs := d.floats("RMSNorm", x, rows*width)
	os := d.floats("RMSNorm", out, rows*width)
	if xs == nil || os == nil {
		return
	}
	w16 := 0 // elements done by the AVX-512 kernels
	if d.isa == isaAVX512 {
		w16 = width &^ 15
	}
	d.rowsParallel(rows, width, func(r int) {
		xr, or := xs[r*width:(r+1)*width], os[r*width:(r+1)*width]
		var ss float64
		if w16 > 0 {
			ss = sumSquaresZ(&xr[0], w16)
		}
		for _, v := range xr[w16:] {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(float64(float32(ss/float64(width))+eps)))
		if w16 > 0 {
			scaleMulZ(&or[0], &xr[0], &cw.f[0], w16, inv)
		}
		for j := w16; j < width; j++ {
			or[j] = xr[j] * inv * cw.f[j]
		}
	})
}

// Linear implements device.Device.
func (d *Device) Linear(out, x device.Buffer, w device.Weight, rows int) {
	if !d.ok("Linear") {
		return
	}
	cw := d.weight("Linear", w, 2)
	if cw == nil {
		return
	}
	n, k := cw.shape[0], cw.shape[1]
	xs := d.floats("Linear", x, rows*k)
	os := d.floats("Linear", out, rows*n)
	if xs == nil || os == nil {
		return
	}
	xb, ob := x.(*buffer), out.(*buffer)
	if cw.bf != nil && d.amx && rows >= amxMinRows && n%32 == 0 && k%32 == 0 {
		d.linearAMX(os, xs, cw.bf, rows, n, k, xb)
	} else if cw.bf != nil {
		d.linearBF16(os, xs, cw.bf, rows, n, k)
	} else {
		d.linearF32(os, xs, cw.f, rows, n, k)
	}
	if ob == d.amxPackedOf.buf {
		d.amxPackedOf.buf = nil
	}
}

// SwiGLU implements device.Device.
func (d *Device) SwiGLU(out, gate, up device.Buffer, n int) {
	if !d.ok("SwiGLU") {
		return
	}
	o, g, u := d.floats("SwiGLU", out, n), d.floats("SwiGLU", gate, n), d.floats("SwiGLU", up, n)
	if o == nil || g == nil || u == nil {
		return
	}
	const chunk = 4096
	d.rowsParallel((n+chunk-1)/chunk, chunk, func(c int) {
		i, end := c*chunk, min(n, (c+1)*chunk)
		if d.isa == isaAVX512 && end-i >= 16 {
			n16 := (end - i) &^ 15
			swigluZ(&o[i], &g[i], &u[i], n16)
			i += n16
		}
		for ; i < end; i++ {
			o[i] = silu(g[i]) * u[i]
		}
	})
}

// Add implements device.Device.
func (d *Device) Add(dst, src device.Buffer, n int) {
	if !d.ok("Add") {
		return
	}
	a, b := d.floats("Add", dst, n), d.floats("Add", src, n)
	if a == nil || b == nil {
		return
	}
	const chunk = 4096
	d.rowsParallel((n+chunk-1)/chunk, chunk, func(c int) {
		i, end := c*chunk, min(n, (c+1)*chunk)
		ac, bc := a[i:end], b[i:end]
		for j := range ac {
			ac[j] += bc[j]
		}
	})
}

// GatherRows implements device.Device.
func (d *Device) GatherRows(out, x device.Buffer, cols int) {
	if !d.ok("GatherRows") {
		return
	}
	rows := d.batch.LogitsRows
	xs := d.floats("GatherRows", x, len(d.batch.TokenIDs)*cols)
	os := d.floats("GatherRows", out, len(rows)*cols)
	if xs == nil || os == nil {
		return
	}
	for k, r := range rows {
		copy(os[k*cols:(k+1)*cols], xs[int(r)*cols:])
	}
}

// ReadFloats implements device.Device.
func (d *Device) ReadFloats(dst []float32, src device.Buffer) error {
	if d.err != nil {
		return d.err
	}
	s := d.floats("ReadFloats", src, len(dst))
	if s == nil {
		return d.err
	}
	copy(dst, s)
	return nil
}

// ArgmaxRows implements device.Device.
func (d *Device) ArgmaxRows(src device.Buffer, rows, cols int) ([]int32, error) {
	if d.err != nil {
		return nil, d.err
	}
	s := d.floats("ArgmaxRows", src, rows*cols)
	if s == nil {
		return nil, d.err
	}
	if cols <= 0 {
		return nil, fmt.Errorf("cpu: ArgmaxRows over %d columns", cols)
	}
	out := make([]int32, rows)
	for r := range rows {
		row := s[r*cols : (r+1)*cols]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[r] = int32(best)
	}
	return out, nil
}
