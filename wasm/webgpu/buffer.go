//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// gbuf is a GPUBuffer held in runtime.js's table.
type gbuf struct {
	id   uint32
	size int64 // bytes
}

// newBuffer creates a GPU buffer of at least size bytes (rounded up to 4).
func (d *Device) newBuffer(size int64, usage int, label string) (gbuf, error) {
	if size < 4 {
		size = 4
	}
	size = (size + 3) &^ 3
	if size > d.limits.maxBuffer {
		return gbuf{}, fmt.Errorf("%w: buffer %s of %d bytes, limit %d", ErrTooLarge, label, size, d.limits.maxBuffer)
	}
	id, err := d.b.callInt("buffer", float64(size), usage, label)
	if err != nil {
		return gbuf{}, d.checkLost(err)
	}
	return gbuf{id: uint32(id), size: size}, nil
}

// destroy frees a buffer and forgets the bind groups that used it.
func (d *Device) destroy(g gbuf) {
	if g.size == 0 {
		return
	}
	_, _ = d.b.call("destroy", g.id)
	d.dropGroups()
}

// dropGroups forgets every cached bind group; they are rebuilt on demand.
// It runs only when a shared buffer (parameters, metadata, tables) grows.
func (d *Device) dropGroups() {
	clear(d.groups)
}

// ensure grows *g to at least size bytes, reporting whether it made a new
// buffer (whose contents are undefined).
func (d *Device) ensure(g *gbuf, size int64, usage int, label string) (bool, error) {
	if g.size >= size {
		return false, nil
	}
	n := int64(minBufferSize)
	for n < size {
		n *= 2
	}
	if n > d.limits.maxBuffer {
		n = size
	}
	nb, err := d.newBuffer(n, usage, label)
	if err != nil {
		return false, err
	}
	d.destroy(*g)
	*g = nb
	return true, nil
}

// Buffer is a float32 activation buffer on the GPU.
type Buffer struct {
	dev *Device
	buf gbuf
	n   int
}

// Len is the capacity in float32 elements.
func (b *Buffer) Len() int { return b.n }

// NewBuffer allocates a float32 buffer of n elements.
func (d *Device) NewBuffer(n int) (device.Buffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: buffer of %d elements", ErrBadArgument, n)
	}
	if int64(n)*4 > d.limits.maxBinding {
		return nil, fmt.Errorf("%w: activation buffer of %d floats exceeds the %d-byte binding limit", ErrTooLarge, n, d.limits.maxBinding)
	}
	g, err := d.newBuffer(int64(n)*4, usageStorage|usageCopySrc|usageCopyDst, "activation")
	if err != nil {
		return nil, err
	}
	return &Buffer{dev: d, buf: g, n: n}, nil
}

// ReadFloats runs what is recorded and copies the first len(dst) floats of src.
func (d *Device) ReadFloats(dst []float32, src device.Buffer) error {
	sb, ok := d.act(src, len(dst), "ReadFloats", "src")
	if !ok {
		err := d.rec.err
		d.rec.reset()
		return err
	}
	n := int64(len(dst)) * 4
	if n == 0 {
		_, err := d.flush(0)
		return err
	}
	if _, err := d.ensure(&d.read, n, usageMapRead|usageCopyDst, "read"); err != nil {
		d.rec.reset()
		return err
	}
	d.rec.cmds = append(d.rec.cmds, cmd{op: opCopy, src: sb, dst: d.read, size: n})
	v, err := d.flush(n)
	if err != nil {
		return err
	}
	raw := d.scratch(int(n))
	if err := d.b.toGo(raw, v); err != nil {
		return fmt.Errorf("webgpu: reading back: %w", err)
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}

// scratch returns a reusable byte slice of length n.
func (d *Device) scratch(n int) []byte {
	if cap(d.readBytes) < n {
		d.readBytes = make([]byte, n)
	}
	return d.readBytes[:n]
}
