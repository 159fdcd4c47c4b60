// attention: causal grouped-query attention over the paged KV cache.
//
// For each token r of the step and each query head h:
//   out[r, h] = sum_j softmax_j(q[r,h] · K[j] / sqrt(d)) * V[j]
// over the cache positions j = 0 .. Positions[r] of r's sequence (causal: a
// token sees the cached prefix, earlier tokens and itself). Query head h
// reads KV head h / (heads / kv_heads), so several query heads share one KV
// head (grouped-query attention). The same kernel serves prefill chunks
// (many tokens of one sequence) and decodes (one token of many sequences):
// every token carries its own position and sequence.
//
// The cache holds float32, or bfloat16 or f16 packed two per u32:
// shaders.Source declares load_k(i) and load_v(i), which widen element i
// of the layer's keys or values to float32 for the cache's type (load_k2
// and load_v2: elements i and i+1, i even, from one word of a 16-bit
// cache), and
// kv_words, the words of one slot (see kv.go and kvcache.wgsl). Everything
// after the load is float32, whatever the cache holds.
//
// Paging: position j of a sequence lives in block table[j / block_size] at
// offset j % block_size, i.e. cache slot block*block_size + offset. Tables
// come from the step metadata, one row of bt_stride entries per sequence.
//
// One workgroup of WG threads per (token, head). The keys are visited in tiles
// of WG, one key per thread, with the "online softmax": keep the running
// maximum m, the running sum l of exp(score - m) and the running weighted sum
// of values acc; when a tile raises the maximum to m', rescale l and acc by
// exp(m - m'). This gives exactly softmax(scores) · V without storing all the
// scores, in float32 throughout. Each thread owns head dimensions t, t+WG, ...
// of acc (head_dim <= MAX_HEAD_DIM).

// WG (shaders.AttentionWG), THREAD_WG (shaders.ThreadWG) and MAX_HEAD_DIM
// (shaders.AttentionMaxHeadDim) are declared by shaders.Source.
// Head dimensions per thread, at most.
const MAX_PER_THREAD: u32 = (MAX_HEAD_DIM + WG - 1u) / WG;
// A finite stand-in for -inf: GPUs may assume infinities never occur.
const NEG_BIG: f32 = -3.0e38;

struct Params {
    rows: u32,      // tokens in the step
    heads: u32,     // query heads
    kv_heads: u32,
    head_dim: u32,
    block_size: u32,
    pos_off: u32,   // element offsets in step: Positions,
    seq_off: u32,   //   the sequence index of each token,
    bt_off: u32,    //   and the block tables
    bt_stride: u32,
    scale: f32,     // 1 / sqrt(head_dim)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<u32>;

var<workgroup> qs: array<f32, MAX_HEAD_DIM>; // this head's query vector
var<workgroup> probs: array<f32, WG>; // exp(score - m') of the tile's keys
var<workgroup> slots: array<u32, WG>; // cache slot of the tile's keys
var<workgroup> red: array<f32, WG>;   // scratch for reductions

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let idx = wid.x + wid.y * nwg.x;
    if (idx >= p.rows * p.heads) {
        return;
    }
    let r = idx / p.heads;
    let h = idx % p.heads;
    let kvh = h / (p.heads / p.kv_heads);
    // Elements from one slot to the next (a 16-bit cache pads odd widths).
    let kv_stride = kv_words(p.kv_heads * p.head_dim) * KV_PER_WORD;
    // With an even head_dim every head starts on a word of the cache, and
    // the loops over it take two elements a load (load_k2): one word of a
    // 16-bit cache. The additions are in the same order as one at a time.
    let pairs = select(0u, p.head_dim, (p.head_dim & 1u) == 0u);
    let n_ctx = u32(step[p.pos_off + r]) + 1u;
    let seq = u32(step[p.seq_off + r]);
    let table = p.bt_off + seq * p.bt_stride;
    let qbase = idx * p.head_dim;

    for (var d = t; d < p.head_dim; d += WG) {
        qs[d] = q[qbase + d];
    }
    workgroupBarrier();

