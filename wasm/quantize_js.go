//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/hack-pad/safejs"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/wasm/webgpu"
)

// quantChunkBytes bounds the Go memory a quantizing writer holds: this
// many bytes of whole input rows, and their quantized blocks.
const quantChunkBytes = 1 << 20

// rowQuantizer quantizes a weight on its way to the GPU (createEngine's
// quantize option on WebGPU). The download's chunks of a [rows, cols]
// BF16, F16 or F32 tensor collect in a buffer of whole rows; each full
// buffer is quantized row by row with core/quant (dequantize the row to
// float32, quantize it: exactly what qwen3.Options.Quantize does natively)
// and its blocks go to the GPU weight writer. The Go memory it holds is the
// buffer, about 1 MiB, whatever the tensor's size, and only while the
// tensor streams: the buffers are made at the first chunk and dropped with
// the last row (a shard's writers are all opened at once, before its
// tensors arrive one after another).
type rowQuantizer struct {
	name         string
	src, q       device.DType
	inRow, outRw int
	rows, done   int // rows in the tensor, rows written

	cols int
	per  int    // rows per buffer
	in   []byte // whole rows and the start of the next, in[:fill]
	fill int
	out  []byte
	row  []float32
	js   js.Value // a Uint8Array of len(out), reused
	ww   *webgpu.WeightWriter
}

// buffers makes the buffers, at the first chunk.
func (r *rowQuantizer) buffers() {
	if r.in != nil {
		return
	}
	r.in = make([]byte, r.per*r.inRow)
	r.out = make([]byte, r.per*r.outRw)
	r.row = make([]float32, r.cols)
	r.js = js.Global().Get("Uint8Array").New(r.per * r.outRw)
}

// release drops the buffers once every row went to the GPU.
func (r *rowQuantizer) release() {
	r.in, r.out, r.row, r.js = nil, nil, nil, js.Undefined()
}

// newRowQuantizer opens the GPU weight of type q for the [rows, cols]
// tensor name stored as src.
func newRowQuantizer(dev *webgpu.Device, name string, src, q device.DType, shape []int) (*rowQuantizer, error) {
	if len(shape) != 2 {
		return nil, fmt.Errorf("%w: quantizing %s: shape %v is not a matrix", errBadRequest, name, shape)
	}
	rows, cols := shape[0], shape[1]
	inRow, err := quant.RowBytes(src, cols)
	if err != nil {
		return nil, withCode(codeBadModel, fmt.Errorf("quantizing %s: %w", name, err))
	}
	outRow, err := quant.RowBytes(q, cols)
	if err != nil {
		return nil, withCode(codeBadModel, fmt.Errorf("quantizing %s to %s: %w", name, q, err))
	}
	per := max(1, quantChunkBytes/inRow)
	ww, err := dev.NewWeightWriter(name, q, shape)
	if err != nil {
		return nil, gpuError(err)
	}
	return &rowQuantizer{name: name, src: src, q: q, inRow: inRow, outRw: outRow, rows: rows, cols: cols, per: per, ww: ww}, nil
}

// write takes the next bytes of the tensor, a Uint8Array.
func (r *rowQuantizer) write(chunk js.Value) error {
	if r.done == r.rows {
		return withCode(codeBadModel, fmt.Errorf("%s: more than its %d rows", r.name, r.rows))
	}
	r.buffers()
	n := chunk.Length()
	for off := 0; off < n; {
		k := min(n-off, len(r.in)-r.fill)
		part := chunk
		if off != 0 || k != n {
			part = chunk.Call("subarray", off, off+k)
		}
		js.CopyBytesToGo(r.in[r.fill:r.fill+k], part)
		r.fill += k
		off += k
		if r.fill == len(r.in) {
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush quantizes the whole rows held and writes their blocks.
func (r *rowQuantizer) flush() error {
	if r.in == nil {
		return nil
	}
	whole := r.fill / r.inRow
	if whole == 0 {
		return nil
	}
	if r.done+whole > r.rows {
		return withCode(codeBadModel, fmt.Errorf("%s: more than its %d rows", r.name, r.rows))
	}
	for i := 0; i < whole; i++ {
		if err := quant.Dequantize(r.src, r.row, r.in[i*r.inRow:(i+1)*r.inRow]); err != nil {
			return fmt.Errorf("quantizing %s: %w", r.name, err)
		}
		if err := quant.Quantize(r.q, r.out[i*r.outRw:(i+1)*r.outRw], r.row); err != nil {
			return fmt.Errorf("quantizing %s: %w", r.name, err)
		}
	}
	m := whole * r.outRw
	js.CopyBytesToJS(r.js, r.out[:m])
	if err := r.ww.Write(safejs.Safe(r.js.Call("subarray", 0, m))); err != nil {
		return gpuError(err)
	}
	r.done += whole
	// Keep the start of a row cut by the end of the buffer.
	r.fill = copy(r.in, r.in[whole*r.inRow:r.fill])
	if r.done == r.rows && r.fill == 0 {
		r.release()
	}
	return nil
}

// close writes what is left and returns the weight; it fails unless every
// row arrived.
func (r *rowQuantizer) close() (device.Weight, error) {
	defer r.release()
	if r.in != nil {
		if err := r.flush(); err != nil {
			return nil, err
		}
	}
	if r.fill != 0 || r.done != r.rows {
		return nil, withCode(codeBadModel, fmt.Errorf("%s: got %d of its %d rows", r.name, r.done, r.rows))
	}
	return r.ww.Close()
}

// reserveQuantized is reserve for a tensor stored as src that the GPU
// keeps quantized to q: JavaScript passes the stored bytes, Go quantizes.
func (g *gpuStreamer) reserveQuantized(name string, src, q device.DType, shape []int) (int, error) {
	rq, err := newRowQuantizer(g.dev, name, src, q, shape)
	if err != nil {
		return 0, err
	}
	g.writers = append(g.writers, &gpuWriter{name: name, q: rq})
	return len(g.writers) - 1, nil
}

// quantizeTo is the type a tensor stored as dt with this shape is
// quantized to on load: createEngine's quantize for a 2-D float tensor (the
// rule of qwen3.Options.Quantize), else F32, meaning "as stored".
func (l *loader) quantizeTo(dt device.DType, shape []int) device.DType {
	q, _ := l.opts.quantize()
	if q == device.F32 || len(shape) != 2 || dt.Quantized() {
		return device.F32
	}
	return q
}

// modelOptions are the model's load options. On WebGPU the weights were
// quantized while they streamed, so the model must not quantize them again.
func (l *loader) modelOptions() qwen3.Options {
	o := l.opts.modelOptions()
	if l.dev.gpu != nil {
		o.Quantize = device.F32
	}
	return o
}
