// linear_q: out = x · wᵀ (as linear.wgsl) for a weight stored in one of
// GGUF's quantized block formats, dequantized in the shader: activations,
// products and sums stay float32.
//
// The block format is not written here. shaders.Source appends the byte
// readers of blocks/bytes.wgsl and one format file (blocks/q8_0.wgsl,
// q4_0, q4_k, q6_k), which define load_w8(i): weights i .. i+7 of the
// tensor, i a multiple of 8, as two vec4<f32>. A row (in_features weights)
// is a whole number of blocks of 32 or 256 weights, so in_f is a multiple
// of 32 and every group of 8 lies inside one block (and one sub-block).
//
// Three entry points, as for the float weights:
//
//   - gemv (decode, at most GV_ROWS rows): GV_WG threads per output
//     feature; thread t dequantizes groups t, t+GV_WG, ... of the weight
//     row once and multiplies each by the matching inputs of every row,
//     so the weights are read once per step whatever the batch;
//   - gemv_thread: one thread per two output features, no barriers (the
//     fast form on CPU implementations of WebGPU), 32 or 64 weights at a
//     time from load_w32 or load_w64 (also defined by the format files,
//     which choose with W_CHUNK), each input vector loaded once for both
//     features; the grid's y dimension takes the rows
//     GV_ROWS at a time, so it also serves prefill there;
//   - gemm (prefill): 32x32 output tiles as linear.wgsl's gemm, with a
//     32-wide slice of the shared dimension; the slice of w is dequantized
//     into workgroup memory once per tile, 8 weights per thread.

struct Params {
    rows: u32,   // rows of x (tokens)
    in_f: u32,   // in_features, a multiple of 32
    out_f: u32,  // output features held by this weight buffer
    out_ld: u32, // row stride of out (all output features)
    col0: u32,   // first output feature of this buffer
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<u32>;

// GV_WG (shaders.GemvWG), GV_ROWS (shaders.GemvRows), GEMM_TILE
// (shaders.GemmTile) and THREAD_WG (shaders.ThreadWG) are declared by
// shaders.Source.

// dot8 is the dot product of 8 weights with inputs x[xi], x[xi+1].
fn dot8(wv: W8, xi: u32) -> f32 {
    return dot(wv.lo, x[xi]) + dot(wv.hi, x[xi + 1u]);
}

// ---- gemv ----

var<workgroup> red: array<f32, GV_ROWS * GV_WG>; // partial sums

@compute @workgroup_size(GV_WG)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let o = wid.x + wid.y * nwg.x;
    if (o >= p.out_f) {
        return; // the whole workgroup leaves: no barrier is skipped by some only
    }
    let n8 = p.in_f / 8u;
    let xrow = p.in_f / 4u; // vec4s per row of x
    var acc: array<f32, GV_ROWS>;
    for (var k = t; k < n8; k += GV_WG) {
        let wv = load_w8(o * p.in_f + 8u * k);
        for (var r = 0u; r < p.rows; r++) {
            acc[r] += dot8(wv, r * xrow + 2u * k);
        }
    }
    for (var r = 0u; r < GV_ROWS; r++) {
        red[r * GV_WG + t] = acc[r];
    }
    workgroupBarrier();
    for (var s = GV_WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            for (var r = 0u; r < p.rows; r++) {
                red[r * GV_WG + t] += red[r * GV_WG + t + s];
            }
        }
        workgroupBarrier();
    }
    if (t < p.rows) {
        out[t * p.out_ld + p.col0 + o] = red[t * GV_WG];
    }
}

// ---- gemv_thread ----

// X32 is 32 consecutive inputs of a row, loaded once for both features.
struct X32 {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
}

// load_x32 returns x[xi .. xi+7].
fn load_x32(xi: u32) -> X32 {
    return X32(x[xi], x[xi + 1u], x[xi + 2u], x[xi + 3u], x[xi + 4u], x[xi + 5u], x[xi + 6u], x[xi + 7u]);
}

// dot32 is the dot product of 32 weights with 32 inputs.
fn dot32(wv: W32, xv: X32) -> f32 {
    return dot(wv.a0, xv.a0) + dot(wv.a1, xv.a1) + dot(wv.a2, xv.a2) + dot(wv.a3, xv.a3) +
           dot(wv.a4, xv.a4) + dot(wv.a5, xv.a5) + dot(wv.a6, xv.a6) + dot(wv.a7, xv.a7);
}

