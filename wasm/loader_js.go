//go:build js && wasm

package main

import (
	"bytes"
	"fmt"
	"sort"
	"syscall/js"
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// loader receives a model piece by piece as web/lib/engine.js downloads it:
// first the small JSON files, then each safetensors shard as a header (from
// which it plans where every tensor's bytes go) and a completion notice, and
// finally finish, which builds the model and the engine.
//
// Where the bytes go depends on the device. The CPU device computes on bf16
// weights in place, so a shard is one Go byte slice that JavaScript fills
// directly through the wasm memory (no per-chunk call into Go). The WebGPU
// device opens a weight writer per tensor, and JavaScript passes it the
// chunks of the download, which it queues into GPU buffers with
// queue.writeBuffer: the bytes never enter the Go heap.
type loader struct {
	opts loadOptions
	cfg  qwen3.Config
	gen  *qwen3.GenerationConfig
	tok  *tokenizer.Tokenizer
	dev  *deviceHandle

	shards map[string]*shard
	// owner maps a tensor name to the shard holding it.
	owner map[string]*shard
	// reserved holds the WebGPU weights, already filled, by tensor name.
	reserved map[string]device.Weight
	// gguf is set when the model is one GGUF file (gguf_js.go) instead of
	// safetensors shards.
	gguf *ggufModel

	funcs []js.Func
}

// shard is one safetensors file of the checkpoint.
type shard struct {
	name   string
	header *safetensors.Header
	size   int64
	data   []byte            // CPU: the whole file, filled by JavaScript
	file   *safetensors.File // CPU: parsed once complete
	done   bool

	// WebGPU: the writers of the shard's tensors, and the tensors whose
	// dtype the device converts on upload, copied to Go memory.
	writers []int
	copies  []tensorCopy
}

type tensorCopy struct {
	info safetensors.TensorInfo
	data []byte
}

// Files newLoader reads from its second argument.
const (
	fileConfig          = "config.json"
	fileGenerationCfg   = "generation_config.json"
	fileTokenizer       = "tokenizer.json"
	fileTokenizerConfig = "tokenizer_config.json"
)

func newLoader(optsJSON string, files js.Value) (any, error) {
	opts, err := parseLoadOptions(optsJSON)
	if err != nil {
		return nil, err
	}
	l := &loader{opts: opts, shards: map[string]*shard{}, owner: map[string]*shard{}, reserved: map[string]device.Weight{}}
	data, err := jsFile(files, fileConfig, true)
	if err != nil {
		return nil, err
	}
	if l.cfg, err = qwen3.ParseConfig(data); err != nil {
		return nil, fmt.Errorf("%s: %w", fileConfig, err)
	}
	if err := l.readOptionalFiles(files); err != nil {
		return nil, err
	}
	if l.dev, err = newDevice(opts); err != nil {
		return nil, err
	}
	return l.jsObject(), nil
}

// jsFile is files[name] as bytes, nil when absent and not required.
func jsFile(files js.Value, name string, required bool) ([]byte, error) {
	v := files.Get(name)
	if v.IsUndefined() || v.IsNull() {
		if required {
			return nil, withCode(codeBadModel, fmt.Errorf("the model has no %s", name))
		}
		return nil, nil
	}
	return bytesFromJS(v)
}

// readOptionalFiles reads generation_config.json and the tokenizer files
// when JavaScript passed them.
func (l *loader) readOptionalFiles(files js.Value) error {
	data, err := jsFile(files, fileGenerationCfg, false)
	if err != nil {
		return err
	} else if data != nil {
		g, err := qwen3.ParseGenerationConfig(data)
		if err != nil {
			return fmt.Errorf("%s: %w", fileGenerationCfg, err)
		}
		l.gen = &g
	}
	// Without tokenizer files the engine runs on token ids only (prompt_ids),
	// as the CLI does; a tokenizer.json needs its tokenizer_config.json.
	tokJSON, err := jsFile(files, fileTokenizer, false)
	if err != nil {
		return err
	}
	tokCfg, err := jsFile(files, fileTokenizerConfig, tokJSON != nil)
	if err != nil {
		return err
	}
	if tokJSON != nil {
		if l.tok, err = tokenizer.LoadFiles(tokJSON, tokCfg); err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
	}
	return nil // the GC may have the 11 MB of JSON back
}

func (l *loader) jsObject() js.Value {
	obj := js.Global().Get("Object").New()
	add := func(name string, fn func(args []js.Value) (any, error)) {
		f := method(fn)
		l.funcs = append(l.funcs, f)
		obj.Set(name, f)
	}
	add("planShard", func(args []js.Value) (any, error) {
		name, err := argString(args, 0, "shard name")
		if err != nil {
			return nil, err
		}
		if len(args) < 2 {
			return nil, fmt.Errorf("%w: planShard needs the header bytes", errBadRequest)
		}
		header, err := bytesFromJS(args[1])
		if err != nil {
			return nil, err
		}
		return l.planShard(name, header)
	})
	add("setIndex", func(args []js.Value) (any, error) {
		if len(args) < 1 {
			return nil, fmt.Errorf("%w: setIndex needs the index bytes", errBadRequest)
		}
		data, err := bytesFromJS(args[0])
		if err != nil {
			return nil, err
		}
		// The index must name its shards as plain file names (JavaScript
		// checked them by the same rule before fetching any).
		if _, err := safetensors.ParseIndex(data); err != nil {
			return nil, withCode(codeBadModel, fmt.Errorf("model.safetensors.index.json: %w", err))
		}
		return nil, nil // the shards' headers say everything the loader needs
	})
	add("write", func(args []js.Value) (any, error) {
		// One call per chunk and tensor while weights stream to the GPU.
		if l.dev.gpu == nil || len(args) < 2 || args[0].Type() != js.TypeNumber {
			return nil, fmt.Errorf("%w: write(writer, chunk) is for the WebGPU device", errBadRequest)
		}
		return nil, l.dev.gpu.write(args[0].Int(), args[1])
	})
	add("planGGUF", func(args []js.Value) (any, error) {
		name, err := argString(args, 0, "file name")
		if err != nil {
			return nil, err
		}
		if len(args) < 3 || args[2].Type() != js.TypeNumber {
			return nil, fmt.Errorf("%w: planGGUF(name, prefix, size) needs the prefix bytes and the file size (-1 if unknown)", errBadRequest)
		}
		prefix, err := bytesFromJS(args[1])
		if err != nil {
			return nil, err
		}
		return l.planGGUF(name, prefix, int64(args[2].Float()))
	})
	add("ggufDone", func(args []js.Value) (any, error) {
		n := int64(-1)
		if len(args) > 0 && args[0].Type() == js.TypeNumber {
			n = int64(args[0].Float())
		}
		return nil, l.ggufDone(n)
	})
	add("shardDone", func(args []js.Value) (any, error) {
		name, err := argString(args, 0, "shard name")
		if err != nil {
			return nil, err
		}
		n := int64(-1)
		if len(args) > 1 && args[1].Type() == js.TypeNumber {
			n = int64(args[1].Float())
		}
		return nil, l.shardDone(name, n)
	})
	add("finish", func([]js.Value) (any, error) {
		return promise(func() (any, error) {
			h, err := l.finish()
			if err != nil {
				return nil, err // JavaScript calls abort, which releases
			}
			l.release()
			return h, nil
		}), nil
	})
	add("abort", func([]js.Value) (any, error) {
		l.release()
		l.dev.close()
		return nil, nil
	})
	return obj
}

func (l *loader) release() {
	for _, f := range l.funcs {
		f.Release()
	}
	l.funcs = nil
}

// planShard validates a shard's header and answers with the plan that
// web/lib/checkpoint.js follows while streaming the rest of the file: a list of
// segments {begin, end} (absolute file offsets) each with either {ptr} (an
// address in the wasm memory to copy the bytes to) or {writer} (the index of
// a WebGPU weight writer to pass them to, through write).
func (l *loader) planShard(name string, header []byte) (any, error) {
	if err := safetensors.ValidShardName(name); err != nil {
		return nil, withCode(codeBadModel, err)
	}
	if _, ok := l.shards[name]; ok {
		return nil, fmt.Errorf("%w: shard %s planned twice", errBadRequest, name)
	}
	// The real file size is not known before the download ends; a huge
	// bound lets the header validate, and the tensors' extent gives the size.
	h, err := safetensors.ReadHeader(bytes.NewReader(header), 1<<50)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sh := &shard{name: name, header: h, size: h.DataOffset}
	for _, t := range h.Tensors {
		if t.End > sh.size {
			sh.size = t.End
		}
		if prev, dup := l.owner[t.Name]; dup {
			return nil, withCode(codeBadModel, fmt.Errorf("tensor %s is in both %s and %s", t.Name, prev.name, name))
		}
		l.owner[t.Name] = sh
	}
	l.shards[name] = sh

	plan := js.Global().Get("Object").New()
	segs := js.Global().Get("Array").New()
	if l.dev.gpu == nil {
		// One allocation for the whole file. Go's garbage collector never
		// moves objects, so the address stays valid while sh.data lives.
		sh.data = make([]byte, sh.size)
		seg := js.Global().Get("Object").New()
		seg.Set("begin", 0)
		seg.Set("end", sh.size)
		seg.Set("ptr", int(uintptr(unsafe.Pointer(unsafe.SliceData(sh.data)))))
		segs.Call("push", seg)
	} else {
		// Tensors in file order, so JavaScript meets segments as bytes
		// arrive. Each tensor gets a weight writer on the GPU; JavaScript
		// passes it the chunks (views of the fetch body) by index.
		ts := append([]safetensors.TensorInfo(nil), h.Tensors...)
		sort.Slice(ts, func(i, j int) bool { return ts[i].Begin < ts[j].Begin })
		for _, t := range ts {
			if l.cfg.TieWordEmbeddings && t.Name == "lm_head.weight" {
				// Checkpoints of tied models may still carry a copy of the
				// embedding as lm_head (Qwen3-0.6B's does: 311 MB). The
				// model never reads it; its bytes are dropped unplanned.
				continue
			}
			dt, err := deviceDType(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			seg := js.Global().Get("Object").New()
			seg.Set("begin", t.Begin)
			seg.Set("end", t.End)
			if q := l.quantizeTo(dt, t.Shape); q != device.F32 {
				// Quantized in Go on the way, in chunks of rows.
				i, err := l.dev.gpu.reserveQuantized(t.Name, dt, q, t.Shape)
				if err != nil {
					return nil, fmt.Errorf("%s: tensor %s: %w", name, t.Name, err)
				}
				sh.writers = append(sh.writers, i)
				seg.Set("writer", i)
			} else if l.dev.gpu.streams(dt) {
				i, err := l.dev.gpu.reserve(t.Name, dt, t.Shape)
				if err != nil {
					return nil, fmt.Errorf("%s: tensor %s: %w", name, t.Name, err)
				}
				sh.writers = append(sh.writers, i)
				seg.Set("writer", i)
			} else {
				// The device converts this dtype on upload, from Go memory.
				buf := make([]byte, t.End-t.Begin)
				sh.copies = append(sh.copies, tensorCopy{info: t, data: buf})
				seg.Set("ptr", int(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))))
			}
			segs.Call("push", seg)
		}
	}
	plan.Set("segments", segs)
	return plan, nil
}

