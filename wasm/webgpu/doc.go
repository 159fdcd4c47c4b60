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
// Each operation has its own file, named as in core/cpu and as its kernel in
// package shaders: embed.go, rmsnorm.go, linear.go, rope.go, kvcache.go (the
// cache and WriteKV), attention.go, swiglu.go, add.go, gather.go, argmax.go
// and topk.go. Each builds its kernel's parameters as a Go struct
// (shaders.RopeParams, ...) and sizes its grid with the workgroup constants
// of package shaders. The plumbing: device.go (New, limits), step.go
// (BeginStep and the checks of arguments), buffer.go (activations and reads),
// weights.go (uploads and the streaming WeightWriter), pipeline.go (compiled
// kernels), record.go (recording and the one crossing per step) and js.go
// with runtime.js (the JavaScript half).
//
// See docs/webgpu.md for the buffer layout, the kernels and the weight
// streaming path (WeightWriter) used by the browser loader.
package webgpu
