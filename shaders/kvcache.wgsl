// kvcache: store each token's key and value vectors in the paged KV cache.
//
// The cache of one layer is a flat array of slots; slot = blockID*BlockSize
// + offset comes from the scheduler's block tables (Batch.Slots), so a
// sequence's tokens may live in scattered blocks. A slot holds the
// KVHeads*HeadDim elements of one token, in the cache's element type:
// float32, or bfloat16 or f16 packed two per u32 (kv_words words a slot;
// shaders.Source declares kv_words, kv_pack and KV_PER_WORD for the type,
// see kv.go). One thread per word of the cache, which for a 16-bit cache
// rounds and packs two elements, so no two threads share a word; see
// add.wgsl for the grid layout and WG.

struct Params {
    rows: u32,     // tokens in the step
    kv_dim: u32,   // KVHeads * HeadDim
    slot_off: u32, // element offset of Slots in step
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<i32>;
// k and v are float32 activations, read as their bits: copying or rounding
// them in integer arithmetic gives the same bytes on every GPU.
@group(0) @binding(2) var<storage, read_write> k: array<u32>;
@group(0) @binding(3) var<storage, read_write> v: array<u32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let words = kv_words(p.kv_dim);
    if (i >= p.rows * words) {
        return;
    }
    let r = i / words;
    let w = i % words;
    let slot = step[p.slot_off + r];
    // A negative slot marks a token whose KV must not be stored.
    if (slot < 0) {
        return;
    }
    let e = w * KV_PER_WORD; // first element of the word within the slot
    let src = r * p.kv_dim + e;
    let dst = u32(slot) * words + w;
    // The second element of a 16-bit pair; the padding of an odd kv_dim is 0.
    var k_hi = 0u;
    var v_hi = 0u;
    if (KV_PER_WORD == 2u && e + 1u < p.kv_dim) {
        k_hi = k[src + 1u];
        v_hi = v[src + 1u];
    }
    k_cache[dst] = kv_pack(k[src], k_hi);
    v_cache[dst] = kv_pack(v[src], v_hi);
}