func (l *loader) shardDone(name string, n int64) error {
	sh, ok := l.shards[name]
	if !ok {
		return fmt.Errorf("%w: shard %s was never planned", errBadRequest, name)
	}
	if n >= 0 && n < sh.size {
		return withCode(codeBadModel, fmt.Errorf("%s is %d bytes, its header describes %d (truncated download?)", name, n, sh.size))
	}
	if sh.data != nil {
		f, err := safetensors.Parse(sh.data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		sh.file = f
	}
	for _, i := range sh.writers {
		tensor, w, err := l.dev.gpu.finish(i)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		l.reserved[tensor] = w
	}
	sh.done = true
	return nil
}

// tensor is the qwen3.TensorFunc over the streamed shards. For WebGPU the
// bytes are already on the GPU: the tensor carries no data, and the device
// wrapper hands back the reserved weight instead of uploading.
func (l *loader) tensor(name string) (safetensors.Tensor, error) {
	sh, ok := l.owner[name]
	if !ok {
		return safetensors.Tensor{}, fmt.Errorf("%w: %s", safetensors.ErrTensorNotFound, name)
	}
	if !sh.done {
		return safetensors.Tensor{}, withCode(codeBadModel, fmt.Errorf("shard %s holding %s was not downloaded", sh.name, name))
	}
	if sh.file != nil {
		t, ok := sh.file.Tensor(name)
		if !ok {
			return safetensors.Tensor{}, fmt.Errorf("%w: %s", safetensors.ErrTensorNotFound, name)
		}
		return t, nil
	}
	for _, c := range sh.copies {
		if c.info.Name == name {
			return safetensors.Tensor{Name: name, DType: c.info.DType, Shape: c.info.Shape, Data: c.data}, nil
		}
	}
	info, _ := sh.header.Lookup(name)
	return safetensors.Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape}, nil
}

