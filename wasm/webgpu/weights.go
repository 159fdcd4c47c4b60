//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/hack-pad/safejs"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// Weight is a parameter tensor in GPU memory, split by rows of its first
// dimension into buffers no larger than one storage binding.
type Weight struct {
	dev   *Device
	name  string
	shape []int
	wt    shaders.WeightType
	parts []weightPart
	bytes int64 // in GPU memory, without the padding of the last word
}

type weightPart struct {
	buf        gbuf
	row0, rows int
}

// Shape is the logical row-major shape.
func (w *Weight) Shape() []int { return w.shape }

// Parts is the number of buffers the weight is split into.
func (w *Weight) Parts() int { return len(w.parts) }

// Bytes is the size of the weight's data in GPU memory: what one pass over
// it (a decode step's matmul) reads.
func (w *Weight) Bytes() int64 { return w.bytes }

// plan checks a weight's shape and creates its buffers. Each part but the
// last holds a whole number of rows and a multiple of 4 bytes. A quantized
// weight must be 2-D with rows of whole blocks; its rows are stored as the
// bytes of their blocks.
func (d *Device) plan(name string, dtype device.DType, shape []int) (*Weight, int64, error) {
	if len(shape) == 0 || len(shape) > 2 {
		return nil, 0, fmt.Errorf("%w: weight %s: shape %v (want 1 or 2 dimensions)", ErrBadArgument, name, shape)
	}
	for _, s := range shape {
		if s <= 0 {
			return nil, 0, fmt.Errorf("%w: weight %s: shape %v", ErrBadArgument, name, shape)
		}
	}
	w := &Weight{dev: d, name: name, shape: append([]int(nil), shape...)}
	rows, rowElems := shape[0], 1
	if len(shape) == 2 {
		rowElems = shape[1]
	}
	var rowBytes int64
	switch dtype {
	case device.BF16:
		w.wt, rowBytes = shaders.WeightBF16, 2*int64(rowElems)
	case device.F32, device.F16:
		// float16 is widened to float32 on upload: exact, and it spares a
		// third shader variant for a type Qwen3 checkpoints do not use.
		w.wt, rowBytes = shaders.WeightF32, 4*int64(rowElems)
	case device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K:
		if len(shape) != 2 {
			return nil, 0, fmt.Errorf("%w: weight %s: dtype %s needs 2 dimensions, got shape %v", ErrBadArgument, name, dtype, shape)
		}
		rb, err := quant.RowBytes(dtype, rowElems)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: weight %s: %w", ErrBadArgument, name, err)
		}
		w.wt, rowBytes = quantTypes[dtype], int64(rb)
	default:
		return nil, 0, fmt.Errorf("%w: weight %s: dtype %s", ErrUnsupported, name, dtype)
	}
	w.bytes = int64(rows) * rowBytes
	if 2*rowBytes > d.limits.maxBinding {
		return nil, 0, fmt.Errorf("%w: weight %s: a row of %d bytes is too close to the %d-byte binding limit", ErrTooLarge, name, rowBytes, d.limits.maxBinding)
	}
	// Rows per buffer: as many as the part size allows, at least one (two
	// when rows have an odd number of bf16 values or of 18- or 34-byte
	// blocks, so that every part holds whole 4-byte words: a row's size is
	// then 2 more than a multiple of 4).
	per := max(d.limits.weightPart/rowBytes, 1)
	if w.wt.Quantized() {
		// The kernels index a part's weights with a u32 (weight i is in
		// block i / block size): at half a byte a weight, a 4 GiB binding
		// would hold more than 2³² of them.
		per = max(min(per, math.MaxUint32/int64(rowElems)), 1)
	}
	if rowBytes%4 != 0 {
		per = max(per&^1, 2)
	}
	for r := 0; r < rows; r += int(per) {
		n := min(int(per), rows-r)
		buf, err := d.newBuffer(int64(n)*rowBytes, usageStorage|usageCopyDst, name)
		if err != nil {
			d.free(w)
			return nil, 0, err
		}
		w.parts = append(w.parts, weightPart{buf: buf, row0: r, rows: n})
	}
	return w, per * rowBytes, nil
}

// free destroys the buffers of a weight that failed to load.
func (d *Device) free(w *Weight) {
	for _, p := range w.parts {
		d.destroy(p.buf)
	}
	w.parts = nil
}

// UploadWeight copies a tensor from Go memory to the GPU. data holds the
// little-endian elements of dtype, or for a quantized dtype (Q8_0, Q4_0,
// Q4_K, Q6_K; 2-D, rows of whole blocks) its blocks as GGUF stores them;
// the device keeps no reference to it.
func (d *Device) UploadWeight(name string, dtype device.DType, shape []int, data []byte) (device.Weight, error) {
	w, partBytes, err := d.plan(name, dtype, shape)
	if err != nil {
		return nil, err
	}
	want := w.bytes
	if dtype == device.F16 {
		want /= 2 // widened on upload
	}
	if int64(len(data)) != want {
		d.free(w)
		return nil, fmt.Errorf("%w: weight %s: %d bytes for shape %v of dtype %s", ErrBadArgument, name, len(data), shape, dtype)
	}
	if dtype == device.F16 {
		data = f16ToF32(data)
	}
	ww, err := d.newWriter(w, partBytes)
	if err != nil {
		d.free(w)
		return nil, err
	}
	// The bytes go through one reusable JavaScript array in chunks, so a
	// large tensor never needs a second full-size copy.
	const chunk = 8 << 20
	for off := 0; off < len(data); off += chunk {
		if err := ww.writeGo(data[off:min(off+chunk, len(data))]); err != nil {
			d.free(w)
			return nil, err
		}
	}
	return ww.Close()
}

