// bytes: reading the bytes of quantized blocks out of an array<u32>.
//
// WGSL storage buffers hold 32-bit words, but GGUF blocks are byte records
// that need not start on a word: a Q8_0 block is 34 bytes, so block 1
// starts at byte 34, in the middle of word 8. These functions read a
// weight buffer w as the little-endian byte string it was uploaded as
// (byte b is bits 8*(b%4) .. 8*(b%4)+7 of word b/4).

// W8 is 8 consecutive dequantized weights: lo holds the first 4.
struct W8 {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

// W32 is 32 consecutive dequantized weights, 4 per vector. Named fields,
// not an array: CPU adapters keep them in registers, where a dynamically
// indexed array goes through memory.
struct W32 {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
}

// W64 is 64 consecutive dequantized weights: a holds the first 32.
struct W64 {
    a: W32,
    b: W32,
}

// w_byte returns byte b of w.
fn w_byte(b: u32) -> u32 {
    return (w[b >> 2u] >> ((b & 3u) << 3u)) & 0xffu;
}

// w_u16 returns the little-endian 16-bit value at byte b, which is even.
fn w_u16(b: u32) -> u32 {
    return (w[b >> 2u] >> ((b & 2u) << 3u)) & 0xffffu;
}

// w_u32 returns the 4 bytes at byte b, any alignment, as a little-endian
// word: the top of word b/4 joined to the bottom of the next one.
fn w_u32(b: u32) -> u32 {
    let k = b >> 2u;
    let s = (b & 3u) << 3u;
    if (s == 0u) {
        return w[k]; // a shift by 32 would be by 0 in WGSL: keep it apart
    }
    return (w[k] >> s) | (w[k + 1u] << (32u - s));
}

// Words8 is 32 bytes as 8 little-endian words, lo holding the first 4.
struct Words8 {
    lo: vec4<u32>,
    hi: vec4<u32>,
}

// w_words8 returns the 32 bytes at byte b (even): 9 loads, each word then
// the top of one joined to the bottom of the next when b is not a multiple
// of 4. The ninth load is clamped to the buffer: it is past the end only
// when b is aligned, and then unused.
fn w_words8(b: u32) -> Words8 {
    let k = b >> 2u;
    let s = (b & 3u) << 3u;
    let lo = vec4<u32>(w[k], w[k + 1u], w[k + 2u], w[k + 3u]);
    let hi = vec4<u32>(w[k + 4u], w[k + 5u], w[k + 6u], w[k + 7u]);
    if (s == 0u) {
        return Words8(lo, hi);
    }
    let next = w[min(k + 8u, arrayLength(&w) - 1u)];
    let sv = vec4<u32>(s);
    let tv = vec4<u32>(32u - s);
    return Words8((lo >> sv) | (vec4<u32>(lo.yzw, hi.x) << tv),
                  (hi >> sv) | (vec4<u32>(hi.yzw, next) << tv));
}

// w_words4 is w_words8 for 16 bytes.
fn w_words4(b: u32) -> vec4<u32> {
    let k = b >> 2u;
    let s = (b & 3u) << 3u;
    let last = arrayLength(&w) - 1u;
    let v = vec4<u32>(w[k], w[k + 1u], w[k + 2u], w[k + 3u]);
    if (s == 0u) {
        return v;
    }
    let n = vec4<u32>(v.yzw, w[min(k + 4u, last)]);
    return (v >> vec4<u32>(s)) | (n << vec4<u32>(32u - s));
}

// w_f16 returns the IEEE half float at byte b (even), widened to f32 by
// the core builtin unpack2x16float: no shader-f16 extension needed.
fn w_f16(b: u32) -> f32 {
    return unpack2x16float(w_u16(b)).x;
}

// ubytes splits a word into its 4 bytes, first byte in x.
fn ubytes(v: u32) -> vec4<u32> {
    return (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// sbytes splits a word into its 4 bytes read as int8, first byte in x:
// each byte is shifted to the top and shifted back arithmetically, which
// copies its sign bit.
fn sbytes(v: u32) -> vec4<f32> {
    let top = vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u);
    return vec4<f32>(bitcast<vec4<i32>>(top) >> vec4<u32>(24u));
}
