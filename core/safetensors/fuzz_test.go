package safetensors

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser. Whatever the input, Parse
// must not panic or hang, and anything it accepts must be self-consistent:
// every tensor's bytes inside the input and as long as its shape says, and
// writing the tensors back out must give a file that parses to the same
// tensors. Seeds live in testdata/fuzz/FuzzParse; run with
// go test -fuzz=FuzzParse -fuzztime=10s ./core/safetensors/
func FuzzParse(f *testing.F) {
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}`, 8))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		h := file.Header()
		var tensors []Tensor
		for _, name := range file.Names() {
			info, ok := h.Lookup(name)
			if !ok {
				t.Fatalf("listed tensor %q has no header entry", name)
			}
			if info.Begin < h.DataOffset || info.End > int64(len(data)) || info.Begin > info.End {
				t.Fatalf("tensor %q range [%d,%d) outside data [%d,%d)", name, info.Begin, info.End, h.DataOffset, len(data))
			}
			tn, ok := file.Tensor(name)
			if !ok {
				t.Fatalf("tensor %q listed but not returned", name)
			}
			if len(tn.Data) != tn.NumElements()*tn.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for shape %v of %s", name, len(tn.Data), tn.Shape, tn.DType)
			}
			tensors = append(tensors, tn)
		}
		var buf bytes.Buffer
		if err := Write(&buf, tensors, file.Metadata()); err != nil {
			t.Fatalf("rewriting an accepted file: %v", err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		for _, want := range tensors {
			got, ok := again.Tensor(want.Name)
			if !ok || got.DType != want.DType || !bytes.Equal(got.Data, want.Data) || len(got.Shape) != len(want.Shape) {
				t.Fatalf("tensor %q changed in the rewrite", want.Name)
			}
		}
	})
}
