//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/hack-pad/safejs"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/wasm/webgpu"
)

// gpuStreamer hands the WebGPU device's weight writers to JavaScript's
// download loop. A writer takes the Uint8Array chunks of a fetch body as
// they are and queues them into GPU buffers, so weights never enter the Go
// heap; Go only sees a JavaScript reference per chunk.
type gpuStreamer struct {
	dev     *webgpu.Device
	writers []*gpuWriter
}

type gpuWriter struct {
	name string
	ww   *webgpu.WeightWriter
	q    *rowQuantizer // instead of ww: quantizes on the way (quantize_js.go)
}

func newWebGPUDevice(opts loadOptions) (*deviceHandle, error) {
	d, err := webgpu.New(context.Background(), webgpu.Options{})
	switch {
	case errors.Is(err, webgpu.ErrNoWebGPU), errors.Is(err, webgpu.ErrNoAdapter):
		return nil, withCode(codeNoWebGPU, err)
	case err != nil:
		return nil, gpuError(err)
	}
	return &deviceHandle{dev: d, gpu: &gpuStreamer{dev: d}, close: func() { d.Close() }}, nil
}

// gpuError classifies the WebGPU device's errors for JavaScript.
func gpuError(err error) error {
	if errors.Is(err, webgpu.ErrTooLarge) {
		return withCode(codeOutOfMemory, err)
	}
	return err
}

// streams reports whether tensors of dt can be written straight to the GPU.
// Others (F16, which the device widens to f32) go through Go memory.
func (g *gpuStreamer) streams(dt device.DType) bool {
	return dt == device.BF16 || dt == device.F32
}

// reserve creates the GPU buffers of a tensor and returns the index by which
// JavaScript names its writer.
func (g *gpuStreamer) reserve(name string, dt device.DType, shape []int) (int, error) {
	ww, err := g.dev.NewWeightWriter(name, dt, shape)
	if err != nil {
		return 0, gpuError(err)
	}
	g.writers = append(g.writers, &gpuWriter{name: name, ww: ww})
	return len(g.writers) - 1, nil
}

// write passes one chunk (a Uint8Array) to writer i.
func (g *gpuStreamer) write(i int, chunk js.Value) error {
	if i >= 0 && i < len(g.writers) && g.writers[i].q != nil {
		return g.writers[i].q.write(chunk)
	}
	if i < 0 || i >= len(g.writers) || g.writers[i].ww == nil {
		return fmt.Errorf("%w: no open weight writer %d", errBadRequest, i)
	}
	return gpuError(g.writers[i].ww.Write(safejs.Safe(chunk)))
}

// finish closes writer i, checking it got every byte, and returns the weight.
func (g *gpuStreamer) finish(i int) (string, device.Weight, error) {
	w := g.writers[i]
	if w.q != nil {
		weight, err := w.q.close()
		w.q = nil
		return w.name, weight, err
	}
	if w.ww == nil {
		return "", nil, fmt.Errorf("%w: weight writer %d closed twice", errBadRequest, i)
	}
	weight, err := w.ww.Close()
	w.ww = nil
	if err != nil {
		return "", nil, withCode(codeBadModel, err)
	}
	return w.name, weight, nil
}

// crossings is the device's count of Go/JavaScript calls.
func (g *gpuStreamer) crossings() int64 { return g.dev.Stats().Crossings }
