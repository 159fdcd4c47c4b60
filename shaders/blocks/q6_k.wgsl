// q6_k: ggml's block_q6_K, a super-block of 256 weights in 210 bytes:
// ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 scales, fp16 d.
// Each half h of 128 weights uses ql[64h ..], qh[32h ..] and scales[8h ..];
// within a half, weight 32k+l (k = 0..3, l = 0..31) takes its low 4 bits
// from ql[l + 32(k&1)] (the high nibble when k >= 2), its high 2 bits from
// bits 2k, 2k+1 of qh[l], and its scale from scales[l/16 + 2k].
// A weight is d * scale * (q - 32).

const BLK_VALUES: u32 = 256u;
const BLK_BYTES: u32 = 210u;
// W_CHUNK is the weights linear_q's gemv_thread takes at a time: load_w64.
const W_CHUNK: u32 = 64u;

// q6k_mult returns d * scale for weight e (0..255) of the block at base.
fn q6k_mult(base: u32, e: u32) -> f32 {
    let h = e >> 7u;
    let k = (e >> 5u) & 3u;
    let l = e & 31u;
    let sc = bitcast<i32>(w_byte(base + 192u + 8u * h + (l >> 4u) + 2u * k) << 24u) >> 24u;
    return w_f16(base + 208u) * f32(sc);
}

// load_w returns weight i of the tensor (row-major, rows of whole blocks).
fn load_w(i: u32) -> f32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let h = e >> 7u;
    let k = (e >> 5u) & 3u;
    let l = e & 31u;
    let lo4 = (w_byte(base + 64u * h + l + 32u * (k & 1u)) >> ((k >> 1u) << 2u)) & 0xfu;
    let hi2 = (w_byte(base + 128u + 32u * h + l) >> (2u * k)) & 3u;
    return q6k_mult(base, e) * (f32(lo4 | (hi2 << 4u)) - 32.0);
}

// load_w8 returns weights i .. i+7, for i a multiple of 8: they share a
// scale, and their bits are 8 consecutive bytes of ql and of qh.
fn load_w8(i: u32) -> W8 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let h = e >> 7u;
    let k = (e >> 5u) & 3u;
    let l = e & 31u;
    let m = q6k_mult(base, e);
    let ql = base + 64u * h + l + 32u * (k & 1u);
    let qh = base + 128u + 32u * h + l;
    let s4 = vec4<u32>((k >> 1u) << 2u);
    let s2 = vec4<u32>(2u * k);
    let q0 = ((ubytes(w_u32(ql)) >> s4) & vec4<u32>(0xfu)) | (((ubytes(w_u32(qh)) >> s2) & vec4<u32>(3u)) << vec4<u32>(4u));
    let q1 = ((ubytes(w_u32(ql + 4u)) >> s4) & vec4<u32>(0xfu)) | (((ubytes(w_u32(qh + 4u)) >> s2) & vec4<u32>(3u)) << vec4<u32>(4u));
    return W8(m * (vec4<f32>(q0) - 32.0), m * (vec4<f32>(q1) - 32.0));
}

// load_w32 returns weights i .. i+31, for i a multiple of 32: a quarter of
// a half, whose low bits are 32 consecutive bytes of ql, high bits 32 of qh,
// and which has two scales (one per 16 weights).
fn load_w32(i: u32) -> W32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let h = e >> 7u;
    let k = (e >> 5u) & 3u;
    let m0 = q6k_mult(base, e);
    let m1 = q6k_mult(base, e + 16u);
    let ql = w_words8(base + 64u * h + 32u * (k & 1u));
    let qh = w_words8(base + 128u + 32u * h);
    let s4 = (k >> 1u) << 2u;
    let s2 = 2u * k;
    return W32(q6k_val4(ql.lo.x, qh.lo.x, s4, s2, m0), q6k_val4(ql.lo.y, qh.lo.y, s4, s2, m0),
               q6k_val4(ql.lo.z, qh.lo.z, s4, s2, m0), q6k_val4(ql.lo.w, qh.lo.w, s4, s2, m0),
               q6k_val4(ql.hi.x, qh.hi.x, s4, s2, m1), q6k_val4(ql.hi.y, qh.hi.y, s4, s2, m1),
               q6k_val4(ql.hi.z, qh.hi.z, s4, s2, m1), q6k_val4(ql.hi.w, qh.hi.w, s4, s2, m1));
}

// q6k_val4 dequantizes 4 weights from a word of ql (nibbles at shift s4)
// and one of qh (2 bits at shift s2), with multiplier m: each byte's bits
// are shifted down in one step per word (byte j by 8j plus the shift).
fn q6k_val4(l: u32, h: u32, s4: u32, s2: u32, m: f32) -> vec4<f32> {
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let lo = (vec4<u32>(l) >> (sh + s4)) & vec4<u32>(0xfu);
    let hi = ((vec4<u32>(h) >> (sh + s2)) & vec4<u32>(3u)) << vec4<u32>(4u);
    return m * (vec4<f32>(lo | hi) - 32.0);
}

// load_w64 returns weights i .. i+63, for i a multiple of 64: quarters k
// and k+1 (k even) of a half. They take their low bits from the two
// 32-byte halves of the half's ql and share all 32 bytes of its qh (bits
// 2k and 2k+2), and their 4 scales are 4 consecutive bytes: loaded once.
fn load_w64(i: u32) -> W64 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let h = e >> 7u;
    let k = (e >> 5u) & 3u;
    let m = sbytes(w_u32(base + 192u + 8u * h + 2u * k)) * w_f16(base + 208u);
    let ql0 = w_words8(base + 64u * h);
    let ql1 = w_words8(base + 64u * h + 32u);
    let qh = w_words8(base + 128u + 32u * h);
    let s4 = (k >> 1u) << 2u;
    let s2 = 2u * k;
    let s2b = s2 + 2u;
    return W64(W32(q6k_val4(ql0.lo.x, qh.lo.x, s4, s2, m.x), q6k_val4(ql0.lo.y, qh.lo.y, s4, s2, m.x),
                   q6k_val4(ql0.lo.z, qh.lo.z, s4, s2, m.x), q6k_val4(ql0.lo.w, qh.lo.w, s4, s2, m.x),
                   q6k_val4(ql0.hi.x, qh.hi.x, s4, s2, m.y), q6k_val4(ql0.hi.y, qh.hi.y, s4, s2, m.y),
                   q6k_val4(ql0.hi.z, qh.hi.z, s4, s2, m.y), q6k_val4(ql0.hi.w, qh.hi.w, s4, s2, m.y)),
               W32(q6k_val4(ql1.lo.x, qh.lo.x, s4, s2b, m.z), q6k_val4(ql1.lo.y, qh.lo.y, s4, s2b, m.z),
                   q6k_val4(ql1.lo.z, qh.lo.z, s4, s2b, m.z), q6k_val4(ql1.lo.w, qh.lo.w, s4, s2b, m.z),
                   q6k_val4(ql1.hi.x, qh.hi.x, s4, s2b, m.w), q6k_val4(ql1.hi.y, qh.hi.y, s4, s2b, m.w),
                   q6k_val4(ql1.hi.z, qh.hi.z, s4, s2b, m.w), q6k_val4(ql1.hi.w, qh.hi.w, s4, s2b, m.w)));
}
