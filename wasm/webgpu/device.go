//go:build js && wasm

package webgpu

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hack-pad/safejs"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// GPUBufferUsage flags (https://www.w3.org/TR/webgpu/#buffer-usage).
const (
	usageMapRead  = 0x0001
	usageCopySrc  = 0x0004
	usageCopyDst  = 0x0008
	usageUniform  = 0x0040
	usageStorage  = 0x0080
	paramsSize    = 4 * shaders.ParamWords // bytes of one dispatch's parameter block
	maxGridDim    = 65535
	minBufferSize = 256
)

// Options configure New.
type Options struct {
	// PowerPreference is passed to requestAdapter: "high-performance"
	// (the default) or "low-power".
	PowerPreference string
	// MaxWeightPartBytes caps the bytes of one weight buffer below the
	// adapter's maxStorageBufferBindingSize; 0 uses the adapter's limit.
	// Weights larger than the cap are split by rows into several buffers.
	// Tests set it small to exercise the splitting on tiny models.
	MaxWeightPartBytes int64
	// Kernels selects the form of the matmul and norm kernels: "coop"
	// (workgroups of threads cooperating through shared memory and
	// barriers, reading memory in the order GPUs prefer), "thread" (one
	// thread per output feature or row, no barriers: several times faster
	// on CPU implementations of WebGPU such as SwiftShader), or "" to choose
	// "thread" on software adapters and "coop" otherwise.
	Kernels string
	// NoSubgroups keeps the portable kernels where the adapter offers the
	// `subgroups` feature, which the device otherwise asks for and uses in
	// the decode matmul of quantized weights (linear_q_sg.wgsl). Tests set
	// it to check both forms on one adapter.
	NoSubgroups bool
}

// Stats counts the device's work since it was created.
type Stats struct {
	// Crossings is the number of calls between Go and JavaScript.
	Crossings int64
	// Submits is the number of command buffers submitted (one per read).
	Submits int64
	// Dispatches is the number of compute dispatches submitted.
	Dispatches int64
	// BindGroups is the number of bind groups created (cached after).
	BindGroups int64
	// Pipelines is the number of compute pipelines compiled.
	Pipelines int64
	// WeightBytes is the bytes of weights the recorded matmuls and
	// embeddings read: each Linear counts its whole weight once (what a
	// decode step's gemv reads; tiled kernels for larger batches read it
	// from memory about once too, then from caches), each Embed one table
	// row per token. Quantized weights count their blocks' bytes.
	WeightBytes int64
}

// Device is a device.Device running on WebGPU. It is not safe for
// concurrent use, and its methods must not be called from inside a
// JavaScript callback: they wait for GPU promises.
type Device struct {
	b       *bridge
	aw      *awaiter
	gpu     safejs.Value
	name    string
	ctx     context.Context
	cancel  context.CancelFunc
	limits  limits
	layouts map[string]int
	pipes   map[pipeKey]*pipeline
	groups  map[string]uint32
	stats   Stats

	rec    recorder
	params gbuf // uniform buffer of the dispatch parameters
	meta   gbuf // storage buffer of the step metadata
	read   gbuf // mappable staging buffer for reads
	argOut gbuf // argmax results
	rope   map[ropeKey]*ropeTable
	closed bool

	readBytes     []byte       // scratch for reads
	stage         safejs.Value // runtime.js's staging Uint8Array (stageArray)
	stageLen      int64
	threadKernels bool // Options.Kernels resolved: the barrier-free kernel forms
	timestamps    bool // the device has the timestamp-query feature
	subgroups     bool // the device has the subgroups feature and may use it
	profileNext   bool // time each dispatch of the next submission
	profile       []DispatchTime
	noVec         bool // tests: use linear.wgsl even where linear_bf16x8 applies
}

type limits struct {
	maxBinding     int64 // bytes of one storage binding
	weightPart     int64 // bytes of one weight buffer (<= maxBinding)
	maxBuffer      int64 // bytes of one buffer
	uniformAlign   int   // minUniformBufferOffsetAlignment
	storageBuffers int   // maxStorageBuffersPerShaderStage
}

