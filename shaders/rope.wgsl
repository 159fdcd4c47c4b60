// rope: rotary position embedding, in place, non-interleaved ("rotate_half").
//
// For a head vector x of width d and position pos, pairs (x[j], x[j + d/2])
// are rotated by the angle pos * inv_freq[j], inv_freq[j] = theta^(-2j/d):
//   x[j]       <- x[j] * cos - x[j + d/2] * sin
//   x[j + d/2] <- x[j + d/2] * cos + x[j] * sin
// GPU sin/cos are only accurate to about 1e-3 for large angles, so the cosines
// and sines come from a table the device computes on the CPU in float64:
// table[(pos * d/2 + j) * 2] = cos, [... + 1] = sin.
// One thread per pair; see add.wgsl for the grid layout and WG.

struct Params {
    rows: u32,     // tokens in the step
    heads: u32,    // heads per row
    head_dim: u32, // d
    pos_off: u32,  // element offset of Positions in step
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<i32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let half = p.head_dim / 2u;
    if (i >= p.rows * p.heads * half) {
        return;
    }
    let j = i % half;
    let rh = i / half; // row * heads + head
    let r = rh / p.heads;
    let pos = u32(step[p.pos_off + r]);
    let t = (pos * half + j) * 2u;
    let c = table[t];
    let s = table[t + 1u];
    let base = rh * p.head_dim;
    let x1 = x[base + j];
    let x2 = x[base + j + half];
    x[base + j] = x1 * c - x2 * s;
    x[base + j + half] = x2 * c + x1 * s;
}
