// q8_0: ggml's block_q8_0, 32 weights in 34 bytes: an fp16 scale d, then
// 32 int8 values q. Weight j of the block is q[j] * d.

const BLK_VALUES: u32 = 32u;
const BLK_BYTES: u32 = 34u;
// W_CHUNK is the weights linear_q's gemv_thread takes at a time: load_w32.
const W_CHUNK: u32 = 32u;

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

// load_w32 returns weights i .. i+31, for i a multiple of 32: one block.
// The block's 34 bytes start at an even byte, so the 9 words from the one
// holding its first byte cover it: the scale is a half of the first word,
// and the quants are words 1..8 (block at 2 mod 4) or the 8 words joined
// across halves (block at 0 mod 4). 9 loads for the whole block.
fn load_w32(i: u32) -> W32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let k = base >> 2u;
    let v0 = vec4<u32>(w[k], w[k + 1u], w[k + 2u], w[k + 3u]);
    let v1 = vec4<u32>(w[k + 4u], w[k + 5u], w[k + 6u], w[k + 7u]);
    let v2 = w[k + 8u];
    let odd = (base & 2u) != 0u;
    let d = select(unpack2x16float(v0.x).x, unpack2x16float(v0.x).y, odd);
    let n0 = vec4<u32>(v0.yzw, v1.x);
    let n1 = vec4<u32>(v1.yzw, v2);
    let q0 = select((v0 >> vec4<u32>(16u)) | (n0 << vec4<u32>(16u)), n0, odd);
    let q1 = select((v1 >> vec4<u32>(16u)) | (n1 << vec4<u32>(16u)), n1, odd);
    return W32(sbytes(q0.x) * d, sbytes(q0.y) * d, sbytes(q0.z) * d, sbytes(q0.w) * d,
               sbytes(q1.x) * d, sbytes(q1.y) * d, sbytes(q1.z) * d, sbytes(q1.w) * d);
}

// load_w64 returns weights i .. i+63, for i a multiple of 64: two blocks.
fn load_w64(i: u32) -> W64 {
    return W64(load_w32(i), load_w32(i + 32u));
}