func (l *loader) finish() (js.Value, error) {
	if l.gguf != nil {
		return l.finishGGUF()
	}
	if len(l.shards) == 0 {
		return js.Value{}, withCode(codeBadModel, fmt.Errorf("no safetensors shard was loaded"))
	}
	dev := device.Device(l.dev.dev)
	if l.dev.gpu != nil {
		dev = &preloaded{Device: dev, weights: l.reserved}
	}
	m, err := qwen3.LoadFrom(l.cfg, l.tensor, dev, l.modelOptions())
	if err != nil {
		return js.Value{}, err
	}
	return l.startEngine(m)
}

// startEngine sizes the KV cache for the loaded model and starts the engine.
func (l *loader) startEngine(m *qwen3.Model) (js.Value, error) {
	cache, err := l.opts.kvCache(m.KVBytesPerToken())
	if err != nil {
		return js.Value{}, err
	}
	if err := l.checkWasmMemory(m.KVCacheSpec(cache.NumBlocks, cache.BlockSize).Bytes()); err != nil {
		return js.Value{}, err
	}
	e, err := newEngine(l, m, cache)
	if err != nil {
		return js.Value{}, err
	}
	return e.jsObject(), nil
}

func deviceDType(t safetensors.TensorInfo) (device.DType, error) {
	switch t.DType {
	case safetensors.BF16:
		return device.BF16, nil
	case safetensors.F16:
		return device.F16, nil
	case safetensors.F32:
		return device.F32, nil
	}
	return 0, withCode(codeBadModel, fmt.Errorf("tensor %s has dtype %s, want BF16, F16 or F32", t.Name, t.DType))
}

