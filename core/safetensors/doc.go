// Package safetensors reads and writes checkpoints in the safetensors format
// used by Hugging Face models.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON describing every tensor (dtype, shape and byte range), then the raw
// little-endian tensor data. Because the data is stored exactly as a model
// uses it, a reader does not need to decode anything: on platforms with mmap
// [Open] maps the file read-only and [Tensor.Data] slices point straight into
// the mapping, so bf16 weights stay in place and the operating system pages
// them in on demand. Elsewhere (for example GOOS=js) the file is read into
// memory, and [Parse] works on bytes the caller already has.
//
// Every header is validated before any tensor is handed out: the length
// prefix is bounded, the JSON must be well formed, dtypes must be known,
// shapes non-negative, byte ranges inside the data section, non-overlapping,
// and exactly as long as shape × dtype size. Failures are [*FormatError]
// values wrapping [ErrInvalid] that name the file, the tensor and the problem.
//
// [OpenDir] opens a model directory holding either model.safetensors or a
// sharded checkpoint described by model.safetensors.index.json.
package safetensors
