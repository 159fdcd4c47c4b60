package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Dequantize widens len(dst) values of type t stored in src to float32,
// bit-exact with ggml's to_float for that type. len(dst) must be a multiple
// of the block (ErrRowLength) and src exactly the bytes of len(dst) values
// (ErrSize). Any bytes are accepted: scales that encode inf or NaN give inf
// or NaN values, never a panic.
func Dequantize(t device.DType, dst []float32, src []byte) error {
	want, err := RowBytes(t, len(dst))
	if err != nil {
		return err
	}
	if len(src) != want {
		return fmt.Errorf("%w: %d bytes for %d %v values, want %d", ErrSize, len(src), len(dst), t, want)
	}
	switch t {
	case device.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case device.F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case device.BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case device.Q8_0:
		for b := range len(dst) / QK8_0 {
			DequantizeBlockQ8_0((*[QK8_0]float32)(dst[b*QK8_0:]), (*[BlockBytesQ8_0]byte)(src[b*BlockBytesQ8_0:]))
		}
	case device.Q4_0:
		for b := range len(dst) / QK4_0 {
			DequantizeBlockQ4_0((*[QK4_0]float32)(dst[b*QK4_0:]), (*[BlockBytesQ4_0]byte)(src[b*BlockBytesQ4_0:]))
		}
	case device.Q4_K:
		for b := range len(dst) / QKK {
			DequantizeBlockQ4_K((*[QKK]float32)(dst[b*QKK:]), (*[BlockBytesQ4_K]byte)(src[b*BlockBytesQ4_K:]))
		}
	case device.Q6_K:
		for b := range len(dst) / QKK {
			DequantizeBlockQ6_K((*[QKK]float32)(dst[b*QKK:]), (*[BlockBytesQ6_K]byte)(src[b*BlockBytesQ6_K:]))
		}
	default:
		return fmt.Errorf("%w: %v", ErrDType, t)
	}
	return nil
}

// DequantizeBlockQ8_0 is ggml's dequantize_row_q8_0 for one block:
// y[j] = qs[j] * d.
//
// Layout (34 bytes): d fp16 | qs[32] int8.
func DequantizeBlockQ8_0(dst *[QK8_0]float32, b *[BlockBytesQ8_0]byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(b[0:]))
	for j := range QK8_0 {
		dst[j] = float32(int8(b[2+j])) * d
	}
}

// DequantizeBlockQ4_0 is ggml's dequantize_row_q4_0 for one block:
// y[j] = ((qs[j] & 15) - 8) * d, y[j+16] = ((qs[j] >> 4) - 8) * d.
//
// Layout (18 bytes): d fp16 | qs[16], value j in the low nibble of byte j
// and value j+16 in its high nibble.
func DequantizeBlockQ4_0(dst *[QK4_0]float32, b *[BlockBytesQ4_0]byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(b[0:]))
	for j := range QK4_0 / 2 {
		q := b[2+j]
		dst[j] = float32(int32(q&0x0F)-8) * d
		dst[j+QK4_0/2] = float32(int32(q>>4)-8) * d
	}
}

// ScaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j (0..7) of a Q4_K super-block from its 12 packed bytes.
func ScaleMinK4(j int, q *[12]byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xF) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

// DequantizeBlockQ4_K is ggml's dequantize_row_q4_K for one super-block of
// 256 values: 8 sub-blocks of 32, value = d*sc * q - dmin*m.
//
// Layout (144 bytes): d fp16 | dmin fp16 | scales[12] (eight 6-bit scales
// and eight 6-bit mins, see ScaleMinK4) | qs[128]. The values come in four
// groups of 64: byte l of group g holds value 64g+l in its low nibble and
// value 64g+32+l in its high nibble.
func DequantizeBlockQ4_K(dst *[QKK]float32, b *[BlockBytesQ4_K]byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(b[0:]))
	dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:]))
	scales := (*[12]byte)(b[4:16])
	qs := b[16:]
	for g := range 4 {
		sc, m := ScaleMinK4(2*g, scales)
		d1, m1 := float32(d*float32(sc)), float32(dmin*float32(m))
		sc, m = ScaleMinK4(2*g+1, scales)
		d2, m2 := float32(d*float32(sc)), float32(dmin*float32(m))
		q := qs[32*g : 32*g+32]
		y := dst[64*g : 64*g+64]
		for l := range 32 {
			y[l] = float32(d1*float32(q[l]&0xF)) - m1
			y[32+l] = float32(d2*float32(q[l]>>4)) - m2
		}
	}
}

// DequantizeBlockQ6_K is ggml's dequantize_row_q6_K for one super-block of
// 256 values: 16 sub-blocks of 16, value = d * scales[s] * (q - 32) with a
// 6-bit q.
//
// Layout (210 bytes): ql[128] (low 4 bits) | qh[64] (high 2 bits) |
// scales[16] int8 | d fp16. Each half of 128 values uses 64 bytes of ql and
// 32 of qh: for l < 32, value l and 64+l take the low and high nibble of
// ql[l], values 32+l and 96+l those of ql[32+l], and qh[l] holds the high
// bits of values l, 32+l, 64+l, 96+l in bits 0-1, 2-3, 4-5, 6-7.
func DequantizeBlockQ6_K(dst *[QKK]float32, b *[BlockBytesQ6_K]byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(b[208:]))
	for h := range 2 {
		ql := b[64*h : 64*h+64]
		qh := b[128+32*h : 128+32*h+32]
		sc := b[192+8*h : 192+8*h+8]
		y := dst[128*h : 128*h+128]
		for l := range 32 {
			is := l / 16
			q1 := int32((ql[l]&0xF)|((qh[l]>>0)&3)<<4) - 32
			q2 := int32((ql[l+32]&0xF)|((qh[l]>>2)&3)<<4) - 32
			q3 := int32((ql[l]>>4)|((qh[l]>>4)&3)<<4) - 32
			q4 := int32((ql[l+32]>>4)|((qh[l]>>6)&3)<<4) - 32
			y[l] = float32(d*float32(int8(sc[is]))) * float32(q1)
			y[l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
			y[l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
			y[l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
		}
	}
}
