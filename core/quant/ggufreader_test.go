package quant_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// ggufTensor is one tensor of a GGUF file as the test reader finds it.
type ggufTensor struct {
	ggmlType uint32
	ne       []uint64
	data     []byte
}

// ggmlDTypes maps ggml type ids to DTypes.
var ggmlDTypes = map[uint32]device.DType{
	0: device.F32, 1: device.F16, 2: device.Q4_0, 8: device.Q8_0,
	12: device.Q4_K, 14: device.Q6_K, 30: device.BF16,
}

// readGGUF is a minimal GGUF v3 reader for the tests, independent of
// core/gguf: it skips the metadata (keeping general.alignment) and returns
// each tensor's bytes, sized from the next tensor's offset or the file end.
func readGGUF(path string) (map[string]ggufTensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &reader{b: b}
	if string(r.next(4)) != "GGUF" || r.u32() != 3 {
		return nil, errors.New("not a GGUF v3 file")
	}
	nTensors, nKV := r.u64(), r.u64()
	alignment := uint64(32)
	for range nKV {
		key := r.str()
		typ := r.u32()
		if key == "general.alignment" && typ == 4 {
			alignment = uint64(r.u32())
			continue
		}
		r.skipValue(typ)
	}
	type info struct {
		name   string
		typ    uint32
		ne     []uint64
		offset uint64
	}
	infos := make([]info, nTensors)
	for i := range infos {
		infos[i].name = r.str()
		nd := r.u32()
		for range nd {
			infos[i].ne = append(infos[i].ne, r.u64())
		}
		infos[i].typ = r.u32()
		infos[i].offset = r.u64()
	}
	if r.err != nil {
		return nil, r.err
	}
	start := (uint64(r.pos) + alignment - 1) / alignment * alignment
	out := map[string]ggufTensor{}
	for _, in := range infos {
		n := uint64(1)
		for _, d := range in.ne {
			n *= d
		}
		dt, ok := ggmlDTypes[in.typ]
		if !ok {
			return nil, fmt.Errorf("%s: ggml type %d", in.name, in.typ)
		}
		size := n / uint64(quantBlockValues(dt)) * uint64(quantBlockBytes(dt))
		lo := start + in.offset
		if lo+size > uint64(len(b)) {
			return nil, fmt.Errorf("%s: data past the end of the file", in.name)
		}
		out[in.name] = ggufTensor{ggmlType: in.typ, ne: in.ne, data: b[lo : lo+size]}
	}
	return out, nil
}

type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) next(n int) []byte {
	if r.err != nil || n < 0 || r.pos+n > len(r.b) {
		if r.err == nil {
			r.err = errors.New("truncated GGUF")
		}
		return make([]byte, max(n, 0))
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s
}

func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.next(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.next(8)) }
func (r *reader) str() string {
	n := r.u64()
	if n > uint64(len(r.b)) {
		r.err = errors.New("string too long")
		return ""
	}
	return string(r.next(int(n)))
}

func (r *reader) skipValue(typ uint32) {
	switch typ {
	case 0, 1, 7:
		r.next(1)
	case 2, 3:
		r.next(2)
	case 4, 5, 6:
		r.next(4)
	case 10, 11, 12:
		r.next(8)
	case 8:
		r.str()
	case 9:
		et, n := r.u32(), r.u64()
		for i := uint64(0); i < n && r.err == nil; i++ {
			r.skipValue(et)
		}
	default:
		r.err = fmt.Errorf("metadata value type %d", typ)
	}
}
