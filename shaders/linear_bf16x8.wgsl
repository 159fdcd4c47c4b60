// linear_bf16x8: the decode matmul (out = x · wᵀ for at most 8 rows of x) for
// bfloat16 weights whose in_features is a multiple of 8.
//
// Same math as linear.wgsl's gemv and gemv_thread, but every memory access
// moves 16 bytes: one vec4<u32> holds 8 packed bf16 weights and two
// vec4<f32> hold the 8 matching inputs. GPUs serve 16-byte loads at full
// memory bandwidth, and CPU implementations of WebGPU (SwiftShader) pay per
// load instruction, so both run faster than with 2-byte loads. All Qwen3
// shapes qualify (hidden 1024, intermediate 3072, ...).

struct Params {
    rows: u32,   // rows of x (tokens); at most 8 except for gemv_thread
    in_f: u32,   // in_features, a multiple of 8
    out_f: u32,  // output features held by this weight buffer
    out_ld: u32, // row stride of out (all output features)
    col0: u32,   // first output feature of this buffer
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;

// dot8 is the dot product of 8 bf16 weights with 8 inputs. Word k of wv
// holds elements 2k (low half) and 2k+1 (high half); a bf16 widens to f32 by
// moving it into the high half of a word.
fn dot8(wv: vec4<u32>, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    let even = bitcast<vec4<f32>>(wv << vec4<u32>(16u));
    let odd = bitcast<vec4<f32>>(wv & vec4<u32>(0xffff0000u));
    return dot(vec4<f32>(even.x, odd.x, even.y, odd.y), xa) +
           dot(vec4<f32>(even.z, odd.z, even.w, odd.w), xb);
}

// GV_WG (shaders.GemvWG), GV_ROWS (shaders.GemvRows) and THREAD_WG
// (shaders.ThreadWG) are declared by shaders.Source.

var<workgroup> red: array<f32, GV_ROWS * GV_WG>; // partial sums

// gemv: one workgroup of GV_WG threads per output feature; thread t reads
// 16-byte words t, t+GV_WG, ... of the weight row (neighbouring threads,
// neighbouring memory), then the partial sums are added in shared memory.
@compute @workgroup_size(GV_WG)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let o = wid.x + wid.y * nwg.x;
    if (o >= p.out_f) {
        return;
    }
    let n8 = p.in_f / 8u;
    let xrow = p.in_f / 4u; // vec4s per row of x
    var acc: array<f32, GV_ROWS>;
    for (var k = t; k < n8; k += GV_WG) {
        let wv = w[o * n8 + k];
        for (var r = 0u; r < p.rows; r++) {
            acc[r] += dot8(wv, x[r * xrow + 2u * k], x[r * xrow + 2u * k + 1u]);
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

// gemv_thread: one thread per output feature walks its weight row alone,
// no shared memory and no barriers (the faster form on CPU adapters). The
// grid's y dimension takes rows GV_ROWS at a time, so on CPU adapters it also
// serves prefill (any number of rows) in place of linear.wgsl's tiled gemm,
// whose barriers are costly there.
@compute @workgroup_size(THREAD_WG)
fn gemv_thread(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(workgroup_id) wid: vec3<u32>) {
    let o = gid.x;
    if (o >= p.out_f) {
        return;
    }
    let r0 = wid.y * GV_ROWS;
    let nr = min(GV_ROWS, p.rows - r0);
    let n8 = p.in_f / 8u;
    let xrow = p.in_f / 4u;
    var acc: array<f32, GV_ROWS>;
    for (var k = 0u; k < n8; k++) {
        let wv = w[o * n8 + k];
        for (var r = 0u; r < nr; r++) {
            let xb = (r0 + r) * xrow + 2u * k;
            acc[r] += dot8(wv, x[xb], x[xb + 1u]);
        }
    }
    for (var r = 0u; r < nr; r++) {
        out[(r0 + r) * p.out_ld + p.col0 + o] = acc[r];
    }
}
