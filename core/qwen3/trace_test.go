package qwen3

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

// tracingDevice wraps a synchronous device (the CPU's) and copies out what
// the forward pass computes, under transformers' names for the
// intermediates, so that tests can compare them with a reference without
// the model knowing it is watched. It recognises each operation by the
// checkpoint name of the weight it uses: "model.layers.3.self_attn.q_proj.weight"
// is q_proj of layer 3.
type tracingDevice struct {
	device.Device
	t     testing.TB
	names map[device.Weight]string
	// got maps "name/layer+1" (layer 0 for embed and final_norm) to the
	// values the operation wrote.
	got map[string][]float32
	// layer is the layer of the last operation, and lastLinear the
	// intermediate name of the last Linear: Add, WriteKV and Attention
	// carry no weight and are named by what came before.
	layer      int
	lastLinear string
	tokens     int // in the step
}

func newTracingDevice(t testing.TB, d device.Device) *tracingDevice {
	return &tracingDevice{Device: d, t: t, names: map[device.Weight]string{}, got: map[string][]float32{}}
}

func (d *tracingDevice) record(name string, layer int, buf device.Buffer, n int) {
	out := make([]float32, n)
	require.NoError(d.t, d.Device.ReadFloats(out, buf), name)
	d.got[fmt.Sprintf("%s/%d", name, layer+1)] = out
}

// op names the intermediate a weight produces, and sets the current layer.
func (d *tracingDevice) op(w device.Weight) string {
	name := d.names[w]
	var layer int
	if _, err := fmt.Sscanf(name, "model.layers.%d.", &layer); err == nil {
		d.layer = layer
		name = name[strings.Index(name, "layers.")+len(fmt.Sprintf("layers.%d.", layer)):]
	} else {
		d.layer = -1
	}
	name = strings.TrimSuffix(name, ".weight")
	name = strings.TrimPrefix(strings.TrimPrefix(name, "self_attn."), "mlp.")
	switch name {
	case "model.embed_tokens":
		return "embed"
	case "model.norm":
		return "final_norm"
	case "down_proj":
		return "mlp"
	}
	return name
}

func (d *tracingDevice) UploadWeight(name string, dt device.DType, shape []int, data []byte) (device.Weight, error) {
	w, err := d.Device.UploadWeight(name, dt, shape, data)
	if err == nil {
		d.names[w] = name
	}
	return w, err
}

func (d *tracingDevice) BeginStep(s *step.Step, cache device.KVCache) error {
	d.tokens = s.NumTokens()
	return d.Device.BeginStep(s, cache)
}

func (d *tracingDevice) Embed(out device.Buffer, table device.Weight) {
	d.Device.Embed(out, table)
	d.record(d.op(table), d.layer, out, d.tokens*table.Shape()[1])
}

func (d *tracingDevice) RMSNorm(out, x device.Buffer, w device.Weight, rows int, eps float32) {
	d.Device.RMSNorm(out, x, w, rows, eps)
	d.record(d.op(w), d.layer, out, rows*w.Shape()[0])
}

func (d *tracingDevice) Linear(out, x device.Buffer, w device.Weight, rows int) {
	d.Device.Linear(out, x, w, rows)
	name := d.op(w)
	if name == "embed" {
		name = "lm_head" // tied to the embedding
	}
	d.lastLinear = name
	d.record(name, d.layer, out, rows*w.Shape()[0])
}

func (d *tracingDevice) WriteKV(cache device.KVCache, layer int, k, v device.Buffer, rows int) {
	d.Device.WriteKV(cache, layer, k, v, rows)
	spec := cache.Spec()
	d.record("k_rope", layer, k, rows*spec.KVHeads*spec.HeadDim) // the keys as cached: normed and rotated
}

func (d *tracingDevice) Attention(out, q device.Buffer, cache device.KVCache, layer, heads, rows int) {
	d.Device.Attention(out, q, cache, layer, heads, rows)
	d.record("attn", layer, out, rows*heads*cache.Spec().HeadDim)
}

func (d *tracingDevice) Add(dst, src device.Buffer, n int) {
	d.Device.Add(dst, src, n)
	if d.lastLinear == "mlp" { // the end of a layer: its residual stream
		d.record("layer", d.layer, dst, n)
	}
}
