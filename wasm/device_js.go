//go:build js && wasm

package main

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// deviceHandle is the device a loader builds the model on. gpu is non-nil
// for WebGPU: it reserves GPU storage that JavaScript fills while streaming.
type deviceHandle struct {
	dev   device.Device
	gpu   *gpuStreamer
	close func()
}

func newDevice(opts loadOptions) (*deviceHandle, error) {
	switch opts.Device {
	case "cpu":
		// wasm runs Go on one thread: more workers would only add
		// scheduling overhead.
		d := cpu.New(cpu.Options{Threads: 1})
		return &deviceHandle{dev: d, close: func() { d.Close() }}, nil
	case "webgpu":
		return newWebGPUDevice(opts)
	}
	return nil, fmt.Errorf("%w: unknown device %q", errBadRequest, opts.Device)
}
