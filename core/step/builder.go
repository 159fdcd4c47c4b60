package step

import "slices"

// Builder lays out a Step sequence by sequence: the scheduler fills each
// step with one, and so do benchmarks and tests that run the model on
// hand-picked tokens. A Builder reuses its arrays from one step to the
// next, so a steady stream of steps allocates nothing.
//
//	var b step.Builder
//	b.Reset(16, 0)
//	b.Add(prompt, 0, len(prompt), blocks, 1) // prefill, logits of the last token
//	s := b.Step()
type Builder struct {
	s Step
}

// Reset starts a new, empty step of blockSize-token blocks. stride is the
// block-table width when the caller knows it (the longest table of the
// step), or 0 to let it grow to the longest table added. The Step returned
// by an earlier call to Step is overwritten.
func (b *Builder) Reset(blockSize, stride int) {
	s := &b.s
	s.TokenIDs, s.Positions, s.Slots, s.TokenSeqs = s.TokenIDs[:0], s.Positions[:0], s.Slots[:0], s.TokenSeqs[:0]
	s.QueryStarts = append(s.QueryStarts[:0], 0)
	s.ContextLens, s.BlockTables = s.ContextLens[:0], s.BlockTables[:0]
	s.LogitsRows, s.LogitsSeqs = s.LogitsRows[:0], s.LogitsSeqs[:0]
	s.BlockSize, s.BlockTableStride = blockSize, stride
}

// Add appends one sequence that computes tokens[from:to] (positions from to
// to-1) with the block table blocks, which must cover position to-1. It
// asks for the logits of the last logits tokens of the chunk: 0 for none
// (a prefill chunk that is not the last), 1 for the next token's (the usual
// case), up to to-from for every token's (scoring a prompt, or verifying
// proposed tokens). The tokens' slots are derived from the block table, and
// the sequence's context length is to.
func (b *Builder) Add(tokens []int32, from, to int, blocks []int32, logits int) {
	s := &b.s
	if len(blocks) > s.BlockTableStride {
		b.widen(len(blocks))
	}
	seq := int32(len(s.QueryStarts) - 1)
	bs := s.BlockSize
	if to-from == 1 { // a decode: the common case, worth its own path
		s.TokenIDs = append(s.TokenIDs, tokens[from])
		s.Positions = append(s.Positions, int32(from))
		s.Slots = append(s.Slots, blocks[from/bs]*int32(bs)+int32(from%bs))
		s.TokenSeqs = append(s.TokenSeqs, seq)
	} else {
		s.TokenIDs = append(s.TokenIDs, tokens[from:to]...)
		for pos := from; pos < to; pos++ {
			s.Positions = append(s.Positions, int32(pos))
			s.Slots = append(s.Slots, blocks[pos/bs]*int32(bs)+int32(pos%bs))
			s.TokenSeqs = append(s.TokenSeqs, seq)
		}
	}
	s.QueryStarts = append(s.QueryStarts, int32(len(s.TokenIDs)))
	s.ContextLens = append(s.ContextLens, int32(to))
	b.addTable(blocks)
	if logits == 1 {
		s.LogitsRows = append(s.LogitsRows, int32(len(s.TokenIDs)-1))
		s.LogitsSeqs = append(s.LogitsSeqs, seq)
		return
	}
	for r := len(s.TokenIDs) - min(logits, to-from); r < len(s.TokenIDs); r++ {
		s.LogitsRows = append(s.LogitsRows, int32(r))
		s.LogitsSeqs = append(s.LogitsSeqs, seq)
	}
}

// addTable appends a sequence's block table, padded with -1 to the stride.
func (b *Builder) addTable(blocks []int32) {
	s := &b.s
	n := len(s.BlockTables)
	s.BlockTables = slices.Grow(s.BlockTables, s.BlockTableStride)[:n+s.BlockTableStride]
	row := s.BlockTables[n:]
	copy(row, blocks)
	for j := len(blocks); j < len(row); j++ {
		row[j] = -1
	}
}

// AddProposals appends one decoding sequence whose last token,
// tokens[pos], is followed by proposed tokens to verify (speculative
// decoding): it computes positions pos to pos+len(proposals) and asks for
// the logits of every one, so that each proposal can be checked against
// what the model predicts at the position before it. blocks must cover
// position pos+len(proposals).
func (b *Builder) AddProposals(tokens []int32, pos int, proposals []int32, blocks []int32) {
	s := &b.s
	if len(blocks) > s.BlockTableStride {
		b.widen(len(blocks))
	}
	seq := int32(len(s.QueryStarts) - 1)
	bs := s.BlockSize
	for i := range 1 + len(proposals) {
		tok := tokens[pos]
		if i > 0 {
			tok = proposals[i-1]
		}
		p := pos + i
		s.LogitsRows = append(s.LogitsRows, int32(len(s.TokenIDs)))
		s.LogitsSeqs = append(s.LogitsSeqs, seq)
		s.TokenIDs = append(s.TokenIDs, tok)
		s.Positions = append(s.Positions, int32(p))
		s.Slots = append(s.Slots, blocks[p/bs]*int32(bs)+int32(p%bs))
		s.TokenSeqs = append(s.TokenSeqs, seq)
	}
	s.QueryStarts = append(s.QueryStarts, int32(len(s.TokenIDs)))
	s.ContextLens = append(s.ContextLens, int32(pos+1+len(proposals)))
	b.addTable(blocks)
}

// widen re-lays the block tables added so far at a larger stride.
func (b *Builder) widen(stride int) {
	s := &b.s
	seqs, old := len(s.QueryStarts)-1, s.BlockTableStride
	s.BlockTables = append(s.BlockTables, make([]int32, seqs*(stride-old))...)
	for i := seqs - 1; i >= 0; i-- {
		row := s.BlockTables[i*stride : (i+1)*stride]
		copy(row, s.BlockTables[i*old:(i+1)*old])
		for j := old; j < stride; j++ {
			row[j] = -1
		}
	}
	s.BlockTableStride = stride
}

// Step returns the step built so far. It stays valid until the next Reset.
func (b *Builder) Step() *Step { return &b.s }