// preloaded is a device whose weights were streamed in before the model
// asked for them: UploadWeight returns the weight already on the device.
type preloaded struct {
	device.Device
	weights map[string]device.Weight
	// rename, when set, maps the model's (Hugging Face) tensor names to
	// the names weights are kept under (a GGUF file's).
	rename func(string) string
}

func (p *preloaded) UploadWeight(name string, dtype device.DType, shape []int, data []byte) (device.Weight, error) {
	key := name
	if p.rename != nil {
		key = p.rename(name)
	}
	w, ok := p.weights[key]
	if !ok {
		// Not streamed (a dtype the device converts): upload from Go memory.
		return p.Device.UploadWeight(name, dtype, shape, data)
	}
	got := w.Shape()
	if len(got) != len(shape) {
		return nil, fmt.Errorf("%s: streamed shape %v, model wants %v", name, got, shape)
	}
	for i := range got {
		if got[i] != shape[i] {
			return nil, fmt.Errorf("%s: streamed shape %v, model wants %v", name, got, shape)
		}
	}
	return w, nil
}

// checkWasmMemory refuses, before the engine allocates it, a KV cache of
// kvCache bytes that cannot fit in wasm memory next to a CPU-device model's
// weights: running out there is not an error Go can return but a crash of
// the whole instance.
func (l *loader) checkWasmMemory(kvCache int64) error {
	if l.dev.gpu != nil {
		return nil // weights and cache live on the GPU
	}
	var weights int64
	for _, sh := range l.shards {
		weights += sh.size
	}
	if l.gguf != nil {
		weights += int64(len(l.gguf.data))
	}
	if q, _ := l.opts.quantize(); q != device.F32 {
		// The quantized copies live next to the stored weights.
		n, err := qwen3.WeightBytesFor(l.cfg, q)
		if err != nil {
			return withCode(codeBadModel, err)
		}
		weights += n
	}
	return fitsWasm(weights, kvCache)
}