var _ device.Device = (*Device)(nil)

// New requests a WebGPU adapter and device with the limits the model
// needs. It returns ErrNoWebGPU or ErrNoAdapter when the browser cannot
// provide one. ctx bounds the device's lifetime: Close releases it.
func New(ctx context.Context, opts Options) (*Device, error) {
	nav, err := safejs.Global().Get("navigator")
	if err != nil || nav.IsUndefined() {
		return nil, ErrNoWebGPU
	}
	gpu, err := nav.Get("gpu")
	if err != nil || gpu.IsUndefined() || gpu.IsNull() {
		return nil, ErrNoWebGPU
	}
	b := &bridge{}
	aw, err := newAwaiter(b)
	if err != nil {
		return nil, fmt.Errorf("webgpu: %w", err)
	}
	d, err := open(ctx, b, aw, gpu, opts)
	if err != nil {
		aw.release()
		return nil, err
	}
	return d, nil
}

func open(ctx context.Context, b *bridge, aw *awaiter, gpu safejs.Value, opts Options) (*Device, error) {
	pref := opts.PowerPreference
	if pref == "" {
		pref = "high-performance"
	}
	b.crossings++
	p, err := gpu.Call("requestAdapter", map[string]any{"powerPreference": pref})
	if err != nil {
		return nil, fmt.Errorf("webgpu: requestAdapter: %w", err)
	}
	adapter, err := aw.await(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAdapter, err)
	}
	if adapter.IsNull() || adapter.IsUndefined() {
		return nil, ErrNoAdapter
	}
	al, err := b.get(adapter, "limits")
	if err != nil {
		return nil, fmt.Errorf("webgpu: adapter limits: %w", err)
	}
	lim := func(name string) (int64, error) {
		v, err := b.get(al, name)
		if err != nil {
			return 0, err
		}
		f, err := v.Float()
		return int64(f), err
	}
	var l limits
	var e1, e2, e3, e4 error
	l.maxBinding, e1 = lim("maxStorageBufferBindingSize")
	l.maxBuffer, e2 = lim("maxBufferSize")
	ua, e3 := lim("minUniformBufferOffsetAlignment")
	sb, e4 := lim("maxStorageBuffersPerShaderStage")
	if err := errors.Join(e1, e2, e3, e4); err != nil {
		return nil, fmt.Errorf("webgpu: reading adapter limits: %w", err)
	}
	l.uniformAlign, l.storageBuffers = int(ua), int(sb)
	if l.storageBuffers < 5 {
		return nil, fmt.Errorf("%w: the kernels need 5 storage buffers per stage, adapter has %d", ErrTooLarge, l.storageBuffers)
	}
	// Ask for the adapter's own limits: the defaults (128 MiB bindings,
	// 256 MiB buffers) are too small for real checkpoints.
	feats, err := b.get(adapter, "features")
	if err != nil {
		return nil, fmt.Errorf("webgpu: adapter features: %w", err)
	}
	b.crossings++
	hasTS, err := feats.Call("has", "timestamp-query")
	if err != nil {
		return nil, fmt.Errorf("webgpu: adapter features: %w", err)
	}
	timestamps, _ := hasTS.Bool()
	var required []any
	if timestamps {
		required = append(required, "timestamp-query")
	}
	// subgroups is optional: asked for where the adapter has it, never
	// required, so the portable kernels run everywhere else.
	subgroups := false
	if !opts.NoSubgroups {
		b.crossings++
		hasSG, err := feats.Call("has", "subgroups")
		if err != nil {
			return nil, fmt.Errorf("webgpu: adapter features: %w", err)
		}
		subgroups, _ = hasSG.Bool()
	}
	if subgroups {
		required = append(required, "subgroups")
	}
	desc := map[string]any{
		"requiredFeatures": required,
		"requiredLimits": map[string]any{
			"maxStorageBufferBindingSize":     float64(l.maxBinding),
			"maxBufferSize":                   float64(l.maxBuffer),
			"maxStorageBuffersPerShaderStage": float64(l.storageBuffers),
		},
	}
	b.crossings++
	p, err = adapter.Call("requestDevice", desc)
	if err != nil {
		return nil, fmt.Errorf("webgpu: requestDevice: %w", err)
	}
	gdev, err := aw.await(p)
	if err != nil {
		return nil, fmt.Errorf("webgpu: requestDevice: %w", err)
	}
	if l.maxBinding > l.maxBuffer {
		l.maxBinding = l.maxBuffer
	}
	l.weightPart = l.maxBinding
	if opts.MaxWeightPartBytes > 0 && opts.MaxWeightPartBytes < l.weightPart {
		l.weightPart = opts.MaxWeightPartBytes
	}

	fn, err := safejs.Global().Get("Function")
	if err != nil {
		return nil, fmt.Errorf("webgpu: %w", err)
	}
	factory, err := fn.New("device", runtimeJS)
	if err != nil {
		return nil, fmt.Errorf("webgpu: loading runtime.js: %w", err)
	}
	b.crossings += 2
	rt, err := factory.Invoke(gdev)
	if err != nil {
		return nil, fmt.Errorf("webgpu: starting runtime.js: %w", err)
	}
	b.rt = rt

	d := &Device{
		b: b, aw: aw, gpu: gdev, limits: l,
		layouts: map[string]int{},
		pipes:   map[pipeKey]*pipeline{},
		groups:  map[string]uint32{},
		rope:    map[ropeKey]*ropeTable{},
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	d.name = "webgpu (" + adapterName(b, adapter) + ")"
	d.timestamps = timestamps
	d.subgroups = subgroups
	switch opts.Kernels {
	case "thread":
		d.threadKernels = true
	case "coop":
	case "":
		d.threadKernels = strings.Contains(strings.ToLower(d.name), "swiftshader") || isFallback(b, adapter)
	default:
		return nil, fmt.Errorf("%w: Kernels option %q (want coop, thread or empty)", ErrBadArgument, opts.Kernels)
	}
	d.rec.init()
	return d, nil
}

