//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"syscall/js"
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// maxGGUFHeader bounds the bytes JavaScript may hand planGGUF before the
// header parses: the header of a Qwen3 GGUF is about 6 MB, almost all of it
// the tokenizer's 151,936 tokens and 151,387 merges.
const maxGGUFHeader = 64 << 20

// unknownSize stands for the size of a file whose length the server did not
// say: tensor ranges are checked against it, and against the real length
// once the download ends (ggufDone).
const unknownSize = 1 << 50

// ggufModel is what a loader knows of the one GGUF file it loads. Only the
// header enters the Go heap on WebGPU; the tensors go from the download to
// GPU buffers through weight writers, as safetensors shards do. On the CPU
// device the data section is one Go slice that JavaScript fills.
type ggufModel struct {
	name string
	file *gguf.File // header only (gguf.ParsePrefix)
	end  int64      // where the last tensor ends: the least the file can be

	data    []byte            // CPU: bytes [DataOffset, end) of the file
	writers []int             // WebGPU: the tensors streamed to the GPU
	copies  map[string][]byte // WebGPU: tensors the device converts (F16), by GGUF name
	done    bool
}

// newGGUFLoader starts loading a GGUF file: files may hold
// tokenizer.json and tokenizer_config.json (a repository's, which win over
// the GGUF's own tokenizer) and generation_config.json.
func newGGUFLoader(optsJSON string, files js.Value) (any, error) {
	opts, err := parseLoadOptions(optsJSON)
	if err != nil {
		return nil, err
	}
	l := &loader{opts: opts, shards: map[string]*shard{}, owner: map[string]*shard{},
		reserved: map[string]device.Weight{}, gguf: &ggufModel{}}
	if err := l.readOptionalFiles(files); err != nil {
		return nil, err
	}
	if l.dev, err = newDevice(opts); err != nil {
		return nil, err
	}
	return l.jsObject(), nil
}

// planGGUF parses the header of the GGUF file name (size bytes, or -1 when
// unknown) from prefix, its first bytes. While the header runs past the
// prefix it answers {need: n}: call again with the first n bytes. Then it
// reads the architecture and the tokenizer and answers with the plan that
// web/lib/gguf.js follows while streaming the file: segments {begin, end}
// with {ptr} or {writer}, as planShard's.
func (l *loader) planGGUF(name string, prefix []byte, size int64) (any, error) {
	g := l.gguf
	if g == nil {
		return nil, fmt.Errorf("%w: planGGUF on a safetensors loader", errBadRequest)
	}
	if g.file != nil {
		return nil, fmt.Errorf("%w: %s planned twice", errBadRequest, name)
	}
	bound := size
	if size < 0 {
		bound = unknownSize
	}
	f, err := gguf.ParsePrefix(prefix, bound)
	if errors.Is(err, gguf.ErrShortPrefix) {
		need := min(max(2*int64(len(prefix)), 1<<20), bound)
		if need > maxGGUFHeader {
			return nil, withCode(codeBadModel, fmt.Errorf("%s: the GGUF header is longer than %d MiB (not a model this engine can load?)", name, maxGGUFHeader>>20))
		}
		out := js.Global().Get("Object").New()
		out.Set("need", need)
		return out, nil
	}
	if err != nil {
		return nil, withCode(codeBadModel, fmt.Errorf("%s: %w", name, err))
	}
	if l.cfg, err = qwen3.ConfigFromGGUF(f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if l.tok == nil {
		// The repository had no tokenizer.json: the GGUF's own, if any.
		l.tok, err = tokenizer.FromGGUF(f.Metadata())
		if errors.Is(err, tokenizer.ErrNoVocabulary) {
			err = nil // token ids only, like a checkpoint without tokenizer files
		}
		if err != nil {
			return nil, fmt.Errorf("%s: tokenizer: %w", name, err)
		}
	}
	g.name, g.file, g.end = name, f, f.Header().End()
	h := f.Header()

	plan := js.Global().Get("Object").New()
	segs := js.Global().Get("Array").New()
	seg := func(begin, end int64) js.Value {
		s := js.Global().Get("Object").New()
		s.Set("begin", begin)
		s.Set("end", end)
		segs.Call("push", s)
		return s
	}
	if l.dev.gpu == nil {
		// The CPU device computes on the file's blocks in place: the data
		// section in one allocation, refused first if wasm memory cannot
		// hold it (running out would crash the instance).
		if err := fitsWasm(g.end-h.DataOffset, 0); err != nil {
			return nil, err
		}
		g.data = make([]byte, g.end-h.DataOffset)
		seg(h.DataOffset, g.end).Set("ptr", int(uintptr(unsafe.Pointer(unsafe.SliceData(g.data)))))
	} else {
		g.copies = map[string][]byte{}
		var copied int64
		for _, t := range h.Tensors { // file order, which ParsePrefix checked
			dt, ok := t.Type.DType()
			if !ok {
				return nil, withCode(codeBadModel, fmt.Errorf("%s: tensor %s has ggml type %s, which this engine does not load (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)", name, t.Name, t.Type))
			}
			s := seg(t.Begin, t.End)
			if q := l.quantizeTo(dt, t.Shape()); q != device.F32 {
				i, err := l.dev.gpu.reserveQuantized(t.Name, dt, q, t.Shape())
				if err != nil {
					return nil, ggufDeviceError(name, t.Name, q, err)
				}
				g.writers = append(g.writers, i)
				s.Set("writer", i)
				continue
			}
			if dt == device.F16 {
				// Widened to f32 on upload, from Go memory: refused first
				// if wasm memory cannot hold it (a header may lie about
				// sizes when the file's length is not known yet).
				copied += t.End - t.Begin
				if err := fitsWasm(copied, 0); err != nil {
					return nil, fmt.Errorf("%s: the f16 tensors, widened on upload: %w", name, err)
				}
				buf := make([]byte, t.End-t.Begin)
				g.copies[t.Name] = buf
				s.Set("ptr", int(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))))
				continue
			}
			i, err := l.dev.gpu.reserve(t.Name, dt, t.Shape())
			if err != nil {
				return nil, ggufDeviceError(name, t.Name, dt, err)
			}
			g.writers = append(g.writers, i)
			s.Set("writer", i)
		}
	}
	plan.Set("segments", segs)
	plan.Set("tokenizer", l.tok != nil)
	return plan, nil
}

