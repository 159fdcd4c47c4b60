package cpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// BeginStep implements device.Device. It validates s against cache with
// step.Validate and clears the error of the previous step.
func (d *Device) BeginStep(s *step.Step, cache device.KVCache) error {
	d.batch, d.cache, d.err = nil, nil, nil
	d.amxPackedOf.buf = nil
	kc, ok := cache.(*kvCache)
	if !ok || kc == nil {
		return fmt.Errorf("cpu: BeginStep: cache %T is not from the CPU device", cache)
	}
	if err := s.Validate(kc.spec.Shape()); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	d.batch, d.cache = s, kc
	return nil
}

// fail records the first error of the step.
func (d *Device) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("cpu: "+format, args...)
	}
}

// ok reports whether the step may go on; it fails the step when no batch
// is active.
func (d *Device) ok(op string) bool {
	if op != "Linear" {
		d.amxPackedOf.buf = nil
	}
	if d.err == nil && d.batch == nil {
		d.fail("%s outside a step (BeginStep not called or failed)", op)
	}
	return d.err == nil
}

// layerCache resolves the cache argument of WriteKV and Attention: it must
// be the cache the step was validated against in BeginStep.
func (d *Device) layerCache(op string, c device.KVCache, layer int) *kvCache {
	kc, ok := c.(*kvCache)
	switch {
	case !ok || kc != d.cache:
		d.fail("%s: cache %T is not the one BeginStep was given", op, c)
		return nil
	case layer < 0 || layer >= kc.spec.Layers:
		d.fail("%s: layer %d of a %d-layer cache", op, layer, kc.spec.Layers)
		return nil
	}
	return kc
}
