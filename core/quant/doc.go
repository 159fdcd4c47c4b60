// Package quant describes ggml's block-quantized weight formats (Q8_0,
// Q4_0, Q4_K, Q6_K) and the float formats F32, F16 and BF16, and holds their
// reference arithmetic: dequantization bit-exact with ggml's to_float
// (ggml-quants.c dequantize_row_*), the quantizers llama-quantize uses
// without an importance matrix, byte-exact with ggml's quantize_row_*_ref,
// and the activation quantizers of llama.cpp's CPU dot products
// (ggml-cpu quantize_row_q8_0 and quantize_row_q8_K).
//
// Every function here is plain scalar Go: it is the reference that the fast
// kernels of package cpu are tested against, and the code that quantizes
// weights on load. All arithmetic is float32 without fused multiply-add,
// as ggml's reference C code compiles on x86: where Go could fuse a*b+c
// (the spec allows it, and arm64, ppc64 and s390x do), an explicit
// float32() conversion forces the rounding of the product.
//
// The formats are explained with byte diagrams in docs/quantization.md.
// The code follows ggml-quants.c and ggml-impl.h of llama.cpp (MIT
// license, Copyright (c) 2023-2024 The ggml authors) of the release that
// node-llama-cpp 3.21.1 ships; the ports of the Q8_0, Q4_0 and Q6_K
// quantizers started from those in ../shared/tools/llamacpp-bench.
package quant
