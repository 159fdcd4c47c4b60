// q4_0: ggml's block_q4_0, 32 weights in 18 bytes: an fp16 scale d, then
// 16 bytes of 4-bit values. Byte j holds weight j in its low nibble and
// weight j+16 in its high nibble; a weight is (nibble - 8) * d.

const BLK_VALUES: u32 = 32u;
const BLK_BYTES: u32 = 18u;
// W_CHUNK is the weights linear_q's gemv_thread takes at a time: load_w32.
const W_CHUNK: u32 = 32u;

// load_w returns weight i of the tensor (row-major, rows of whole blocks).
fn load_w(i: u32) -> f32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let j = i % BLK_VALUES;
    let q = (w_byte(base + 2u + (j & 15u)) >> ((j >> 4u) << 2u)) & 0xfu;
    return (f32(q) - 8.0) * w_f16(base);
}

// load_w8 returns weights i .. i+7, for i a multiple of 8: 8 nibbles of
// the same half of 8 consecutive bytes.
fn load_w8(i: u32) -> W8 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let j = i % BLK_VALUES;
    let d = w_f16(base);
    let q = base + 2u + (j & 15u);
    let sh = vec4<u32>((j >> 4u) << 2u);
    let lo = (ubytes(w_u32(q)) >> sh) & vec4<u32>(0xfu);
    let hi = (ubytes(w_u32(q + 4u)) >> sh) & vec4<u32>(0xfu);
    return W8((vec4<f32>(lo) - 8.0) * d, (vec4<f32>(hi) - 8.0) * d);
}

// load_w32 returns weights i .. i+31, for i a multiple of 32: one block.
// Its 18 bytes start at an even byte, so the 5 words from the one holding
// its first byte cover it: the scale is a half of the first word, the
// quants words 1..4 or the 4 words joined across halves. Low nibbles are
// weights 0..15, high nibbles 16..31.
fn load_w32(i: u32) -> W32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let k = base >> 2u;
    let v0 = vec4<u32>(w[k], w[k + 1u], w[k + 2u], w[k + 3u]);
    let n0 = vec4<u32>(v0.yzw, w[k + 4u]);
    let odd = (base & 2u) != 0u;
    let d = select(unpack2x16float(v0.x).x, unpack2x16float(v0.x).y, odd);
    let q = select((v0 >> vec4<u32>(16u)) | (n0 << vec4<u32>(16u)), n0, odd);
    return W32(q4_0_nib4(q.x, 0u, d), q4_0_nib4(q.y, 0u, d), q4_0_nib4(q.z, 0u, d), q4_0_nib4(q.w, 0u, d),
               q4_0_nib4(q.x, 4u, d), q4_0_nib4(q.y, 4u, d), q4_0_nib4(q.z, 4u, d), q4_0_nib4(q.w, 4u, d));
}

// q4_0_nib4 dequantizes the nibbles at shift sh (0: low, 4: high) of the 4
// bytes of v.
fn q4_0_nib4(v: u32, sh: u32, d: f32) -> vec4<f32> {
    let q = (vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + sh)) & vec4<u32>(0xfu);
    return (vec4<f32>(q) - 8.0) * d;
}

// load_w64 returns weights i .. i+63, for i a multiple of 64: two blocks.
fn load_w64(i: u32) -> W64 {
    return W64(load_w32(i), load_w32(i + 32u));
}