@compute @workgroup_size(THREAD_WG)
fn gemv_thread(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(workgroup_id) wid: vec3<u32>) {
    // Two output features per thread: each input vector loaded serves both
    // (the last thread of an odd count computes its feature twice and
    // stores it once).
    let o0 = 2u * gid.x;
    if (o0 >= p.out_f) {
        return;
    }
    let o1 = min(o0 + 1u, p.out_f - 1u);
    let r0 = wid.y * GV_ROWS;
    let nr = min(GV_ROWS, p.rows - r0);
    let xrow = p.in_f / 4u;
    var acc0: array<f32, GV_ROWS>;
    var acc1: array<f32, GV_ROWS>;
    // W_CHUNK (from the format file) weights at a time: 32 (one Q8_0 or
    // Q4_0 block) or 64 (a K-quant group, whose bytes serve two
    // sub-blocks). Scales and addresses are worked out once per chunk and
    // each byte is loaded once, which is what costs on CPU adapters, where
    // every instruction counts; the wider chunk is slower there for the
    // small blocks (more live registers). The branch is on a constant.
    var c = 0u;
    if (W_CHUNK == 64u) {
        for (; c + 64u <= p.in_f; c += 64u) {
            let w0 = load_w64(o0 * p.in_f + c);
            let w1 = load_w64(o1 * p.in_f + c);
            for (var r = 0u; r < nr; r++) {
                let xi = (r0 + r) * xrow + c / 4u;
                let xa = load_x32(xi);
                let xb = load_x32(xi + 8u);
                acc0[r] += dot32(w0.a, xa) + dot32(w0.b, xb);
                acc1[r] += dot32(w1.a, xa) + dot32(w1.b, xb);
            }
        }
    }
    for (; c < p.in_f; c += 32u) {
        let w0 = load_w32(o0 * p.in_f + c);
        let w1 = load_w32(o1 * p.in_f + c);
        for (var r = 0u; r < nr; r++) {
            let xv = load_x32((r0 + r) * xrow + c / 4u);
            acc0[r] += dot32(w0, xv);
            acc1[r] += dot32(w1, xv);
        }
    }
    for (var r = 0u; r < nr; r++) {
        out[(r0 + r) * p.out_ld + p.col0 + o0] = acc0[r];
        if (o1 != o0) {
            out[(r0 + r) * p.out_ld + p.col0 + o1] = acc1[r];
        }
    }
}

// ---- gemm ----

const TM: u32 = GEMM_TILE; // tile rows (tokens)
const TN: u32 = GEMM_TILE; // tile columns (output features)
const TK: u32 = 32u; // slice of the shared dimension: in_f is a multiple of it
const GS: u32 = GEMM_TILE / 2u; // workgroup side: GS x GS threads, 2x2 outputs each

const_assert TM * TK == 4u * GS * GS; // one vec4 of x per thread and slice
const_assert TN * TK <= 8u * GS * GS; // at most one group of 8 weights per thread

var<workgroup> xs: array<f32, TM * TK>;
var<workgroup> ws: array<f32, TN * TK>;

@compute @workgroup_size(GS, GS)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let n0 = wid.x * TN;
    let m0 = wid.y * TM;
    let xrow = p.in_f / 4u;
    var acc00 = 0.0;
    var acc01 = 0.0;
    var acc10 = 0.0;
    var acc11 = 0.0;
    for (var k0 = 0u; k0 < p.in_f; k0 += TK) {
        // Inputs: thread t copies one vec4, of row t / (TK/4).
        let m = m0 + t / (TK / 4u);
        let kv = t % (TK / 4u);
        var xv = vec4<f32>(0.0);
        if (m < p.rows) {
            xv = x[m * xrow + k0 / 4u + kv];
        }
        let xi = t * 4u;
        xs[xi] = xv.x;
        xs[xi + 1u] = xv.y;
        xs[xi + 2u] = xv.z;
        xs[xi + 3u] = xv.w;
        // Weights: the first TN*TK/8 threads dequantize a group of 8 each.
        if (t < TN * TK / 8u) {
            let a = t / (TK / 8u);
            let kg = (t % (TK / 8u)) * 8u;
            var wv = W8(vec4<f32>(0.0), vec4<f32>(0.0));
            if (n0 + a < p.out_f) {
                wv = load_w8((n0 + a) * p.in_f + k0 + kg);
            }
            let wi = a * TK + kg;
            ws[wi] = wv.lo.x;
            ws[wi + 1u] = wv.lo.y;
            ws[wi + 2u] = wv.lo.z;
            ws[wi + 3u] = wv.lo.w;
            ws[wi + 4u] = wv.hi.x;
            ws[wi + 5u] = wv.hi.y;
            ws[wi + 6u] = wv.hi.z;
            ws[wi + 7u] = wv.hi.w;
        }
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let a0 = xs[lid.y * TK + k];
            let a1 = xs[(lid.y + GS) * TK + k];
            let b0 = ws[lid.x * TK + k];
            let b1 = ws[(lid.x + GS) * TK + k];
            acc00 += a0 * b0;
            acc01 += a0 * b1;
            acc10 += a1 * b0;
            acc11 += a1 * b1;
        }
        workgroupBarrier();
    }
    let m_a = m0 + lid.y;
    let m_b = m_a + GS;
    let n_a = n0 + lid.x;
    let n_b = n_a + GS;
    if (m_a < p.rows && n_a < p.out_f) { out[m_a * p.out_ld + p.col0 + n_a] = acc00; }
    if (m_a < p.rows && n_b < p.out_f) { out[m_a * p.out_ld + p.col0 + n_b] = acc01; }
    if (m_b < p.rows && n_a < p.out_f) { out[m_b * p.out_ld + p.col0 + n_a] = acc10; }
    if (m_b < p.rows && n_b < p.out_f) { out[m_b * p.out_ld + p.col0 + n_b] = acc11; }
}
