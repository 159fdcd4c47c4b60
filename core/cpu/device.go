package cpu

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Device runs Qwen3 operations on the CPU. Operations run synchronously in
// the calling goroutine (spreading work over the pool), so a step's results
// are ready as soon as each call returns. A Device serves one model step at
// a time; it is not safe for concurrent steps.
type Device struct {
	pool  *pool
	isa   isa
	batch *step.Step // the step BeginStep validated
	cache *kvCache   // and the KV cache it validated it against
	err   error

	perm []float32 // permuted activations for the SIMD matmul

	attnTasks   []attnTile // attentionTiled's task list, reused
	argmaxOut   []float32  // LinearArgmax's slice of logits
	argmaxChunk int        // its bound in floats (0: argmaxChunkFloats; tests set less)

	quant quantState // scratch and settings of the quantized matmuls (quant.go)

	amx       bool       // AMX tile units in use for batched matmuls
	amxParts  int        // bf16 parts per activation: 3 (exact) or 1 (bf16)
	amxCfg    [64]byte   // tile configuration
	amx8      bool       // AMX int8 too (quant_amx8.go)
	amx8Cfg   [64]byte   // its tile configuration
	amx6Cfg   [64]byte   // and for Q6_K's groups of 16
	q40Tables *q40Tables // q40int8v's index vectors (nil without AVX512-VBMI)
	amxTables [64]uint16 // constants of the packing kernels
	amxPacked []uint16   // activations packed for the tile units
	// amxPackedOf is the buffer (with its rows and width) whose contents
	// amxPacked holds, so that consecutive Linears of the same input (q, k
	// and v; gate and up) pack it once. Every other operation clears it.
	amxPackedOf struct {
		buf            *buffer
		rows, k, tiles int
		parts          int
	}
	scratch sync.Pool // []float32 score rows for attention
	// Keys and values packed as bf16 tiles for attentionAMX, and its
	// per-task buffers.
	attnKPack, attnVPack []uint16
	amxAttnPool          sync.Pool
	ropes                map[ropeKey]*ropeTable
}

var _ device.Device = (*Device)(nil)

// MaxThreads bounds Options.Threads: more workers than this only cost
// memory (each has a stack and scratch buffers).
const MaxThreads = 1024

// Options configures a Device.
type Options struct {
	// Threads is the number of goroutines a parallel operation uses;
	// 0 means runtime.GOMAXPROCS(0).
	Threads int
	// PureGo disables the assembly kernels even where the processor
	// supports them (tests compare the paths).
	PureGo bool
	// NoAVX512 keeps to the AVX2 kernels on processors with AVX-512.
	NoAVX512 bool
	// NoAMX keeps batched matmuls off the AMX tile units.
	NoAMX bool
	// Precision is the activation precision of matmuls on the AMX tile
	// units. The zero value, PrecisionFloat32, keeps results within float32
	// rounding of exact (the reference the fixtures check); for quantized
	// weights, which that path rounds to bf16, the activations keep their
	// top 16 significant bits (see linearAMX).
	Precision Precision
	// QuantFloat keeps the activations of matmuls with quantized weights
	// in float32 (a float matmul on the dequantized weights, within float32
	// rounding; portable Go, several times slower) instead of rounding
	// them to int8 blocks as llama.cpp does (see quant.go).
	QuantFloat bool
}

// New returns a CPU device. Call Close to stop its worker goroutines.
func New(opts Options) *Device {
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = min(threads, MaxThreads)
	d := &Device{pool: newPool(threads), ropes: make(map[ropeKey]*ropeTable)}
	d.quant.floatPath = opts.QuantFloat
	d.quant.tiles.New = func() any { return new([]byte) }
	switch {
	case opts.PureGo || !haveSIMD():
		d.isa = isaGo
	case opts.NoAVX512 || !haveAVX512():
		d.isa = isaAVX2
	default:
		d.isa = isaAVX512
		if !opts.NoAMX && enableAMX() {
			d.amx, d.amxCfg, d.amxTables = true, amxTileConfig(), amxPackTables()
			d.amx8, d.amx8Cfg, d.amx6Cfg = haveAMXInt8(), amx8TileConfig(), amx6TileConfig()
			if haveAVX512VBMI() {
				d.q40Tables = newQ40Tables()
			}
			d.amxParts = 3
			if opts.Precision == PrecisionBF16 {
				d.amxParts = 1
			}
		}
	}
	return d
}

// Close stops the worker goroutines. The device must not be used afterwards.
func (d *Device) Close() error {
	d.pool.close()
	return nil
}

// Name implements device.Device.
func (d *Device) Name() string {
	kind := [...]string{isaGo: "go", isaAVX2: "avx2+fma", isaAVX512: "avx512"}[d.isa]
	if d.amx {
		kind += "+amx"
		if d.amxParts == 1 {
			kind += ", bf16 activations"
		}
	}
	return fmt.Sprintf("cpu (%d threads, %s)", d.pool.threads(), kind)
}

// SIMD reports whether the assembly kernels are in use.
func (d *Device) SIMD() bool { return d.isa != isaGo }

// isa is the instruction set the kernels use.
type isa uint8

const (
	isaGo     isa = iota // portable Go
	isaAVX2              // AVX2 + FMA assembly
	isaAVX512            // AVX-512 assembly for the matmuls, AVX2 elsewhere
)
