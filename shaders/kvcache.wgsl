// kvcache: store each token's key and value vectors in the paged KV cache.
//
// The cache of one layer is a flat array of slots, each KVHeads*HeadDim
// floats; slot = blockID*BlockSize + offset comes from the scheduler's block
// tables (Batch.Slots), so a sequence's tokens may live in scattered blocks.
// One thread per element of k (and the same element of v); see add.wgsl
// for the grid layout and WG.

struct Params {
    rows: u32,     // tokens in the step
    kv_dim: u32,   // KVHeads * HeadDim
    slot_off: u32, // element offset of Slots in step
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<i32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.rows * p.kv_dim) {
        return;
    }
    let r = i / p.kv_dim;
    let e = i % p.kv_dim;
    let slot = step[p.slot_off + r];
    // A negative slot marks a token whose KV must not be stored.
    if (slot < 0) {
        return;
    }
    let dst = u32(slot) * p.kv_dim + e;
    k_cache[dst] = k[i];
    v_cache[dst] = v[i];
}
