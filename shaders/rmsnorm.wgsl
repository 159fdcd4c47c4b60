// rmsnorm: out = x / sqrt(mean(x^2) + eps) * w, row by row.
//
// The same kernel serves the layer norms (rows = tokens, width = hidden) and
// Qwen3's per-head q/k norms (rows = tokens*heads, width = head_dim).
//
// One workgroup of WG threads handles one row: each thread sums the squares
// of a strided subset of the row, the partial sums are combined in
// workgroup-shared memory by a tree reduction, and then every thread scales
// its own elements.
//
// WebGPU forbids binding one buffer twice when either binding is writable,
// so normalising in place (out == x, as the q/k norms do) has its own entry
// point, main_inplace, that binds x alone. Both share the code through
// functions taking the buffers' roles as flags.

// WG (shaders.RowWG) and THREAD_WG (shaders.ThreadWG) are declared by
// shaders.Source.

struct Params {
    rows: u32,
    width: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;

var<workgroup> partial: array<f32, WG>;

// row_scale returns 1/sqrt(mean(v^2) + eps) of a row, given each thread's
// partial sum of squares.
fn row_scale(ss: f32, t: u32) -> f32 {
    partial[t] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            partial[t] += partial[t + s];
        }
        workgroupBarrier();
    }
    return 1.0 / sqrt(partial[0] / f32(p.width) + p.eps);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    // More than 65535 rows need a 2-D grid of workgroups.
    let row = wid.x + wid.y * nwg.x;
    // The whole workgroup leaves together, so no thread skips a barrier.
    if (row >= p.rows) {
        return;
    }
    let base = row * p.width;
    var ss = 0.0;
    for (var c = t; c < p.width; c += WG) {
        let v = x[base + c];
        ss += v * v;
    }
    let inv = row_scale(ss, t);
    for (var c = t; c < p.width; c += WG) {
        out[base + c] = (x[base + c] * inv) * load_w(c);
    }
}

// main_inplace is main with out == x: each thread rewrites only elements it
// alone has read, after the barrier that ends the reduction.
@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.width;
    var ss = 0.0;
    for (var c = t; c < p.width; c += WG) {
        let v = out[base + c];
        ss += v * v;
    }
    let inv = row_scale(ss, t);
    for (var c = t; c < p.width; c += WG) {
        out[base + c] = (out[base + c] * inv) * load_w(c);
    }
}

// main_thread and main_thread_inplace give each row to one thread, with no
// shared memory and no barriers: the faster form on CPU implementations of
// WebGPU (SwiftShader), where a barrier costs far more than a GPU's.

@compute @workgroup_size(THREAD_WG)
fn main_thread(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * THREAD_WG;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.width;
    var ss = 0.0;
    for (var c = 0u; c < p.width; c++) {
        let v = x[base + c];
        ss += v * v;
    }
    let inv = 1.0 / sqrt(ss / f32(p.width) + p.eps);
    for (var c = 0u; c < p.width; c++) {
        out[base + c] = (x[base + c] * inv) * load_w(c);
    }
}

@compute @workgroup_size(THREAD_WG)
fn main_thread_inplace(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * THREAD_WG;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.width;
    var ss = 0.0;
    for (var c = 0u; c < p.width; c++) {
        let v = out[base + c];
        ss += v * v;
    }
    let inv = 1.0 / sqrt(ss / f32(p.width) + p.eps);
    for (var c = 0u; c < p.width; c++) {
        out[base + c] = (out[base + c] * inv) * load_w(c);
    }
}
