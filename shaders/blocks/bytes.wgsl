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