// writeBytes fills buf from Go memory.
func (d *Device) writeBytes(buf gbuf, data []byte) error {
	w := &Weight{dev: d, name: "table", parts: []weightPart{{buf: buf}}}
	ww, err := d.newWriter(w, buf.size)
	if err != nil {
		return err
	}
	ww.want = int64(len(data))
	if err := ww.writeGo(data); err != nil {
		return err
	}
	_, err = ww.Close()
	return err
}

// WeightWriter streams a weight's bytes into GPU buffers in chunks of any
// size, such as the Uint8Array chunks of a fetch() body reader, so that a
// checkpoint can be loaded without the bytes passing through the Go heap.
type WeightWriter struct {
	d       *Device
	w       *Weight
	js      safejs.Value
	written int64
	want    int64
	done    bool
}

// NewWeightWriter prepares the buffers of a weight whose bytes will be given
// by Write. dtype must be BF16, F32 or a quantized type (Q8_0, Q4_0, Q4_K,
// Q6_K: the tensor's GGUF blocks, row after row); the bytes are copied as
// they are, so F16 (widened on upload) is refused.
func (d *Device) NewWeightWriter(name string, dtype device.DType, shape []int) (*WeightWriter, error) {
	if _, q := quantTypes[dtype]; !q && dtype != device.BF16 && dtype != device.F32 {
		return nil, fmt.Errorf("%w: weight %s: streaming dtype %s (only BF16, F32 and the quantized types; use UploadWeight)", ErrUnsupported, name, dtype)
	}
	w, partBytes, err := d.plan(name, dtype, shape)
	if err != nil {
		return nil, err
	}
	ww, err := d.newWriter(w, partBytes)
	if err != nil {
		d.free(w)
		return nil, err
	}
	return ww, nil
}

func (d *Device) newWriter(w *Weight, partBytes int64) (*WeightWriter, error) {
	ids := make([]any, len(w.parts))
	for i, p := range w.parts {
		ids[i] = p.buf.id
	}
	js, err := d.b.call("writer", ids, float64(partBytes))
	if err != nil {
		return nil, d.checkLost(err)
	}
	return &WeightWriter{d: d, w: w, js: js, want: w.bytes}, nil
}

// Write appends the bytes of chunk, a JavaScript Uint8Array.
func (ww *WeightWriter) Write(chunk safejs.Value) error {
	n, err := chunk.Length()
	if err != nil {
		return fmt.Errorf("webgpu: weight %s: chunk is not an array: %w", ww.w.name, err)
	}
	return ww.write(chunk, 0, n)
}

func (ww *WeightWriter) write(src safejs.Value, off, n int) error {
	if ww.done {
		return fmt.Errorf("%w: weight %s: write after Close", ErrBadArgument, ww.w.name)
	}
	if ww.written+int64(n) > ww.want {
		return fmt.Errorf("%w: weight %s: more than its %d bytes", ErrBadArgument, ww.w.name, ww.want)
	}
	ww.d.b.crossings++
	if _, err := ww.js.Call("write", src, off, n); err != nil {
		return ww.d.checkLost(fmt.Errorf("webgpu: weight %s: %w", ww.w.name, err))
	}
	ww.written += int64(n)
	return nil
}

// writeGo appends bytes from Go memory, through the runtime's stage array.
func (ww *WeightWriter) writeGo(data []byte) error {
	stage, err := ww.d.stageArray(int64(len(data)))
	if err != nil {
		return ww.d.checkLost(err)
	}
	if err := ww.d.b.toJS(stage, data); err != nil {
		return fmt.Errorf("webgpu: weight %s: %w", ww.w.name, err)
	}
	return ww.write(stage, 0, len(data))
}

// Close finishes the weight; it fails if fewer bytes than the shape needs
// were written.
func (ww *WeightWriter) Close() (device.Weight, error) {
	if ww.done {
		return nil, fmt.Errorf("%w: weight %s: closed twice", ErrBadArgument, ww.w.name)
	}
	ww.done = true
	ww.d.b.crossings++
	if _, err := ww.js.Call("close"); err != nil {
		ww.d.free(ww.w)
		return nil, ww.d.checkLost(fmt.Errorf("webgpu: weight %s: %w", ww.w.name, err))
	}
	if ww.written != ww.want {
		ww.d.free(ww.w)
		return nil, fmt.Errorf("%w: weight %s: got %d bytes, shape %v needs %d", ErrBadArgument, ww.w.name, ww.written, ww.w.shape, ww.want)
	}
	return ww.w, nil
}

// UploadWeightJS copies a tensor from a JavaScript Uint8Array to the GPU
// without passing through Go memory.
func (d *Device) UploadWeightJS(name string, dtype device.DType, shape []int, src safejs.Value) (device.Weight, error) {
	ww, err := d.NewWeightWriter(name, dtype, shape)
	if err != nil {
		return nil, err
	}
	if err := ww.Write(src); err != nil {
		ww.d.free(ww.w)
		return nil, err
	}
	return ww.Close()
}

// f16ToF32 widens IEEE half floats to float32, exactly.
func f16ToF32(b []byte) []byte {
	out := make([]byte, 0, len(b)*2)
	for i := 0; i+1 < len(b); i += 2 {
		h := binary.LittleEndian.Uint16(b[i:])
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(half(h)))
	}
	return out
}

func half(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: value = man * 2^-24
		f := float32(man) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | man<<13)
}
