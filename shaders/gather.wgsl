// gather: out[k, c] = x[rows[k], c] for the rows listed in the step metadata
// (Batch.LogitsRows): it picks each sequence's last token before the LM head,
// so the vocabulary projection runs on a few rows instead of every token.
// One thread per output element; see add.wgsl for the grid layout and WG.

struct Params {
    n_rows: u32,   // number of rows to gather
    cols: u32,     // row width
    rows_off: u32, // element offset of the row list in step
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n_rows * p.cols) {
        return;
    }
    let k = i / p.cols;
    let c = i % p.cols;
    let src_row = u32(step[p.rows_off + k]);
    out[i] = x[src_row * p.cols + c];
}
