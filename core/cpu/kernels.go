package cpu

import "math"

// bf16ToF32 widens a bfloat16 (the top half of a float32) exactly.
func bf16ToF32(u uint16) float32 { return math.Float32frombits(uint32(u) << 16) }

// dotF32Go returns Σ a[i]·b[i] with four partial sums (len(b) >= len(a)).
func dotF32Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyF32Go computes y += a·x (len(x) >= len(y)).
func axpyF32Go(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// dotBF16Go returns Σ x[i]·w[i] for bf16 weights, in float32.
func dotBF16Go(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * bf16ToF32(w[i])
		s1 += x[i+1] * bf16ToF32(w[i+1])
		s2 += x[i+2] * bf16ToF32(w[i+2])
		s3 += x[i+3] * bf16ToF32(w[i+3])
	}
	for ; i < len(x); i++ {
		s0 += x[i] * bf16ToF32(w[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotBF16Perm is dotBF16Go for activations permuted by permuteBlocks with
// block size blk: within each blk-element block, xp holds the blk/2 even
// elements, then the blk/2 odd ones.
func dotBF16Perm(xp []float32, w []uint16, blk int) float32 {
	w = w[:len(xp)]
	half := blk / 2
	var s0, s1 float32
	for b := 0; b+blk <= len(xp); b += blk {
		for i := range half {
			s0 += xp[b+i] * bf16ToF32(w[b+2*i])
			s1 += xp[b+half+i] * bf16ToF32(w[b+2*i+1])
		}
	}
	return s0 + s1
}

// permuteBlocks writes the first kb (a multiple of blk) elements of x to dst
// in the order the SIMD bf16 kernels expect (see kernels_amd64.s): each
// blk-element block as its even elements, then its odd ones. The rest is
// copied unchanged.
func permuteBlocks(dst, x []float32, kb, blk int) {
	dst = dst[:len(x)]
	half := blk / 2
	for b := 0; b < kb; b += blk {
		for i := range half {
			dst[b+i] = x[b+2*i]
			dst[b+half+i] = x[b+2*i+1]
		}
	}
	copy(dst[kb:], x[kb:])
}

const (
	log2e = 1.44269504088896341
	ln2hi = 6.93145751953125e-1
	ln2lo = 1.42860682030941723212e-6
)

// expf is a float32 exp accurate to about 2 ulp, several times faster than
// math.Exp: x = n·ln2 + r with |r| <= ln2/2, then a degree-7 Taylor
// polynomial for e^r and an exponent add for 2^n.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < -87.33654:
		return 0
	case x > 88.72283:
		return float32(math.Inf(1))
	}
	t := x * log2e
	if t >= 0 {
		t += 0.5
	} else {
		t -= 0.5
	}
	n := int32(t)
	fn := float32(n)
	r := x - fn*ln2hi - fn*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	if n > 127 {
		return p * math.Float32frombits(uint32(127+127)<<23) * 2
	}
	if n < -126 {
		return p * math.Float32frombits(uint32(n+127+64)<<23) * (1.0 / (1 << 64))
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// silu is x·sigmoid(x).
func silu(x float32) float32 { return x / (1 + expf(-x)) }
