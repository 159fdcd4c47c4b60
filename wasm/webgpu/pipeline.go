//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

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
	"kvcache":                     {kindParams, kindRead, kindStorage, kindStorage, kindStorage, kindStorage},
	"rope":                        {kindParams, kindRead, kindStorage, kindRead},
	"rmsnorm":                     {kindParams, kindStorage, kindStorage, kindRead},
	"topk":                        {kindParams, kindStorage, kindStorage},
	"argmax":                      {kindParams, kindStorage, kindStorage},
	"linear":                      {kindParams, kindStorage, kindStorage, kindRead},
	"linear_bf16x8":               {kindParams, kindStorage, kindStorage, kindRead},
	"linear_q":                    {kindParams, kindStorage, kindStorage, kindRead},
	"linear_q_sg":                 {kindParams, kindStorage, kindStorage, kindRead},
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
		layout, err = d.b.callInt("layout", arr, paramsSize)
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
