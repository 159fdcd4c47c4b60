// topk: the k largest elements of each row, largest first, ties broken by
// the lower index (the order argmax uses), for samplers that need only the
// top candidates: k (index, value) pairs come back instead of the whole row.
//
// One workgroup per row runs k rounds. Round j finds the best element that
// ranks strictly after the pick of round j-1 in the order "larger value,
// then lower index": the same strided scan and tree reduction as argmax.wgsl,
// with a filter. That costs k passes over the row, which is fine for the
// small k of top-k sampling and needs no sorting in shared memory.

// WG (shaders.RowWG) is declared by shaders.Source.
const NONE: u32 = 0xffffffffu;

struct Params {
    rows: u32,
    cols: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Per row, k pairs: the index and the bits of the value.
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;

// ranks_before reports whether (v, i) comes before (w, j): larger value
// first, lower index first among equal values.
fn ranks_before(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var last_v = 0.0;
    var last_i = 0u;
    var exhausted = false; // fewer than k elements rank (NaNs do not)
    for (var j = 0u; j < p.k; j++) {
        var bv = 0.0;
        var bi = NONE;
        for (var c = t; c < p.cols; c += WG) {
            let v = x[base + c];
            let after_last = j == 0u || ranks_before(last_v, last_i, v, c);
            // v == v is false for NaN, which never ranks.
            if (!exhausted && v == v && after_last && (bi == NONE || ranks_before(v, c, bv, bi))) {
                bv = v;
                bi = c;
            }
        }
        red_v[t] = bv;
        red_i[t] = bi;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s >>= 1u) {
            if (t < s) {
                let oi = red_i[t + s];
                if (oi != NONE && (red_i[t] == NONE || ranks_before(red_v[t + s], oi, red_v[t], red_i[t]))) {
                    red_v[t] = red_v[t + s];
                    red_i[t] = oi;
                }
            }
            workgroupBarrier();
        }
        let pick_v = red_v[0];
        let pick_i = red_i[0];
        if (t == 0u) {
            out[(row * p.k + j) * 2u] = pick_i;
            out[(row * p.k + j) * 2u + 1u] = bitcast<u32>(pick_v);
        }
        workgroupBarrier(); // all have read red_* before the next round
        if (pick_i == NONE) {
            exhausted = true;
        } else {
            last_v = pick_v;
            last_i = pick_i;
        }
    }
}
