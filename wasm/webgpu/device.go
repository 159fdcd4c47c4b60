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
	paramsSize    = 64 // bytes of one dispatch's parameter block
	maxGridDim    = 65535
	gemvMaxRows   = 8 // must match GV_ROWS in linear.wgsl
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

// gbuf is a GPUBuffer held in runtime.js's table.
type gbuf struct {
	id   uint32
	size int64 // bytes
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

// KVCache is a paged KV cache: one key and one value buffer per layer.
type KVCache struct {
	dev  *Device
	spec device.KVCacheSpec
	k, v []gbuf
}

// Spec returns the cache's shape.
func (c *KVCache) Spec() device.KVCacheSpec { return c.spec }

// NewKVCache allocates the cache. WebGPU cannot report free memory, so the
// caller sizes spec from an explicit budget.
func (d *Device) NewKVCache(spec device.KVCacheSpec) (device.KVCache, error) {
	if spec.Layers <= 0 || spec.NumBlocks <= 0 || spec.BlockSize <= 0 || spec.KVHeads <= 0 || spec.HeadDim <= 0 {
		return nil, fmt.Errorf("%w: KV cache spec %+v", ErrBadArgument, spec)
	}
	if spec.HeadDim > 256 {
		return nil, fmt.Errorf("%w: head_dim %d > 256 (attention.wgsl)", ErrUnsupported, spec.HeadDim)
	}
	per := spec.LayerFloats() * 4
	if per > d.limits.maxBinding {
		return nil, fmt.Errorf("%w: KV cache layer of %d bytes exceeds the %d-byte binding limit; use fewer blocks", ErrTooLarge, per, d.limits.maxBinding)
	}
	c := &KVCache{dev: d, spec: spec}
	for l := 0; l < spec.Layers; l++ {
		k, err := d.newBuffer(per, usageStorage|usageCopySrc|usageCopyDst, fmt.Sprintf("k_cache.%d", l))
		if err != nil {
			return nil, err
		}
		v, err := d.newBuffer(per, usageStorage|usageCopySrc|usageCopyDst, fmt.Sprintf("v_cache.%d", l))
		if err != nil {
			return nil, err
		}
		c.k, c.v = append(c.k, k), append(c.v, v)
	}
	return c, nil
}

// pipeKey names a compiled kernel variant.
type pipeKey struct {
	kernel string
	entry  string
	wt     shaders.WeightType
}

type pipeline struct {
	label  string
	id     uint32
	layout int
	kinds  []int
}

// Binding kinds of a bind group layout entry (runtime.js layout()).
const (
	kindNone    = -1 // binding number unused by this entry point
	kindParams  = 0
	kindRead    = 1
	kindStorage = 2
)

// kernelKinds lists each kernel's bindings, in binding order, by kernel or
// by "kernel.entry" for entry points that bind fewer buffers.
var kernelKinds = map[string][]int{
	"rmsnorm.main_inplace":        {kindParams, kindStorage, kindNone, kindRead},
	"rmsnorm.main_thread_inplace": {kindParams, kindStorage, kindNone, kindRead},
	"swiglu.main_inplace":         {kindParams, kindStorage, kindNone, kindStorage},
	"add.main_self":               {kindParams, kindStorage},
	"add":                         {kindParams, kindStorage, kindStorage},
	"swiglu":                      {kindParams, kindStorage, kindStorage, kindStorage},
	"gather":                      {kindParams, kindRead, kindStorage, kindStorage},
	"embed":                       {kindParams, kindRead, kindRead, kindStorage},
	"kv_write":                    {kindParams, kindRead, kindStorage, kindStorage, kindStorage, kindStorage},
	"rope":                        {kindParams, kindRead, kindStorage, kindRead},
	"rmsnorm":                     {kindParams, kindStorage, kindStorage, kindRead},
	"topk":                        {kindParams, kindStorage, kindStorage},
	"argmax":                      {kindParams, kindStorage, kindStorage},
	"linear":                      {kindParams, kindStorage, kindStorage, kindRead},
	"linear_bf16x8":               {kindParams, kindStorage, kindStorage, kindRead},
	"attention":                   {kindParams, kindRead, kindStorage, kindStorage, kindStorage, kindStorage},
}

// pipeline returns the compiled pipeline for k, compiling it on first use.
func (d *Device) pipeline(k pipeKey) (*pipeline, error) {
	if p, ok := d.pipes[k]; ok {
		return p, nil
	}
	kinds, ok := kernelKinds[k.kernel+"."+k.entry]
	if !ok {
		kinds, ok = kernelKinds[k.kernel]
	}
	if !ok {
		return nil, fmt.Errorf("webgpu: no layout for kernel %q", k.kernel)
	}
	src, err := shaders.Source(k.kernel, k.wt)
	if err != nil {
		return nil, err
	}
	lkey := fmt.Sprint(kinds)
	layout, ok := d.layouts[lkey]
	if !ok {
		arr := make([]any, len(kinds))
		for i, v := range kinds {
			arr[i] = v
		}
		layout, err = d.b.callInt("layout", arr)
		if err != nil {
			return nil, d.checkLost(err)
		}
		d.layouts[lkey] = layout
	}
	label := k.kernel + "." + k.entry + "." + k.wt.String()
	prom, err := d.b.call("pipeline", src, k.entry, layout, label)
	if err != nil {
		return nil, d.checkLost(err)
	}
	v, err := d.aw.await(prom)
	if err != nil {
		return nil, d.checkLost(fmt.Errorf("webgpu: compiling %s: %w", label, err))
	}
	id, err := v.Int()
	if err != nil {
		return nil, fmt.Errorf("webgpu: compiling %s: %w", label, err)
	}
	p := &pipeline{label: label, id: uint32(id), layout: layout, kinds: kinds}
	d.pipes[k] = p
	d.stats.Pipelines++
	return p, nil
}
