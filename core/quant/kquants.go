package quant

import (
	"encoding/binary"
	"math"
)

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is
// below it is all zeros.
const groupMaxEps = float32(1e-15)

// QuantizeBlockQ6_K is ggml's quantize_row_q6_K_ref for one super-block of
// 256 values: each sub-block of 16 gets its own scale from make_qx_quants
// (32 levels, weighted by x²); the 16 scales are quantized to int8 against a
// super-block scale d (fp16), and the values are then requantized to 6 bits
// against the rounded scales. See DequantizeBlockQ6_K for the layout.
func QuantizeBlockQ6_K(b *[BlockBytesQ6_K]byte, x *[QKK]float32) {
	var L [QKK]int8
	var scales [QKK / 16]float32
	var maxScale, maxAbsScale float32
	for ib := range QKK / 16 {
		scale := makeQxQuants(32, (*[16]float32)(x[16*ib:]), (*[16]int8)(L[16*ib:]))
		scales[ib] = scale
		if as := abs32(scale); as > maxAbsScale {
			maxAbsScale, maxScale = as, scale
		}
	}
	if maxAbsScale < groupMaxEps {
		clear(b[:])
		binary.LittleEndian.PutUint16(b[208:], F32ToF16(0))
		return
	}
	iscale := -128 / maxScale
	binary.LittleEndian.PutUint16(b[208:], F32ToF16(1/iscale))
	sc := b[192:208]
	for ib := range QKK / 16 {
		sc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	dd := F16ToF32(binary.LittleEndian.Uint16(b[208:]))
	for j := range QKK / 16 {
		d := float32(dd * float32(int8(sc[j])))
		if d == 0 {
			continue
		}
		for ii := range 16 {
			l := nearestInt(x[16*j+ii] / d)
			l = max(-32, min(31, l))
			L[16*j+ii] = int8(l + 32)
		}
	}
	for h := range 2 {
		j := 128 * h
		ql := b[64*h : 64*h+64]
		qh := b[128+32*h : 128+32*h+32]
		for l := range 32 {
			q1 := uint8(L[j+l+0]) & 0xF
			q2 := uint8(L[j+l+32]) & 0xF
			q3 := uint8(L[j+l+64]) & 0xF
			q4 := uint8(L[j+l+96]) & 0xF
			ql[l+0] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
		}
	}
}

// makeQxQuants is ggml's make_qx_quants for n = 16 with rmse_type 1 and no
// importance weights: it picks the scale among 19 candidates around
// -nmax/max that minimises the x²-weighted squared error, and writes the
// levels (offset by nmax) to L.
func makeQxQuants(nmax int32, x *[16]float32, L *[16]int8) float32 {
	var mx, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, mx = ax, v
		}
	}
	if amax < groupMaxEps {
		clear(L[:])
		return 0
	}
	clamp := func(l int32) int32 { return max(-nmax, min(nmax-1, l)) }
	fmax := float32(nmax)
	iscale := -fmax / mx
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale * v)))
		L[i] = int8(l + nmax)
		w := float32(v * v)
		sumlx += float32(float32(w*v) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fmax + float32(0.1*float32(is))) / mx
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clamp(nearestInt(float32(iscale * v)))
			w := float32(v * v)
			sumlx += float32(float32(w*v) * float32(l))
			suml2 += float32(float32(w*float32(l)) * float32(l))
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clamp(nearestInt(float32(iscale*v))))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// QuantizeBlockQ4_K is ggml's quantize_row_q4_K_ref for one super-block of
// 256 values: each sub-block of 32 gets a scale and a min from
// make_qkx2_quants (16 levels, weighted by rms + |x|); scales and mins are
// quantized to 6 bits against the fp16 super-block d and dmin, and the
// values are requantized to 4 bits against the rounded ones. See
// DequantizeBlockQ4_K for the layout.
func QuantizeBlockQ4_K(b *[BlockBytesQ4_K]byte, x *[QKK]float32) {
	var L [QKK]uint8
	var weights [32]float32
	var mins, scales [QKK / 32]float32
	var maxScale, maxMin float32
	for j := range QKK / 32 {
		xs := (*[32]float32)(x[32*j:])
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQkx2Quants(15, xs, &weights, (*[32]uint8)(L[32*j:]), -1, 0.1, 20)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	s := (*[12]byte)(b[4:16])
	for j := range QKK / 32 {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		if j < 4 {
			s[j] = ls
			s[j+4] = lm
		} else {
			s[j+4] = (ls & 0xF) | ((lm & 0xF) << 4)
			s[j-4] |= (ls >> 4) << 6
			s[j] |= (lm >> 4) << 6
		}
	}
	binary.LittleEndian.PutUint16(b[0:], F32ToF16(maxScale/63))
	binary.LittleEndian.PutUint16(b[2:], F32ToF16(maxMin/63))
	d0 := F16ToF32(binary.LittleEndian.Uint16(b[0:]))
	dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:]))
	for j := range QKK / 32 {
		sc, m := ScaleMinK4(j, s)
		d := float32(d0 * float32(sc))
		if d == 0 {
			continue
		}
		dm := float32(dmin * float32(m))
		for ii := range 32 {
			l := nearestInt((x[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(max(0, min(15, l)))
		}
	}
	q := b[16:]
	for g := range 4 {
		for l := range 32 {
			q[32*g+l] = L[64*g+l] | L[64*g+l+32]<<4
		}
	}
}

// makeQkx2Quants is ggml's make_qkx2_quants for n = 32 with use_mad false:
// an affine quantization x ≈ scale*L - min with L in 0..nmax, searching
// nstep+1 candidate scales (rmin + rdelta*is + nmax)/(max - min) and keeping
// the weighted least-squares fit of lowest weighted squared error. It
// returns the scale and the min (as a non-negative offset).
func makeQkx2Quants(nmax int32, x, weights *[32]float32, L *[32]uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	var laux [32]uint8
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < 32; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		clear(L[:])
		return 0, -mn
	}
	fmax := float32(nmax)
	iscale := fmax / (mx - mn)
	scale = 1 / iscale
	var bestError float32
	for i, v := range x {
		l := nearestInt(float32(iscale * float32(v-mn)))
		L[i] = uint8(max(0, min(nmax, l)))
		diff := float32(float32(scale*float32(L[i]))+mn) - v
		diff = float32(diff * diff)
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -mn
	}
	for is := range nstep + 1 {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + fmax) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := nearestInt(float32(iscale * float32(v-mn)))
			l = max(0, min(nmax, l))
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i, v := range x {
				diff := float32(float32(thisScale*float32(laux[i]))+thisMin) - v
				diff = float32(diff * diff)
				curError += float32(weights[i] * diff)
			}
			if curError < bestError {
				*L = laux
				bestError = curError
				scale = thisScale
				mn = thisMin
			}
		}
	}
	return scale, -mn
}
