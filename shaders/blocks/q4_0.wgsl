// q4_0: ggml's block_q4_0, 32 weights in 18 bytes: an fp16 scale d, then
// 16 bytes of 4-bit values. Byte j holds weight j in its low nibble and
// weight j+16 in its high nibble; a weight is (nibble - 8) * d.

const BLK_VALUES: u32 = 32u;
const BLK_BYTES: u32 = 18u;

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

// load_w32 returns weights i .. i+31, for i a multiple of 32: one block,
// its scale read once and its 16 bytes as 4 words, low nibbles first.
fn load_w32(i: u32) -> W32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let d = w_f16(base);
    let q = w_words4(base + 2u);
    let m = vec4<u32>(0xfu);
    let b0 = ubytes(q.x);
    let b1 = ubytes(q.y);
    let b2 = ubytes(q.z);
    let b3 = ubytes(q.w);
    return W32((vec4<f32>(b0 & m) - 8.0) * d, (vec4<f32>(b1 & m) - 8.0) * d,
               (vec4<f32>(b2 & m) - 8.0) * d, (vec4<f32>(b3 & m) - 8.0) * d,
               (vec4<f32>(b0 >> vec4<u32>(4u)) - 8.0) * d, (vec4<f32>(b1 >> vec4<u32>(4u)) - 8.0) * d,
               (vec4<f32>(b2 >> vec4<u32>(4u)) - 8.0) * d, (vec4<f32>(b3 >> vec4<u32>(4u)) - 8.0) * d);
}
