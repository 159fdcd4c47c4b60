package webgpu

import "errors"

// Errors callers can test for with errors.Is.
var (
	// ErrNoWebGPU means the JavaScript environment has no navigator.gpu: the
	// browser lacks WebGPU or has it disabled. Fall back to the CPU device.
	ErrNoWebGPU = errors.New("webgpu: navigator.gpu is not available")
	// ErrNoAdapter means WebGPU exists but offered no adapter (no usable GPU).
	ErrNoAdapter = errors.New("webgpu: no adapter")
	// ErrDeviceLost means the GPU device was lost (driver reset, tab in the
	// background for too long, ...). The Device cannot be used any more.
	ErrDeviceLost = errors.New("webgpu: device lost")
	// ErrTooLarge means a tensor or cache does not fit the adapter's limits.
	ErrTooLarge = errors.New("webgpu: exceeds adapter limits")
	// ErrBadArgument means an operation was given inconsistent sizes, buffers
	// or step metadata.
	ErrBadArgument = errors.New("webgpu: bad argument")
	// ErrUnsupported means a data type or path the device does not implement.
	ErrUnsupported = errors.New("webgpu: unsupported")
)
