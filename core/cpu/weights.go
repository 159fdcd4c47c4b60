package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// weight is a parameter tensor. Matrices stored as bf16 stay bf16 (aliasing
// the caller's bytes, typically a memory-mapped checkpoint), and so do
// quantized ones (q, ggml's blocks as stored, qrow bytes per row); everything
// else is held as float32.
type weight struct {
	name  string
	shape []int
	bf    []uint16
	f     []float32
	qt    device.DType // the quantized type of q
	q     []byte
	qrow  int
}

func (w *weight) Shape() []int { return w.shape }

// UploadWeight implements device.Device. BF16 matrices and quantized
// (Q8_0, Q4_0, Q4_K, Q6_K) matrices are used in place: data must stay valid
// and unmodified while the weight is in use. A quantized matrix's rows must
// be whole blocks. F16 tensors and all vectors are converted to float32
// (copies).
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
	if _, _, ok := quantBlock(dtype); ok {
		return quantWeight(name, dtype, shape, data)
	}
	size := map[device.DType]int{device.F32: 4, device.BF16: 2, device.F16: 2}[dtype]
	if size == 0 {
		return nil, fmt.Errorf("cpu: weight %s: unsupported dtype %v", name, dtype)
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
