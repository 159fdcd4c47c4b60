package step

import (
	"errors"
	"fmt"
)

// ErrInvalid reports a Step whose fields contradict each other or the KV
// cache it is meant for.
var ErrInvalid = errors.New("invalid step")

// CacheShape is what Validate needs to know of the paged KV cache a step
// will read and write.
type CacheShape struct {
	NumBlocks int // blocks in the cache; block ids run from 0 to NumBlocks-1
	BlockSize int // tokens per block
}

// Validate checks every invariant a device relies on, once per step, so that
// a malformed step is rejected with a clear error before any kernel indexes
// memory with it: matching lengths, query ranges that partition the tokens,
// a token-to-sequence map that agrees with them, positions inside each
// sequence's context, block tables that cover the context with blocks of
// the cache (padding is -1), slots that agree with the block tables, and
// logits rows that name tokens of the step. Devices check nothing of the
// step again per layer.
func (s *Step) Validate(c CacheShape) error {
	if s == nil {
		return fmt.Errorf("%w: nil step", ErrInvalid)
	}
	n := len(s.TokenIDs)
	if n == 0 {
		return fmt.Errorf("%w: no tokens", ErrInvalid)
	}
	if len(s.Positions) != n || len(s.Slots) != n || len(s.TokenSeqs) != n {
		return fmt.Errorf("%w: %d tokens but %d positions, %d slots and %d token sequences",
			ErrInvalid, n, len(s.Positions), len(s.Slots), len(s.TokenSeqs))
	}
	seqs := len(s.QueryStarts) - 1
	if seqs < 1 {
		return fmt.Errorf("%w: QueryStarts has %d entries, want at least 2", ErrInvalid, len(s.QueryStarts))
	}
	if len(s.ContextLens) != seqs {
		return fmt.Errorf("%w: %d query ranges but %d context lengths", ErrInvalid, seqs, len(s.ContextLens))
	}
	if s.BlockSize <= 0 || s.BlockTableStride <= 0 {
		return fmt.Errorf("%w: block size %d, block table stride %d", ErrInvalid, s.BlockSize, s.BlockTableStride)
	}
	if s.BlockSize != c.BlockSize {
		return fmt.Errorf("%w: block size %d, KV cache block size %d", ErrInvalid, s.BlockSize, c.BlockSize)
	}
	if len(s.BlockTables) != seqs*s.BlockTableStride {
		return fmt.Errorf("%w: block tables hold %d entries, want %d sequences x stride %d",
			ErrInvalid, len(s.BlockTables), seqs, s.BlockTableStride)
	}
	for i, blk := range s.BlockTables {
		if blk < -1 || int64(blk) >= int64(c.NumBlocks) {
			return fmt.Errorf("%w: block table entry %d is block %d, KV cache has %d", ErrInvalid, i, blk, c.NumBlocks)
		}
	}
	if s.QueryStarts[0] != 0 || int(s.QueryStarts[seqs]) != n {
		return fmt.Errorf("%w: QueryStarts run from %d to %d, want 0 to %d", ErrInvalid, s.QueryStarts[0], s.QueryStarts[seqs], n)
	}
	bs := int64(s.BlockSize)
	for i := range seqs {
		lo, hi := s.QueryStarts[i], s.QueryStarts[i+1]
		if hi <= lo || hi > int32(n) {
			return fmt.Errorf("%w: sequence %d has query range [%d, %d)", ErrInvalid, i, lo, hi)
		}
		ctx := int64(s.ContextLens[i])
		if ctx <= 0 || ctx > int64(s.BlockTableStride)*bs {
			return fmt.Errorf("%w: sequence %d has context length %d, block tables hold at most %d",
				ErrInvalid, i, ctx, int64(s.BlockTableStride)*bs)
		}
		table := s.Table(i)
		for k := range (ctx + bs - 1) / bs {
			if table[k] < 0 {
				return fmt.Errorf("%w: sequence %d has no block %d for context length %d", ErrInvalid, i, k, ctx)
			}
		}
		for j := lo; j < hi; j++ {
			if s.TokenSeqs[j] != int32(i) {
				return fmt.Errorf("%w: token %d is mapped to sequence %d, query ranges say %d", ErrInvalid, j, s.TokenSeqs[j], i)
			}
			p := int64(s.Positions[j])
			if p < 0 || p >= ctx {
				return fmt.Errorf("%w: token %d of sequence %d at position %d, context length %d", ErrInvalid, j, i, p, ctx)
			}
			if want := int64(table[p/bs])*bs + p%bs; int64(s.Slots[j]) != want {
				return fmt.Errorf("%w: token %d (sequence %d, position %d) has slot %d, block table says %d",
					ErrInvalid, j, i, p, s.Slots[j], want)
			}
		}
	}
	if len(s.LogitsSeqs) != len(s.LogitsRows) {
		return fmt.Errorf("%w: %d logits rows but %d logits sequences", ErrInvalid, len(s.LogitsRows), len(s.LogitsSeqs))
	}
	for k, r := range s.LogitsRows {
		if r < 0 || int(r) >= n {
			return fmt.Errorf("%w: logits row %d names token %d of %d", ErrInvalid, k, r, n)
		}
		if q := s.LogitsSeqs[k]; q < 0 || int(q) >= seqs || r < s.QueryStarts[q] || r >= s.QueryStarts[q+1] {
			return fmt.Errorf("%w: logits row %d (token %d) is not in sequence %d", ErrInvalid, k, r, q)
		}
	}
	return nil
}