// ggufDeviceError explains a tensor the WebGPU device refused.
func ggufDeviceError(file, tensor string, dt device.DType, err error) error {
	if dt.Quantized() {
		return withCode(codeBadModel, fmt.Errorf("%s: tensor %s is %s, which this WebGPU device cannot take (load it with device: 'cpu'): %w", file, tensor, dt, err))
	}
	return fmt.Errorf("%s: tensor %s: %w", file, tensor, err)
}

// ggufDone closes the GGUF's weight writers once the whole file (n bytes,
// or -1 when JavaScript did not count) went through the plan.
func (l *loader) ggufDone(n int64) error {
	g := l.gguf
	if g == nil || g.file == nil {
		return fmt.Errorf("%w: ggufDone before planGGUF", errBadRequest)
	}
	if n >= 0 && n < g.end {
		return withCode(codeBadModel, fmt.Errorf("%s is %d bytes, its header describes %d (truncated download?)", g.name, n, g.end))
	}
	for _, i := range g.writers {
		tensor, w, err := l.dev.gpu.finish(i)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		l.reserved[tensor] = w
	}
	g.done = true
	return nil
}

// ggufSource is the qwen3.Source over the loaded file: Hugging Face names
// looked up under their GGUF names; for WebGPU tensors the bytes are on the
// GPU already and the tensor carries none.
func (l *loader) ggufSource() qwen3.Source {
	g := l.gguf
	h := g.file.Header()
	return func(hf string) (qwen3.Tensor, error) {
		name, ok := qwen3.GGUFTensorName(hf)
		if !ok {
			return qwen3.Tensor{}, fmt.Errorf("no GGUF name for %s", hf)
		}
		info, ok := h.Lookup(name)
		if !ok {
			return qwen3.Tensor{}, withCode(codeBadModel, fmt.Errorf("%s has no tensor %s: %w", g.name, name, gguf.ErrNotFound))
		}
		dt, ok := info.Type.DType()
		if !ok {
			return qwen3.Tensor{}, withCode(codeBadModel, fmt.Errorf("%s: tensor %s has ggml type %s: %w", g.name, name, info.Type, gguf.ErrUnsupported))
		}
		t := qwen3.Tensor{DType: dt, Shape: info.Shape()}
		switch {
		case g.data != nil:
			off := h.DataOffset
			t.Data = g.data[info.Begin-off : info.End-off : info.End-off]
		case g.copies[name] != nil:
			t.Data = g.copies[name]
		}
		return t, nil
	}
}

// finishGGUF builds the model and the engine from the loaded GGUF file.
func (l *loader) finishGGUF() (js.Value, error) {
	g := l.gguf
	if g.file == nil || !g.done {
		return js.Value{}, withCode(codeBadModel, fmt.Errorf("the GGUF file was not loaded"))
	}
	dev := device.Device(l.dev.dev)
	if l.dev.gpu != nil {
		dev = &preloaded{Device: dev, weights: l.reserved, rename: ggufName}
	}
	m, err := qwen3.LoadSource(l.cfg, l.ggufSource(), dev, l.modelOptions())
	if err != nil {
		return js.Value{}, err
	}
	return l.startEngine(m)
}

// ggufName is the GGUF name of a Hugging Face tensor name ("" for none).
func ggufName(hf string) string {
	name, _ := qwen3.GGUFTensorName(hf)
	return name
}
