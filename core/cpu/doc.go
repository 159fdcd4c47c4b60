// Package cpu is the reference device.Device: every operation of the Qwen3
// forward pass in plain Go, float32 activations with float32 accumulation,
// bf16 and quantized (ggml Q8_0, Q4_0, Q4_K, Q6_K) weights read in place
// (no widened copy in memory), and loops spread over a small pool of
// goroutines. Matmuls with quantized weights round the activations to int8
// blocks as llama.cpp does and sum integer products exactly (AVX2, AVX-512
// VNNI); Options.QuantFloat keeps them in float32 instead (see
// docs/cpu-kernels.md). On amd64 it switches at run time to
// assembly kernels: AVX2/FMA, AVX-512, and for batched matmuls the AMX tile
// units with activations split into three exact bf16 parts. The pure-Go
// kernels remain for other processors and for checking (build tag purego,
// or Options.PureGo).
//
// # Where to find
//
// Each operation of device.Device has its own file, named as in the WebGPU
// device (wasm/webgpu) and its shaders (shaders/):
//
//   - Embed: embed.go
//   - RMSNorm: rmsnorm.go
//   - Linear: linear.go, which picks a kernel: matmul.go (AVX2, AVX-512,
//     portable Go) or amx.go (the AMX tile units) for float weights,
//     quant.go for quantized ones (activation rounding and dispatch; the
//     kernels in quant_amd64.s, portable Go in quant_ref.go)
//   - RoPE: rope.go
//   - NewKVCache, WriteKV and the cache's layout: kvcache.go
//   - Attention: attention.go; attention_amx.go for the tile units (bf16)
//   - SwiGLU: swiglu.go
//   - Add: add.go
//   - GatherRows: gather.go
//   - ArgmaxRows: argmax.go
//
// and the plumbing around them:
//
//   - Device, Options, New, Name: device.go; Precision: precision.go
//   - BeginStep, the step's first error, the cache argument: step.go
//   - NewBuffer, ReadFloats: buffer.go; UploadWeight: weights.go
//   - the worker goroutines: pool.go; ReadBandwidth: bandwidth.go
//   - kernels: kernels.go (portable Go: dot products, expf), with the
//     assembly in kernels_amd64.s and amx_amd64.s, declared in
//     kernels_amd64.go (stubs in kernels_other.go); amx_linux_amd64.go asks
//     Linux for the tile registers
package cpu
