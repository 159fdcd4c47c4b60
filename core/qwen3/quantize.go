package qwen3

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
)

// ErrQuantize is returned for an Options.Quantize the loader cannot
// produce (anything but device.F32, device.Q8_0 and device.Q4_0).
var ErrQuantize = errors.New("qwen3: unsupported quantization")

// checkQuantize validates Options.Quantize and, when it is set, checks
// that the quantized weights fit in the memory available.
func checkQuantize(cfg Config, q device.DType) error {
	if err := validateQuantize(q); err != nil || q == device.F32 {
		return err
	}
	need, err := WeightBytesFor(cfg, q)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrQuantize, err)
	}
	return sysmem.Check(fmt.Sprintf("the weights quantized to %s", q), uint64(need))
}

// validateQuantize accepts the values of Options.Quantize: F32 (weights as
// stored), Q8_0 and Q4_0.
func validateQuantize(q device.DType) error {
	switch q {
	case device.F32, device.Q8_0, device.Q4_0:
		return nil
	}
	return fmt.Errorf("%w: %s (want q8_0 or q4_0, or f32 for the weights as stored)", ErrQuantize, q)
}

// WeightBytesFor is the memory of cfg's weights when every 2-D weight is
// stored as dtype and the norms as float32 (bf16 for dtype BF16): what the
// weights of a model loaded with Options.Quantize = dtype occupy, or of a
// bf16 checkpoint with dtype BF16. It fails when a row length is not a
// multiple of dtype's block.
func WeightBytesFor(cfg Config, dtype device.DType) (int64, error) {
	H, I, V := cfg.HiddenSize, cfg.IntermediateSize, cfg.VocabSize
	q, kv := cfg.NumAttentionHeads*cfg.HeadDim, cfg.NumKeyValueHeads*cfg.HeadDim
	mats := [][2]int{{V, H}}
	if !cfg.TieWordEmbeddings {
		mats = append(mats, [2]int{V, H})
	}
	layer := [][2]int{{q, H}, {kv, H}, {kv, H}, {H, q}, {I, H}, {I, H}, {H, I}}
	var total int64
	for _, m := range mats {
		n, err := quant.Bytes(dtype, m[0], m[1])
		if err != nil {
			return 0, err
		}
		total += int64(n)
	}
	var perLayer int64
	for _, m := range layer {
		n, err := quant.Bytes(dtype, m[0], m[1])
		if err != nil {
			return 0, err
		}
		perLayer += int64(n)
	}
	normBytes := int64(4)
	if dtype == device.BF16 {
		normBytes = 2
	}
	perLayer += normBytes * int64(2*H+2*cfg.HeadDim)
	return total + int64(cfg.NumHiddenLayers)*perLayer + normBytes*int64(H), nil
}

// WeightBytes is the memory of the model's weights as they were handed to
// the device: quantized sizes for quantized weights, a tied embedding
// counted once.
func (m *Model) WeightBytes() int64 { return m.weightBytes }

// DecodeReadBytes is what one decode step of a single sequence must read
// from memory: every weight but an untied embedding table, of which it reads
// one row (a tied table is read whole, as the output projection). It is the
// numerator of batch-1 decode's memory-bandwidth bound.
func (m *Model) DecodeReadBytes() int64 {
	if m.cfg.TieWordEmbeddings {
		return m.weightBytes
	}
	return m.weightBytes - m.embedBytes
}

// quantizeTensor quantizes a [rows, cols] BF16, F16 or F32 tensor to q
// (Q8_0 or Q4_0) with core/quant's reference quantizers, rows split across
// GOMAXPROCS goroutines. Quantized tensors are returned as they are.
func quantizeTensor(t Tensor, q device.DType) (Tensor, error) {
	if t.DType.Quantized() {
		return t, nil
	}
	if len(t.Shape) != 2 {
		return Tensor{}, fmt.Errorf("%w: %d-D tensor", ErrQuantize, len(t.Shape))
	}
	rows, cols := t.Shape[0], t.Shape[1]
	inRow, err := quant.RowBytes(t.DType, cols)
	if err != nil {
		return Tensor{}, err
	}
	if len(t.Data) != rows*inRow {
		return Tensor{}, fmt.Errorf("%w: %d bytes for a %v %s tensor", quant.ErrSize, len(t.Data), t.Shape, t.DType)
	}
	outRow, err := quant.RowBytes(q, cols)
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: %w", ErrQuantize, err)
	}
	out := make([]byte, rows*outRow)
	workers := min(runtime.GOMAXPROCS(0), rows)
	per := (rows + workers - 1) / max(workers, 1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min(rows, (w+1)*per)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			row := make([]float32, cols)
			for r := lo; r < hi; r++ {
				if err := quant.Dequantize(t.DType, row, t.Data[r*inRow:(r+1)*inRow]); err != nil {
					errs[w] = err
					return
				}
				if err := quant.Quantize(q, out[r*outRow:(r+1)*outRow], row); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Tensor{}, err
	}
	return Tensor{DType: q, Shape: t.Shape, Data: out}, nil
}
