// Package gguf reads and writes GGUF files, the single-file model format of
// llama.cpp and ggml: a header of typed metadata (architecture, sizes,
// tokenizer) followed by the tensors, each stored as ggml's blocks.
//
// A file is laid out as
//
//	magic "GGUF" | version | tensor count | metadata count
//	metadata:     key, value type, value          (repeated)
//	tensor infos: name, dims (innermost first), ggml type, offset
//	padding to the alignment (general.alignment, default 32)
//	data:         each tensor at its offset, padded to the alignment
//
// all little-endian. [Open] memory-maps a file (reads it where mmap is not
// available) and validates everything before returning: files come from the
// internet, so every count and length is checked against the bytes that
// remain before anything is allocated, dimensions and sizes against
// overflow, and every tensor's data range against the file and the other
// tensors. A malformed file gives an error wrapping [ErrInvalid] that says
// what is wrong and where.
//
// [Writer] writes GGUF version 3 files that llama.cpp loads.
//
// The GGUF specification is docs/gguf.md of github.com/ggml-org/ggml;
// docs/gguf.md of this repository explains the format with diagrams.
package gguf
