package cpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
)

// buffer is a float32 activation buffer.
type buffer struct{ data []float32 }

func (b *buffer) Len() int { return len(b.data) }

// NewBuffer implements device.Device.
func (d *Device) NewBuffer(n int) (device.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: buffer of %d elements", n)
	}
	if n > 1<<24 { // 64 MiB: worth asking whether the machine has it
		if err := sysmem.Check(fmt.Sprintf("a buffer of %d floats", n), 4*uint64(n)); err != nil {
			return nil, fmt.Errorf("cpu: %w", err)
		}
	}
	return &buffer{data: make([]float32, n)}, nil
}

// ReadFloats implements device.Device.
func (d *Device) ReadFloats(dst []float32, src device.Buffer) error {
	if d.err != nil {
		return d.err
	}
	s := d.floats("ReadFloats", src, len(dst))
	if s == nil {
		return d.err
	}
	copy(dst, s)
	return nil
}

// floats returns the first n elements of b, failing the step when b is not
// a CPU buffer or is too short.
func (d *Device) floats(op string, b device.Buffer, n int) []float32 {
	cb, ok := b.(*buffer)
	switch {
	case !ok:
		d.fail("%s: buffer %T is not from the CPU device", op, b)
		return nil
	case n < 0 || n > len(cb.data):
		d.fail("%s: buffer of %d elements, need %d", op, len(cb.data), n)
		return nil
	}
	return cb.data[:n]
}
