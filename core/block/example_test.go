package block_test

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
)

// Two prompts that share a system prompt: the second reuses its blocks.
func ExampleManager() {
	m, err := block.NewManager(8, 4, true)
	if err != nil {
		panic(err)
	}
	system := []int32{1, 2, 3, 4, 5, 6, 7, 8} // two full blocks
	first := append(append([]int32{}, system...), 100, 101)
	second := append(append([]int32{}, system...), 200)

	var a, b block.Table
	if _, err := m.Allocate(&a, first); err != nil {
		panic(err)
	}
	// The model computes all of first's tokens; their full blocks become
	// reusable.
	m.Commit(&a, first, len(first))

	cached, err := m.Allocate(&b, second)
	if err != nil {
		panic(err)
	}
	fmt.Println("first:", a.Blocks(), "second:", b.Blocks(), "cached tokens:", cached)
	fmt.Println("slot of second's position 8:", b.Slot(8, m.BlockSize()))

	m.Free(&a)
	m.Free(&b)
	st := m.Stats()
	fmt.Printf("used %d, free %d (of which cached %d)\n", st.Used, st.Free, st.Cached)
	// Output:
	// first: [0 1 2] second: [0 1 3] cached tokens: 8
	// slot of second's position 8: 12
	// used 0, free 8 (of which cached 2)
}
