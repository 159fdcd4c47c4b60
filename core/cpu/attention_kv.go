package cpu

import (
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// kvLayer is one layer of the KV cache as attention reads it: float32
// keys and values, or 16-bit ones (bf16 or IEEE half). Its methods call the
// AVX-512 kernel of the cache's dtype with offsets counted in elements, so
// attentionTiled reads every dtype the same way.
type kvLayer struct {
	dt     device.DType
	k, v   []float32 // F32
	kh, vh []uint16  // BF16, F16
}

// layerView returns layer l of c.
func (c *kvCache) layerView(l int) kvLayer {
	if c.spec.DType == device.F32 {
		return kvLayer{dt: device.F32, k: c.k[l], v: c.v[l]}
	}
	return kvLayer{dt: c.spec.DType, kh: c.kh[l], vh: c.vh[l]}
}

// vaddr is the address of value element i, for the value kernels' block
// lists.
func (l *kvLayer) vaddr(i int) uintptr {
	if l.dt == device.F32 {
		return uintptr(unsafe.Pointer(&l.v[i]))
	}
	return uintptr(unsafe.Pointer(&l.vh[i]))
}

// prefetch fetches the n keys and n values from element i into the
// caches: the next block's, while one is multiplied. A block of one KV
// head is a 4 KiB run at f16 (8 KiB at f32), and the blocks of a sequence
// lie anywhere in the cache, so the hardware prefetcher, which stops at
// page boundaries, cannot run ahead of the kernels by itself.
func (l *kvLayer) prefetch(i, n int) {
	if l.dt == device.F32 {
		prefetchLines((*byte)(unsafe.Pointer(&l.k[i])), n*4/64)
		prefetchLines((*byte)(unsafe.Pointer(&l.v[i])), n*4/64)
		return
	}
	prefetchLines((*byte)(unsafe.Pointer(&l.kh[i])), n*2/64)
	prefetchLines((*byte)(unsafe.Pointer(&l.vh[i])), n*2/64)
}

func (l *kvLayer) qkt2(q0, q1 *float32, kt, hd int, out *float32, ostride int) {
	switch l.dt {
	case device.F32:
		attnQKT2z(q0, q1, &l.k[kt], hd, out, ostride)
	case device.BF16:
		attnQKT2zBF16(q0, q1, &l.kh[kt], hd, out, ostride)
	default:
		attnQKT2zF16(q0, q1, &l.kh[kt], hd, out, ostride)
	}
}

func (l *kvLayer) qkt4(q0, q1, q2, q3 *float32, kt, hd int, out *float32, ostride int) {
	switch l.dt {
	case device.F32:
		attnQKT4z(q0, q1, q2, q3, &l.k[kt], hd, out, ostride)
	case device.BF16:
		attnQKT4zBF16(q0, q1, q2, q3, &l.kh[kt], hd, out, ostride)
	default:
		attnQKT4zF16(q0, q1, q2, q3, &l.kh[kt], hd, out, ostride)
	}
}

func (l *kvLayer) qkt8(q *[8]*float32, kt, hd int, out *float32, ostride int) {
	switch l.dt {
	case device.F32:
		attnQKT8z(q, &l.k[kt], hd, out, ostride)
	case device.BF16:
		attnQKT8zBF16(q, &l.kh[kt], hd, out, ostride)
	default:
		attnQKT8zF16(q, &l.kh[kt], hd, out, ostride)
	}
}

func (l *kvLayer) qkt8x2(q *[8]*float32, kt0, kt1, hd int, out *float32, ostride int) {
	switch l.dt {
	case device.F32:
		attnQKT8x2z(q, &l.k[kt0], &l.k[kt1], hd, out, ostride)
	case device.BF16:
		attnQKT8x2zBF16(q, &l.kh[kt0], &l.kh[kt1], hd, out, ostride)
	default:
		attnQKT8x2zF16(q, &l.kh[kt0], &l.kh[kt1], hd, out, ostride)
	}
}

func (l *kvLayer) pv2(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32) {
	switch l.dt {
	case device.F32:
		attnPV2z(p, pstride, vblk, nblk, last, vstride, hd, o0, o1)
	case device.BF16:
		attnPV2zBF16(p, pstride, vblk, nblk, last, vstride, hd, o0, o1)
	default:
		attnPV2zF16(p, pstride, vblk, nblk, last, vstride, hd, o0, o1)
	}
}

func (l *kvLayer) pv4(p *float32, pstride int, v, vstride, nk, hd int, o0, o1, o2, o3 *float32) {
	switch l.dt {
	case device.F32:
		attnPV4z(p, pstride, &l.v[v], vstride, nk, hd, o0, o1, o2, o3)
	case device.BF16:
		attnPV4zBF16(p, pstride, &l.vh[v], vstride, nk, hd, o0, o1, o2, o3)
	default:
		attnPV4zF16(p, pstride, &l.vh[v], vstride, nk, hd, o0, o1, o2, o3)
	}
}

func (l *kvLayer) pv8(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32) {
	switch l.dt {
	case device.F32:
		attnPV8z(p, pstride, vblk, nblk, last, vstride, hd, o)
	case device.BF16:
		attnPV8zBF16(p, pstride, vblk, nblk, last, vstride, hd, o)
	default:
		attnPV8zF16(p, pstride, vblk, nblk, last, vstride, hd, o)
	}
}
