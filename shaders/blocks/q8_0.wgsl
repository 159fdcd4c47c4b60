// q8_0: ggml's block_q8_0, 32 weights in 34 bytes: an fp16 scale d, then
// 32 int8 values q. Weight j of the block is q[j] * d.

const BLK_VALUES: u32 = 32u;
const BLK_BYTES: u32 = 34u;

// load_w returns weight i of the tensor (row-major, rows of whole blocks).
fn load_w(i: u32) -> f32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let q = bitcast<i32>(w_byte(base + 2u + i % BLK_VALUES) << 24u) >> 24u;
    return f32(q) * w_f16(base);
}

// load_w8 returns weights i .. i+7, for i a multiple of 8: the scale and
// two (unaligned) words of quants.
fn load_w8(i: u32) -> W8 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let d = w_f16(base);
    let q = base + 2u + i % BLK_VALUES;
    return W8(sbytes(w_u32(q)) * d, sbytes(w_u32(q + 4u)) * d);
}

// load_w32 returns weights i .. i+31, for i a multiple of 32: one block,
// its scale read once and its 32 quants as 8 words.
fn load_w32(i: u32) -> W32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let d = w_f16(base);
    let q = w_words8(base + 2u);
    return W32(sbytes(q.lo.x) * d, sbytes(q.lo.y) * d, sbytes(q.lo.z) * d, sbytes(q.lo.w) * d,
               sbytes(q.hi.x) * d, sbytes(q.hi.y) * d, sbytes(q.hi.z) * d, sbytes(q.hi.w) * d);
}