// adapterName describes the adapter from its GPUAdapterInfo.
func adapterName(b *bridge, adapter safejs.Value) string {
	info, err := b.get(adapter, "info")
	if err != nil || info.IsUndefined() {
		return "unknown adapter"
	}
	var parts []string
	for _, k := range []string{"vendor", "architecture", "description"} {
		v, err := b.get(info, k)
		if err != nil || v.Type() != safejs.TypeString {
			continue
		}
		if s, err := v.String(); err == nil && s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "unknown adapter"
	}
	return strings.Join(parts, " ")
}

// isFallback reports whether the adapter says it is a software fallback.
func isFallback(b *bridge, adapter safejs.Value) bool {
	info, err := b.get(adapter, "info")
	if err != nil || info.IsUndefined() {
		return false
	}
	v, err := b.get(info, "isFallbackAdapter")
	if err != nil {
		return false
	}
	f, err := v.Bool()
	return err == nil && f
}

// Name describes the device and its adapter.
func (d *Device) Name() string { return d.name }

// Stats returns the counts of work done since the device was created.
func (d *Device) Stats() Stats {
	s := d.stats
	s.Crossings = d.b.crossings
	return s
}

// MaxBindingBytes is the largest storage binding the device uses: the
// largest activation buffer or KV cache layer it can allocate.
func (d *Device) MaxBindingBytes() int64 { return d.limits.maxBinding }

// MaxWeightPartBytes is the largest buffer of a weight; larger weights are
// split by rows.
func (d *Device) MaxWeightPartBytes() int64 { return d.limits.weightPart }

// Close destroys the GPU device. The Device must not be used afterwards.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.cancel()
	d.aw.release()
	d.b.crossings++
	_, err := d.gpu.Call("destroy")
	return err
}

// checkLost converts a failure into ErrDeviceLost when the device is gone.
func (d *Device) checkLost(err error) error {
	v, lerr := d.b.call("lost")
	if lerr == nil && !v.IsNull() {
		msg, _ := v.String()
		return fmt.Errorf("%w: %s", ErrDeviceLost, msg)
	}
	return err
}
