// Package webgpu is the WebGPU implementation of device.Device, for Go
// compiled to WebAssembly and run in a browser (GOOS=js GOARCH=wasm).
//
// It runs the Qwen3 forward pass through the WGSL kernels of package shaders
// and must give the same results as the CPU device within float tolerance.
// The design is driven by one cost: every call between Go and JavaScript
// (syscall/js) takes microseconds and allocates. The device therefore records
// a whole model step in Go memory (dispatches, their parameters and the
// step's metadata) and crosses into JavaScript once per step, where a small
// function (runtime.js) replays the list into a single command encoder. Stats
// reports the crossings.
//
// See docs/webgpu.md for the buffer layout, the kernels and the weight
// streaming path (WeightWriter) used by the browser loader.
package webgpu