    var m = NEG_BIG;
    var l = 0.0;
    var acc: array<f32, MAX_PER_THREAD>;
    for (var start = 0u; start < n_ctx; start += WG) {
        // 1. One key per thread: its score.
        let j = start + t;
        var s = NEG_BIG;
        if (j < n_ctx) {
            let blk = u32(step[table + j / p.block_size]);
            let slot = blk * p.block_size + j % p.block_size;
            slots[t] = slot;
            let kb = slot * kv_stride + kvh * p.head_dim;
            var dot = 0.0;
            var d = 0u;
            for (; d < pairs; d += 2u) {
                let k2 = load_k2(kb + d);
                dot += qs[d] * k2.x;
                dot += qs[d + 1u] * k2.y;
            }
            for (; d < p.head_dim; d++) {
                dot += qs[d] * load_k(kb + d);
            }
            s = dot * p.scale;
        }
        // 2. The tile's maximum, by tree reduction.
        red[t] = s;
        workgroupBarrier();
        for (var w = WG / 2u; w > 0u; w >>= 1u) {
            if (t < w) {
                red[t] = max(red[t], red[t + w]);
            }
            workgroupBarrier();
        }
        let m_new = max(m, red[0]);
        workgroupBarrier(); // everyone has read red[0] before it is reused
        // 3. Probabilities relative to the new maximum, and their sum.
        var pj = 0.0;
        if (j < n_ctx) {
            pj = exp(s - m_new);
        }
        probs[t] = pj;
        red[t] = pj;
        workgroupBarrier();
        for (var w = WG / 2u; w > 0u; w >>= 1u) {
            if (t < w) {
                red[t] += red[t + w];
            }
            workgroupBarrier();
        }
        // 4. Rescale what was accumulated under the old maximum, add the tile.
        let corr = exp(m - m_new);
        l = l * corr + red[0];
        let cnt = min(WG, n_ctx - start);
        for (var c = 0u; c < MAX_PER_THREAD; c++) {
            let d = t + c * WG;
            if (d < p.head_dim) {
                var a = acc[c] * corr;
                for (var k = 0u; k < cnt; k++) {
                    a += probs[k] * load_v(slots[k] * kv_stride + kvh * p.head_dim + d);
                }
                acc[c] = a;
            }
        }
        m = m_new;
        workgroupBarrier(); // the next tile overwrites probs, slots and red
    }
    for (var c = 0u; c < MAX_PER_THREAD; c++) {
        let d = t + c * WG;
        if (d < p.head_dim) {
            out[qbase + d] = acc[c] / l;
        }
    }
}

// main_thread gives each (token, head) pair to a single thread that walks
// the keys one by one with the same online softmax, holding the whole
// accumulator itself. There are no barriers, which makes it the faster form
// on CPU implementations of WebGPU (SwiftShader); on a GPU the cooperative
// main is better, as it keeps WG threads busy per pair.
@compute @workgroup_size(THREAD_WG)
fn main_thread(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * THREAD_WG;
    if (idx >= p.rows * p.heads) {
        return;
    }
    let r = idx / p.heads;
    let h = idx % p.heads;
    let kvh = h / (p.heads / p.kv_heads);
    // Elements from one slot to the next (a 16-bit cache pads odd widths).
    let kv_stride = kv_words(p.kv_heads * p.head_dim) * KV_PER_WORD;
    // Pairs of elements a load where head_dim is even, as in main.
    let pairs = select(0u, p.head_dim, (p.head_dim & 1u) == 0u);
    let n_ctx = u32(step[p.pos_off + r]) + 1u;
    let table = p.bt_off + u32(step[p.seq_off + r]) * p.bt_stride;
    let qbase = idx * p.head_dim;

    var m = NEG_BIG;
    var l = 0.0;
    var acc: array<f32, MAX_HEAD_DIM>;
    for (var j = 0u; j < n_ctx; j++) {
        let blk = u32(step[table + j / p.block_size]);
        let kb = (blk * p.block_size + j % p.block_size) * kv_stride + kvh * p.head_dim;
        var dot = 0.0;
        var d = 0u;
        for (; d < pairs; d += 2u) {
            let k2 = load_k2(kb + d);
            dot += q[qbase + d] * k2.x;
            dot += q[qbase + d + 1u] * k2.y;
        }
        for (; d < p.head_dim; d++) {
            dot += q[qbase + d] * load_k(kb + d);
        }
        let s = dot * p.scale;
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let pj = exp(s - m_new);
        l = l * corr + pj;
        d = 0u;
        for (; d < pairs; d += 2u) {
            let v2 = load_v2(kb + d);
            acc[d] = acc[d] * corr + pj * v2.x;
            acc[d + 1u] = acc[d + 1u] * corr + pj * v2.y;
        }
        for (; d < p.head_dim; d++) {
            acc[d] = acc[d] * corr + pj * load_v(kb + d);
        }
        m = m_new;
    }
    for (var d = 0u; d < p.head_dim; d++) {
        out[qbase + d] = acc[d] / l;
    }
}
