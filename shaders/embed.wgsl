// embed: row i of out = row TokenIDs[i] of the embedding table.
//
// The table may be larger than one storage binding allows (Qwen3's is
// 151936 x 1024 bf16 = 311 MB), so the device splits it into row ranges, one
// buffer each, and dispatches this kernel once per range: a thread copies its
// element only if the token falls in [row0, row1). One thread per output
// element; see add.wgsl for the grid layout and WG.

struct Params {
    rows: u32,    // tokens in the step
    hidden: u32,  // embedding width
    row0: u32,    // first vocabulary row held by this buffer
    row1: u32,    // one past the last
    tok_off: u32, // element offset of TokenIDs in step
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<i32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.rows * p.hidden) {
        return;
    }
    let r = i / p.hidden;
    let c = i % p.hidden;
    let tok = u32(step[p.tok_off + r]);
    if (tok < p.row0 || tok >= p.row1) {
        return;
    }
    out[i] = load_w((tok - p.row0) * p.hidden + c);
}
