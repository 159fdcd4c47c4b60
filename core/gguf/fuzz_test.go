package gguf

import (
	"bytes"
	"os"
	"runtime"
	"testing"
)

// allocBound is the most FuzzOpen lets Parse allocate for an input of n
// bytes: every count is checked against the bytes that remain, so memory
// grows at most linearly with the file (a metadata entry or nested array
// of 12-13 bytes becomes a Value of about 120).
func allocBound(n int) uint64 { return 16*uint64(n) + 1<<20 }

// FuzzOpen feeds arbitrary bytes to the parser. Whatever the input, Parse
// must not panic, must allocate no more than allocBound, and anything it
// accepts must be self-consistent: every tensor inside the file, and
// writing the file back must give one that parses to the same metadata
// keys and tensor bytes. Seeds: the fixture files' headers and a few
// hand-made files. Run with
// go test -fuzz=FuzzOpen -fuzztime=30s ./core/gguf/
func FuzzOpen(f *testing.F) {
	for _, path := range fixtureFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > 1<<20 {
			continue // the vocab file: 11 MB is too slow to mutate
		}
		// The headers (metadata and tensor infos) are what the parser
		// reads; whole files make the fuzzer's minimisation slow, and the
		// hand-made seeds below have data sections.
		h, err := ParseHeader(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:h.DataOffset])
	}
	f.Add(header(1<<60, 0).Bytes())
	f.Add(deepArray(3))
	f.Add(header(2, 0).tensorInfo("a", TypeF32, 0, 16).tensorInfo("b", TypeQ4_0, 64, 32).dataAt(96).Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		file, err := Parse(data)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > allocBound(len(data)) {
			t.Fatalf("parsing %d bytes allocated %d", len(data), got)
		}
		if err != nil {
			return
		}
		h := file.Header()
		w := NewWriter()
		for _, kv := range file.Metadata().All() {
			if err := w.Set(kv.Key, kv.Value); err != nil {
				t.Fatalf("rewriting metadata %s: %v", kv.Key, err)
			}
		}
		for _, info := range file.Tensors() {
			if info.Begin < h.DataOffset || info.End > int64(len(data)) || info.Begin >= info.End {
				t.Fatalf("tensor %q range [%d,%d) outside the data [%d,%d)", info.Name, info.Begin, info.End, h.DataOffset, len(data))
			}
			raw, err := file.RawData(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddTensor(info.Name, info.Type, info.Dims, raw); err != nil {
				t.Fatalf("rewriting tensor %q: %v", info.Name, err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		if len(again.Metadata().Keys()) != len(file.Metadata().Keys()) || len(again.Tensors()) != len(file.Tensors()) {
			t.Fatal("rewritten file has other keys or tensors")
		}
		for _, info := range file.Tensors() {
			a, _ := file.RawData(info.Name)
			b, err := again.RawData(info.Name)
			if err != nil || !bytes.Equal(a, b) {
				t.Fatalf("tensor %q changed in the rewrite", info.Name)
			}
		}
	})
}
