// argmax: the index of the largest element of each row (lowest index on ties),
// so that greedy decoding reads back 4 bytes per sequence instead of the
// whole vocabulary of logits.
//
// One workgroup per row: each thread scans a strided subset of the row keeping
// its best (value, index), then a tree reduction in shared memory keeps, of
// two candidates, the larger value or, when equal, the smaller index. NaNs
// never win (a comparison with NaN is false).

// WG (shaders.RowWG) is declared by shaders.Source.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    // A very low finite float: WGSL has no -inf literal, and a first value of
    // -inf is still taken by the "no candidate yet" test below.
    var bv = -3.0e38;
    var bi = 0xffffffffu;
    for (var c = t; c < p.cols; c += WG) {
        let v = x[base + c];
        // Indices grow along the scan, so strict > keeps the first maximum;
        // the first non-NaN value is taken even if it is -inf.
        if (v > bv || (bi == 0xffffffffu && v == v)) {
            bv = v;
            bi = c;
        }
    }
    best_v[t] = bv;
    best_i[t] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            let ov = best_v[t + s];
            let oi = best_i[t + s];
            let mv = best_v[t];
            let mi = best_i[t];
            if (oi != 0xffffffffu && (mi == 0xffffffffu || ov > mv || (ov == mv && oi < mi))) {
                best_v[t] = ov;
                best_i[t] = oi;
            }
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        // A row of only NaNs has no maximum; report index 0 as the CPU does.
        out[row] = select(best_i[0], 0u, best_i[0] == 0xffffffffu);
    }
}
