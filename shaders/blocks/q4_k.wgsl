// q4_k: ggml's block_q4_K, a super-block of 256 weights in 144 bytes: fp16
// d and dmin, 12 bytes packing eight 6-bit scales and eight 6-bit mins, then
// 128 bytes of 4-bit values. The weights come in 8 sub-blocks of 32, in four
// groups of 64: byte l of group g (bytes 16+32g+l) holds weight 64g+l in its
// low nibble (sub-block 2g) and weight 64g+32+l in its high nibble
// (sub-block 2g+1). A weight of sub-block s is d*scale[s]*q - dmin*min[s].

const BLK_VALUES: u32 = 256u;
const BLK_BYTES: u32 = 144u;
// W_CHUNK is the weights linear_q's gemv_thread takes at a time: load_w64.
const W_CHUNK: u32 = 64u;

// q4k_scale_min is ggml's get_scale_min_k4: sub-block s's scale (x) and
// min (y) from the 12 packed bytes at base+4.
fn q4k_scale_min(base: u32, s: u32) -> vec2<f32> {
    let sc = base + 4u;
    if (s < 4u) {
        return vec2<f32>(f32(w_byte(sc + s) & 63u), f32(w_byte(sc + s + 4u) & 63u));
    }
    let a = w_byte(sc + s + 4u);
    return vec2<f32>(f32((a & 0xfu) | ((w_byte(sc + s - 4u) >> 6u) << 4u)),
                     f32((a >> 4u) | ((w_byte(sc + s) >> 6u) << 4u)));
}

// q4k_coefs returns the multiplier (x) and offset (y) of sub-block s:
// weight = x * q - y.
fn q4k_coefs(base: u32, s: u32) -> vec2<f32> {
    let dm = unpack2x16float(w[base >> 2u]); // d, dmin: base is a multiple of 4
    return dm * q4k_scale_min(base, s);
}

// load_w returns weight i of the tensor (row-major, rows of whole blocks).
fn load_w(i: u32) -> f32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let g = e >> 6u;
    let up = (e >> 5u) & 1u; // the high nibbles: second sub-block of the group
    let q = (w_byte(base + 16u + 32u * g + (e & 31u)) >> (up << 2u)) & 0xfu;
    let c = q4k_coefs(base, 2u * g + up);
    return c.x * f32(q) - c.y;
}

// load_w8 returns weights i .. i+7, for i a multiple of 8: one sub-block's
// coefficients and two aligned words of nibbles.
fn load_w8(i: u32) -> W8 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let g = e >> 6u;
    let up = (e >> 5u) & 1u;
    let c = q4k_coefs(base, 2u * g + up);
    let k = (base + 16u + 32u * g + (e & 31u)) >> 2u;
    let sh = vec4<u32>(up << 2u);
    let lo = (ubytes(w[k]) >> sh) & vec4<u32>(0xfu);
    let hi = (ubytes(w[k + 1u]) >> sh) & vec4<u32>(0xfu);
    return W8(c.x * vec4<f32>(lo) - c.y, c.x * vec4<f32>(hi) - c.y);
}

// load_w32 returns weights i .. i+31, for i a multiple of 32: one
// sub-block, its coefficients computed once and its nibbles from 8 aligned
// words.
fn load_w32(i: u32) -> W32 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let e = i % BLK_VALUES;
    let g = e >> 6u;
    let up = (e >> 5u) & 1u;
    let c = q4k_coefs(base, 2u * g + up);
    let k = (base + 16u + 32u * g) >> 2u;
    let sh = up << 2u;
    return W32(q4k_nib4(w[k], sh, c), q4k_nib4(w[k + 1u], sh, c), q4k_nib4(w[k + 2u], sh, c), q4k_nib4(w[k + 3u], sh, c),
               q4k_nib4(w[k + 4u], sh, c), q4k_nib4(w[k + 5u], sh, c), q4k_nib4(w[k + 6u], sh, c), q4k_nib4(w[k + 7u], sh, c));
}

// q4k_nib4 dequantizes the 4 nibbles at shift sh (0: low, 4: high) of the
// bytes of v, each shifted down in one step (byte j by 8j + sh).
fn q4k_nib4(v: u32, sh: u32, c: vec2<f32>) -> vec4<f32> {
    let q = (vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + sh)) & vec4<u32>(0xfu);
    return c.x * vec4<f32>(q) - c.y;
}

// load_w64 returns weights i .. i+63, for i a multiple of 64: group
// e/64 of a super-block, whose 32 bytes of quants give the low nibbles to
// one sub-block and the high nibbles to the next, so each byte is loaded
// once for two weights; the packed scales are 3 words, loaded once.
fn load_w64(i: u32) -> W64 {
    let base = (i / BLK_VALUES) * BLK_BYTES;
    let g = (i % BLK_VALUES) >> 6u;
    let kb = base >> 2u;
    let dm = unpack2x16float(w[kb]);
    let sc = vec3<u32>(w[kb + 1u], w[kb + 2u], w[kb + 3u]);
    let c0 = dm * q4k_scale_min_w(sc, 2u * g);
    let c1 = dm * q4k_scale_min_w(sc, 2u * g + 1u);
    let k = kb + 4u + 8u * g;
    let v0 = w[k];
    let v1 = w[k + 1u];
    let v2 = w[k + 2u];
    let v3 = w[k + 3u];
    let v4 = w[k + 4u];
    let v5 = w[k + 5u];
    let v6 = w[k + 6u];
    let v7 = w[k + 7u];
    return W64(W32(q4k_nib4(v0, 0u, c0), q4k_nib4(v1, 0u, c0), q4k_nib4(v2, 0u, c0), q4k_nib4(v3, 0u, c0),
                   q4k_nib4(v4, 0u, c0), q4k_nib4(v5, 0u, c0), q4k_nib4(v6, 0u, c0), q4k_nib4(v7, 0u, c0)),
               W32(q4k_nib4(v0, 4u, c1), q4k_nib4(v1, 4u, c1), q4k_nib4(v2, 4u, c1), q4k_nib4(v3, 4u, c1),
                   q4k_nib4(v4, 4u, c1), q4k_nib4(v5, 4u, c1), q4k_nib4(v6, 4u, c1), q4k_nib4(v7, 4u, c1)));
}

// q4k_scale_min_w is q4k_scale_min with the 12 scale bytes already loaded
// as 3 words.
fn q4k_scale_min_w(sc: vec3<u32>, s: u32) -> vec2<f32> {
    if (s < 4u) {
        return vec2<f32>(f32(q4k_sbyte(sc, s) & 63u), f32(q4k_sbyte(sc, s + 4u) & 63u));
    }
    let a = q4k_sbyte(sc, s + 4u);
    return vec2<f32>(f32((a & 0xfu) | ((q4k_sbyte(sc, s - 4u) >> 6u) << 4u)),
                     f32((a >> 4u) | ((q4k_sbyte(sc, s) >> 6u) << 4u)));
}

// q4k_sbyte is byte n of the 12 scale bytes held in sc.
fn q4k_sbyte(sc: vec3<u32>, n: u32) -> u32 {
    return (sc[n >> 2u] >> ((n & 3u) << 3u)) & 0xffu;
}
