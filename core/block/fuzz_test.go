package block

import "testing"

// FuzzManager drives the manager with operations decoded from the input and
// checks after each one the invariants and the shadow KV cache of the
// randomized test. The first bytes pick the hash (weak ones included), the
// pool size and the block size. The seed corpus is in
// testdata/fuzz/FuzzManager; run more with
//
//	go test -run '^$' -fuzz FuzzManager -fuzztime 10s ./core/block
func FuzzManager(f *testing.F) {
	f.Add([]byte{0, 5, 1, 0, 0, 2, 2, 3, 2, 4, 0, 1, 2, 3})
	f.Add([]byte{1, 2, 0, 0, 1, 2, 0, 1, 2, 3, 3, 3, 4, 4, 0, 0, 2})
	f.Add([]byte{3, 15, 3, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 0, 2, 2, 2, 3, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &byteChooser{data: data}
		hash := c.intn(len(harnessHashes))
		numBlocks := 1 + c.intn(16)
		bs := 1 + c.intn(4)
		h := newHarness(t, c, hash, numBlocks, bs)
		for ops := 0; !c.done() && ops < 2000; ops++ {
			h.step()
			h.check()
		}
		h.finishAll()
	})
}
