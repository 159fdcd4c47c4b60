// linear: out = x · wᵀ, i.e. out[r, o] = sum_i x[r, i] * w[o, i], for a
// weight w of shape [out_features, in_features] and rows rows of x.
//
// This is where a transformer spends its time, and the two phases of
// inference stress it differently, hence two entry points:
//
//   - gemv (decode: a handful of rows). Every weight is used once per row, so
//     the cost is reading the weight matrix from memory. One workgroup of 64
//     threads computes one output feature for up to 8 rows: the threads read
//     consecutive elements of that weight row (neighbouring threads touch
//     neighbouring memory, which the hardware merges into wide loads), keep a
//     partial dot product per row, and add the 64 partials in shared memory.
//
//   - gemm (prefill: many rows). Each weight is reused by every row, so the
//     cost is arithmetic and the trick is reuse: a workgroup of 16x16 threads
//     computes a 32x32 tile of out. It walks the shared dimension 16 at a
//     time, copying a 32x16 slice of x and of w into fast workgroup memory
//     once, after which every thread reads them 2x16 times from there.
//     Each thread accumulates 2x2 outputs.
//
// Both accumulate in float32. Out-of-range rows/columns (sizes that are not
// multiples of the tile) are padded with zeros on load and skipped on store.
//
// A weight larger than one storage binding (an LM head over a big vocabulary)
// is split by output rows into several buffers; the device dispatches once per
// buffer, and col0 places this buffer's outputs in out's wider rows.

struct Params {
    rows: u32,     // rows of x (tokens)
    in_f: u32,     // in_features
    out_f: u32,    // output features held by this weight buffer
    out_ld: u32,   // row stride of out (all output features)
    col0: u32,     // first output feature of this buffer
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;

// shaders.Source declares the workgroup sizes and tile shapes from Go
// constants: GV_WG (shaders.GemvWG) threads per output feature in gemv,
// GV_ROWS (shaders.GemvRows), the most rows one gemv dispatch handles (the
// device uses gemm above this), GEMM_TILE (shaders.GemmTile), the side of
// gemm's output tile, and THREAD_WG (shaders.ThreadWG).

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
    var acc: array<f32, GV_ROWS>;
    let wbase = o * p.in_f;
    for (var i = t; i < p.in_f; i += GV_WG) {
        let wv = load_w(wbase + i);
        for (var r = 0u; r < p.rows; r++) {
            acc[r] += wv * x[r * p.in_f + i];
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

// ---- gemm ----

const TM: u32 = GEMM_TILE; // tile rows (tokens)
const TN: u32 = GEMM_TILE; // tile columns (output features)
const TK: u32 = 16u; // slice of the shared dimension held in workgroup memory
const GS: u32 = GEMM_TILE / 2u; // workgroup side: GS x GS threads, 2x2 outputs each

var<workgroup> xs: array<f32, TM * TK>;
var<workgroup> ws: array<f32, TN * TK>;

@compute @workgroup_size(GS, GS)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let n0 = wid.x * TN;
    let m0 = wid.y * TM;
    var acc00 = 0.0;
    var acc01 = 0.0;
    var acc10 = 0.0;
    var acc11 = 0.0;
    for (var k0 = 0u; k0 < p.in_f; k0 += TK) {
        // The GS*GS threads fill the TM*TK (= TN*TK) entries of each tile
        // together, TM*TK / (GS*GS) each.
        for (var q = 0u; q < TM * TK / (GS * GS); q++) {
            let idx = t + q * (GS * GS);
            let a = idx / TK;
            let k = k0 + idx % TK;
            let m = m0 + a;
            let n = n0 + a;
            var xv = 0.0;
            if (m < p.rows && k < p.in_f) {
                xv = x[m * p.in_f + k];
            }
            xs[idx] = xv;
            var wv = 0.0;
            if (n < p.out_f && k < p.in_f) {
                wv = load_w(n * p.in_f + k);
            }
            ws[idx] = wv;
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

// ---- gemv_thread ----
//
// gemv_thread is the decode path without cooperation: one thread computes
// one output feature for up to GV_ROWS rows (8, unrolled by hand below),
// walking its weight row one element at a time. No shared memory and no
// barriers, which CPU implementations of WebGPU such as SwiftShader run far
// faster; on a GPU, neighbouring threads read rows in_f apart, which the
// caches absorb when in_f is small.

const_assert GV_ROWS == 8u; // the a0 .. a7 of gemv_thread

@compute @workgroup_size(THREAD_WG)
fn gemv_thread(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * THREAD_WG;
    if (o >= p.out_f) {
        return;
    }
    let wbase = o * p.in_f;
    var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
    var a4 = 0.0; var a5 = 0.0; var a6 = 0.0; var a7 = 0.0;
    for (var i = 0u; i < p.in_f; i++) {
        let wv = load_w(wbase + i);
        a0 += wv * x[i];
        if (p.rows > 1u) { a1 += wv * x[p.in_f + i]; }
        if (p.rows > 2u) { a2 += wv * x[2u * p.in_f + i]; }
        if (p.rows > 3u) { a3 += wv * x[3u * p.in_f + i]; }
        if (p.rows > 4u) { a4 += wv * x[4u * p.in_f + i]; }
        if (p.rows > 5u) { a5 += wv * x[5u * p.in_f + i]; }
        if (p.rows > 6u) { a6 += wv * x[6u * p.in_f + i]; }
        if (p.rows > 7u) { a7 += wv * x[7u * p.in_f + i]; }
    }
    let c = p.col0 + o;
    out[c] = a0;
    if (p.rows > 1u) { out[p.out_ld + c] = a1; }
    if (p.rows > 2u) { out[2u * p.out_ld + c] = a2; }
    if (p.rows > 3u) { out[3u * p.out_ld + c] = a3; }
    if (p.rows > 4u) { out[4u * p.out_ld + c] = a4; }
    if (p.rows > 5u) { out[5u * p.out_ld + c] = a5; }
    if (p.rows > 6u) { out[6u * p.out_ld + c] = a6; }
    if (p.rows > 7u) { out[7u * p.out_ld + c] = a7; }
}
