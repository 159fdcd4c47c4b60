package shaders

import "fmt"

// The KV cache's element type reaches the two kernels that touch the cache
// (kvcache.wgsl writes it, attention.wgsl reads it) the way a weight's type
// reaches the kernels that read weights: through the WeightType given to
// Source, which appends the matching declarations. The cache buffers are
// array<u32> in every case:
//
//   - WeightF32: one float32 per word, stored as its bits;
//   - WeightBF16: two bfloat16 per word, element 2k in the low half, as the
//     weights (load_k widens with a shift, exactly);
//   - WeightF16: two IEEE halves per word, element 2k in the low half,
//     widened with core WGSL's unpack2x16float (no shader-f16 needed).
//
// Rounding to 16 bits happens in integer arithmetic (kv_half), not with
// pack2x16float or a float conversion: WGSL lets those round either way and
// leaves values beyond the half range undefined, and the cache must hold
// the bytes the CPU device holds, rounded to nearest with ties to even
// (core/cpu/kvcache_half.go; safetensors.F32ToBF16 and F32ToF16 in Go).
//
// Each slot holds kv_dim elements padded to a whole number of words
// (kv_words), so that no two threads ever write the halves of one word.

// kvUses is the text whose presence marks a kernel as reading or writing
// the KV cache: both kernels call kv_words.
const kvUses = "kv_words("

const kvF32 = `
// The KV cache holds float32 (declared by shaders.Source for a WeightF32 cache).
const KV_PER_WORD: u32 = 1u;
fn kv_words(kv_dim: u32) -> u32 { return kv_dim; }
fn load_k(i: u32) -> f32 { return bitcast<f32>(k_cache[i]); }
fn load_v(i: u32) -> f32 { return bitcast<f32>(v_cache[i]); }
fn load_k2(i: u32) -> vec2<f32> { return vec2<f32>(load_k(i), load_k(i + 1u)); }
fn load_v2(i: u32) -> vec2<f32> { return vec2<f32>(load_v(i), load_v(i + 1u)); }
fn kv_pack(lo: u32, hi: u32) -> u32 { return lo; }
`

// kvHalf is shared by the two 16-bit types: the slot padding and the
// packing of two rounded halves into a word.
const kvHalf = `
const KV_PER_WORD: u32 = 2u;
// kv_words is the words of one slot: kv_dim halves, padded to an even count.
fn kv_words(kv_dim: u32) -> u32 { return (kv_dim + 1u) / 2u; }
// kv_pack rounds two float32s (given as bits) and packs them, lo first.
fn kv_pack(lo: u32, hi: u32) -> u32 { return kv_half(lo) | (kv_half(hi) << 16u); }
`

const kvBF16 = `
// The KV cache holds bfloat16, two per u32 (declared by shaders.Source).
` + kvHalf + `
fn bf16_at(word: u32, i: u32) -> f32 {
    return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}
fn load_k(i: u32) -> f32 { return bf16_at(k_cache[i >> 1u], i); }
fn load_v(i: u32) -> f32 { return bf16_at(v_cache[i >> 1u], i); }
// load_k2 and load_v2 widen elements i and i+1 (i even): one word.
fn bf16_pair(word: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}
fn load_k2(i: u32) -> vec2<f32> { return bf16_pair(k_cache[i >> 1u]); }
fn load_v2(i: u32) -> vec2<f32> { return bf16_pair(v_cache[i >> 1u]); }
// kv_half rounds float32 bits to bfloat16, to nearest with ties to even;
// a NaN stays a (quiet) NaN.
fn kv_half(b: u32) -> u32 {
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return (b >> 16u) | 0x40u;
    }
    return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}
`

const kvF16 = `
// The KV cache holds IEEE halves, two per u32 (declared by shaders.Source).
` + kvHalf + `
fn load_k(i: u32) -> f32 { return unpack2x16float(k_cache[i >> 1u])[i & 1u]; }
fn load_v(i: u32) -> f32 { return unpack2x16float(v_cache[i >> 1u])[i & 1u]; }
// load_k2 and load_v2 widen elements i and i+1 (i even): one word.
fn load_k2(i: u32) -> vec2<f32> { return unpack2x16float(k_cache[i >> 1u]); }
fn load_v2(i: u32) -> vec2<f32> { return unpack2x16float(v_cache[i >> 1u]); }
// kv_half rounds float32 bits to a half, to nearest with ties to even:
// beyond 65504 by half an ulp or more is Inf, below 2^-14 a subnormal (or
// zero below 2^-25), a NaN stays a quiet NaN.
fn kv_half(b: u32) -> u32 {
    let sign = (b >> 16u) & 0x8000u;
    let a = b & 0x7fffffffu;
    if (a > 0x7f800000u) {
        return sign | 0x7e00u | ((a >> 13u) & 0x1ffu);
    }
    if (a >= 0x477ff000u) {
        return sign | 0x7c00u;
    }
    if (a >= 0x38800000u) {
        // Normal: rebias the exponent, round the 13 dropped bits; a carry
        // out of the mantissa bumps the exponent, as it should.
        let v = a - 0x38000000u;
        return sign | ((v + 0xfffu + ((v >> 13u) & 1u)) >> 13u);
    }
    if (a < 0x33000000u) {
        return sign;
    }
    // Subnormal half: round(value / 2^-24), the implicit bit restored.
    let shift = 126u - (a >> 23u);
    let m = (a & 0x7fffffu) | 0x800000u;
    let half = 1u << (shift - 1u);
    var q = m >> shift;
    let rem = m & ((1u << shift) - 1u);
    if (rem > half || (rem == half && (q & 1u) == 1u)) {
        q += 1u;
    }
    return sign | q;
}
`

// kvDecls returns the declarations of a KV kernel for a cache of type wt.
func kvDecls(name string, wt WeightType) (string, error) {
	switch wt {
	case WeightF32:
		return kvF32, nil
	case WeightBF16:
		return kvBF16, nil
	case WeightF16:
		return kvF16, nil
	}
	return "", fmt.Errorf("shaders: kernel %q reads the KV cache; give its type (f32, bf16 or f16), got %v", name, wt)
}
