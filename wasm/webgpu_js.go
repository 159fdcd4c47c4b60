//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// gpuStreamer reserves WebGPU weight storage that JavaScript fills.
type gpuStreamer struct{}

func (g *gpuStreamer) reserve(name string, dt device.DType, shape []int, nbytes int64) (device.Weight, []gpuSegment, error) {
	return nil, nil, fmt.Errorf("webgpu: not integrated yet")
}

func (g *gpuStreamer) queue() js.Value { return js.Null() }

func newWebGPUDevice(opts loadOptions) (*deviceHandle, error) {
	return nil, withCode(codeNoWebGPU, fmt.Errorf("the WebGPU device is not integrated into this build yet"))
}
