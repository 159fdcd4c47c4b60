// add: dst += src over n elements (the residual connections).
//
// GPU model in one paragraph: a dispatch launches a grid of "workgroups", each
// of WG threads ("invocations") that run this function at once. Every thread
// gets a global id and handles one element. A dispatch has at most 65535
// workgroups per grid dimension, so long vectors use a 2-D grid and the
// element index is rebuilt from both coordinates.
//
// WG is not written here: shaders.Source declares it from the Go constant
// the device sizes the grid with (ElementWG), as it does for the workgroup
// sizes of every kernel.

struct Params {
    n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> src: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    // The grid is rounded up to whole workgroups: threads past the end idle.
    if (i >= p.n) {
        return;
    }
    dst[i] = dst[i] + src[i];
}

// main_self is main with src == dst (dst += dst), which cannot bind the same
// buffer twice as writable.
@compute @workgroup_size(WG)
fn main_self(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    dst[i] = dst[i] + dst[i];
}
