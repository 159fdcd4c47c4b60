// linear_q_sg: linear_q's decode gemv for adapters with the `subgroups`
// feature. It computes the same thing as linear_q.wgsl's gemv (out =
// x · wᵀ for at most GV_ROWS rows of x, a weight in one of GGUF's block
// formats, one workgroup of GV_WG threads per output feature, the weight
// row read once whatever the batch) and differs only in how the threads'
// partial sums are added up at the end.
//
// linear_q's gemv adds them through workgroup memory, halving the number
// of active threads each time: log2(GV_WG) = 6 rounds, each ending in a
// workgroupBarrier. Here each subgroup (the threads the hardware runs in
// lockstep, 4 to 128 of them depending on the adapter) adds its threads'
// sums with one subgroupAdd, which needs neither memory nor barrier; one
// thread of each subgroup writes the total to workgroup memory; after a
// single barrier, thread r adds the subgroup totals of row r.
//
// The subgroup size is not known when the kernel is written, and WGSL
// promises nothing about which threads share a subgroup. So the writer of
// each subgroup (chosen by subgroupElect) stores its total at its own
// thread index and sets that index's bit in a 64-bit mask; the adding
// thread walks the set bits in increasing order, so the sum has the same
// order on every run. With subgroups of 64 threads or more the workgroup
// is a single subgroup and the mask has one bit.
//
// The device compiles this kernel only where the adapter offers
// `subgroups` and asked for it at device creation (Options.NoSubgroups
// keeps linear_q's gemv); shaders.Source appends the block format's
// loaders as for linear_q.

enable subgroups;

struct Params {
    rows: u32,   // rows of x (tokens), at most GV_ROWS
    in_f: u32,   // in_features, a multiple of 32
    out_f: u32,  // output features held by this weight buffer
    out_ld: u32, // row stride of out (all output features)
    col0: u32,   // first output feature of this buffer
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<u32>;

// GV_WG (shaders.GemvWG) and GV_ROWS (shaders.GemvRows) are declared by
// shaders.Source.

const_assert GV_WG <= 64u; // one bit of the writers' mask per thread

var<workgroup> totals: array<f32, GV_ROWS * GV_WG>; // subgroup totals, at their writer's index
var<workgroup> writers: array<atomic<u32>, 2>;      // bit t: thread t wrote a total

// dot8 is the dot product of 8 weights with inputs x[xi], x[xi+1].
fn dot8(wv: W8, xi: u32) -> f32 {
    return dot(wv.lo, x[xi]) + dot(wv.hi, x[xi + 1u]);
}

@compute @workgroup_size(GV_WG)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let o = wid.x + wid.y * nwg.x;
    if (o >= p.out_f) {
        return; // the whole workgroup leaves: no barrier or subgroup is split
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
    // Every thread of the workgroup is here (uniform control flow), as
    // subgroupAdd and subgroupElect require; p.rows is uniform too.
    var sums: array<f32, GV_ROWS>;
    for (var r = 0u; r < p.rows; r++) {
        sums[r] = subgroupAdd(acc[r]);
    }
    if (subgroupElect()) {
        for (var r = 0u; r < p.rows; r++) {
            totals[r * GV_WG + t] = sums[r];
        }
        atomicOr(&writers[t / 32u], 1u << (t % 32u));
    }
    workgroupBarrier();
    if (t < p.rows) {
        var s = 0.0;
        for (var h = 0u; h < 2u; h++) {
            var m = atomicLoad(&writers[h]);
            while (m != 0u) {
                let i = 32u * h + countTrailingZeros(m);
                s += totals[t * GV_WG + i];
                m &= m - 1u; // clear the lowest set bit
            }
        }
        out[t * p.out_ld + p.col0 + o] = s;
    }
}
