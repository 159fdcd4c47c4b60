package device

import "math"

// The numbers below are the ones every device must compute identically for
// their results to agree within float rounding. They live here, once,
// rather than in each device.

// RoPEInvFreq returns the rotary embedding's inverse frequencies,
// inv_freq[j] = 1 / theta^(2j/headDim) for j < headDim/2, computed as
// transformers does: the exponent in float32, the power in float64, the
// result rounded to float32.
func RoPEInvFreq(headDim int, theta float64) []float32 {
	inv := make([]float32, headDim/2)
	for j := range inv {
		inv[j] = 1 / float32(math.Pow(theta, float64(float32(2*j)/float32(headDim))))
	}
	return inv
}

// RoPECosSin appends, for position pos, cos and sin of pos·inv_freq[j] for
// every j: the angle is the float32 product (as transformers computes it),
// its cosine and sine are rounded from float64 (GPU sin and cos are not
// accurate enough for angles of hundreds of radians).
func RoPECosSin(cos, sin []float32, invFreq []float32, pos int) ([]float32, []float32) {
	for _, f := range invFreq {
		a := float64(float32(pos) * f)
		cos = append(cos, float32(math.Cos(a)))
		sin = append(sin, float32(math.Sin(a)))
	}
	return cos, sin
}

// AttentionScale is the factor applied to query·key scores before the
// softmax: 1/sqrt(headDim), rounded to float32.
func AttentionScale(headDim int) float32 { return float32(1 / math.Sqrt(float64(headDim))) }
