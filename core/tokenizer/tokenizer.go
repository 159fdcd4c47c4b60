package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer encodes text to token ids and decodes ids to text. It is
// immutable after loading apart from an internal cache, and safe for
// concurrent use.
type Tokenizer struct {
	vocab   map[string]int32 // token (byte-level form, or added content) → id
	tokens  []string         // id → token; "" where !present
	present []bool           // ids that exist; the id space may have holes

	byteIDs [256]int32       // id of the single-byte token for each byte
	merges  map[uint64]merge // pairKey(left, right) → merge rule

	added      []addedToken // longest content first
	addedFirst [256]bool    // first bytes of added tokens, to skip ahead
	isAdded    []bool       // by id
	isSpecial  []bool       // by id: added tokens with special:true

	tokenBytes []byte   // decoded bytes of every token, back to back
	tokenOff   []uint32 // token id's bytes are tokenBytes[tokenOff[id]:tokenOff[id+1]]

	nfc          bool
	ignoreMerges bool
	eosID        int32
	padID        int32
	bosID        int32
	chatTemplate string
	chat         chatState

	cache   *pieceCache // nil: no caching
	scratch sync.Pool   // *bpeScratch
}

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	content string
	id      int32
	special bool
}

// VocabSize returns the size of the id space: one more than the largest id,
// counting added tokens. For Qwen3 that is 151,669, less than the model's
// 151,936 embedding rows; the ids in between decode to nothing.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// EOSTokenID returns the id of tokenizer_config.json's eos_token (for Qwen3
// <|im_end|>, 151645), or -1 if there is none. Generation usually also
// stops on the ids in the model's generation_config.json.
func (t *Tokenizer) EOSTokenID() int32 { return t.eosID }

// PadTokenID returns the id of the pad_token, or -1 if there is none.
func (t *Tokenizer) PadTokenID() int32 { return t.padID }

// BOSTokenID returns the id of the bos_token, or -1 if there is none (Qwen3
// has none, and Encode never adds one).
func (t *Tokenizer) BOSTokenID() int32 { return t.bosID }

// TokenToID returns the id of a token given in its vocab form (byte-level
// alphabet, so " the" is "Ġthe") or as an added token's content.
func (t *Tokenizer) TokenToID(token string) (int32, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// IDToToken returns the vocab form of id, and false for an id the tokenizer
// does not have.
func (t *Tokenizer) IDToToken(id int32) (string, bool) {
	if !t.valid(id) {
		return "", false
	}
	return t.tokens[id], true
}

// IsSpecial reports whether id is an added token marked special, the kind
// Decode drops when asked to skip special tokens.
func (t *Tokenizer) IsSpecial(id int32) bool { return t.valid(id) && t.isSpecial[id] }

// SpecialTokens returns the contents of the added tokens marked special, by
// id: for Qwen3 <|endoftext|>, <|im_start|>, <|im_end|> and the vision
// tokens, but not <think> or the tool-call tokens.
func (t *Tokenizer) SpecialTokens() map[int32]string {
	m := make(map[int32]string)
	for _, a := range t.added {
		if a.special {
			m[a.id] = a.content
		}
	}
	return m
}

// AddedTokens returns the contents of every added token (special or not) by
// id. These are matched in text before BPE.
func (t *Tokenizer) AddedTokens() map[int32]string {
	m := make(map[int32]string, len(t.added))
	for _, a := range t.added {
		m[a.id] = a.content
	}
	return m
}

func (t *Tokenizer) valid(id int32) bool {
	return id >= 0 && int(id) < len(t.present) && t.present[id]
}

// MaxEncodeBytes is the longest text EncodeChecked accepts: 16 MiB, some
// four million tokens, far beyond any model's context. Encode itself takes
// any length; code that encodes text from outside (a prompt from a file,
// stdin or a request) should use EncodeChecked, or check the length first.
//
// Encoding streams the text: its memory is the ids plus, for ordinary text,
// about a byte per byte of input. A single pre-tokenized piece (a run of
// letters, or of punctuation, with no space or digit in it) is merged as a
// whole, as Hugging Face's tokenizer does, with 28 bytes of scratch per
// byte of the piece; so at most about 450 MiB for a hostile 16 MiB input.
const MaxEncodeBytes = 16 << 20

// ErrTooLong is wrapped by EncodeChecked's error for text longer than
// MaxEncodeBytes.
var ErrTooLong = errors.New("text too long to encode")

// EncodeChecked is Encode for text from outside: text longer than
// MaxEncodeBytes is refused with an error wrapping ErrTooLong.
func (t *Tokenizer) EncodeChecked(text string) ([]int32, error) {
	if err := CheckEncodeLength(len(text)); err != nil {
		return nil, err
	}
	return t.Encode(text), nil
}

// CheckEncodeLength returns an error wrapping ErrTooLong if n bytes of text
// are more than MaxEncodeBytes.
func CheckEncodeLength(n int) error {
	if n > MaxEncodeBytes {
		return fmt.Errorf("%w: %d bytes, more than MaxEncodeBytes (%d)", ErrTooLong, n, MaxEncodeBytes)
	}
	return nil
}

// Encode returns the token ids of text. Added tokens such as <|im_start|>
// are recognised wherever they appear, also in user text, as Hugging Face's
// tokenizer does by default. No BOS or EOS is added: Qwen's post-processor
// adds none. Invalid UTF-8 in text is first replaced with U+FFFD, one per
// maximal invalid subsequence. See MaxEncodeBytes for its memory use.
func (t *Tokenizer) Encode(text string) []int32 {
	if !utf8.ValidString(text) {
		text = string(appendLossy(nil, []byte(text)))
	}
	ids := make([]int32, 0, len(text)/3+1)
	sc, _ := t.scratch.Get().(*bpeScratch)
	if sc == nil {
		sc = new(bpeScratch)
	}
	t.pretokenize(text, func(piece string, addedID int32) {
		if addedID >= 0 {
			ids = append(ids, addedID)
		} else {
			ids = t.encodePiece(ids, piece, sc)
		}
	})
	t.scratch.Put(sc)
	return ids
}

// pretokenize calls emit with each piece of valid UTF-8 text that reaches
// BPE, in order, and with each added token found in it (then addedID is its
// id; otherwise -1). These are the reference's "pretokens".
func (t *Tokenizer) pretokenize(text string, emit func(piece string, addedID int32)) {
	for len(text) > 0 {
		start, end, id := t.nextAdded(text)
		if seg := text[:start]; seg != "" {
			// Only the text between added tokens is normalised and split.
			if t.nfc {
				seg = norm.NFC.String(seg)
			}
			splitPieces(seg, func(piece string) { emit(piece, -1) })
		}
		if id < 0 {
			return
		}
		emit(text[start:end], id)
		text = text[end:]
	}
}

// nextAdded finds the leftmost, then longest, added token in s. It returns
// its byte span and id, or (len(s), len(s), -1) if there is none.
func (t *Tokenizer) nextAdded(s string) (start, end int, id int32) {
	for i := 0; i < len(s); i++ {
		if !t.addedFirst[s[i]] {
			continue
		}
		for _, a := range t.added {
			if strings.HasPrefix(s[i:], a.content) {
				return i, i + len(a.content), a.id
			}
		}
	}
	return len(s), len(s), -1
}

// encodePiece BPE-encodes one pre-tokenized piece, through the cache.
func (t *Tokenizer) encodePiece(ids []int32, piece string, sc *bpeScratch) []int32 {
	if len(piece) == 1 {
		return append(ids, t.byteIDs[piece[0]])
	}
	if t.ignoreMerges {
		// A piece that is a whole model-vocab entry is taken as is.
		if id, ok := t.vocab[byteLevelString(piece)]; ok && !t.isAdded[id] {
			return append(ids, id)
		}
	}
	if t.cache == nil {
		return t.bpe(ids, piece, sc)
	}
	if cached, ok := t.cache.get(piece); ok {
		return append(ids, cached...)
	}
	n := len(ids)
	ids = t.bpe(ids, piece, sc)
	t.cache.put(piece, ids[n:])
	return ids
}

// byteLevelString maps raw bytes to the byte-level alphabet vocab keys use.
func byteLevelString(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

// Decode returns the text of ids. With skipSpecial, added tokens marked
// special are left out (for Qwen3: <|im_start|>, <|im_end|>,
// <|endoftext|> and the vision tokens; <think> stays). Ids the tokenizer does
// not have, like Qwen3's padding rows 151669–151935, are dropped.
//
// Bytes are decoded like Rust's from_utf8_lossy, one U+FFFD per maximal
// invalid subsequence. An added token that is kept ends the byte run before
// it, so a character split around it decodes as U+FFFDs; a skipped one does
// not.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	out := make([]byte, 0, len(ids)*4)
	var run []byte
	for _, id := range ids {
		if !t.valid(id) {
			continue
		}
		if t.isAdded[id] {
			if skipSpecial && t.isSpecial[id] {
				continue
			}
			out = appendLossy(out, run)
			run = run[:0]
			out = append(out, t.tokens[id]...)
			continue
		}
		run = append(run, t.bytesOf(id)...)
	}
	return string(appendLossy(out, run))
}

// bytesOf returns the decoded bytes of a valid id.
func (t *Tokenizer) bytesOf(id int32) []byte {
	return t.tokenBytes[t.tokenOff[id]:t.tokenOff[id+1]]
}

// pieceCacheSize bounds the per-tokenizer BPE cache. Natural text has a
// Zipfian word distribution, so a few thousand entries catch most pieces.
const pieceCacheSize = 1 << 14

// maxCachedPiece is the longest piece, in bytes, that is cached. Hugging
// Face's BPE caches words up to 256 characters; runs of CJK text without
// spaces are single pieces and often that long.
const maxCachedPiece = 256

// pieceCache memoises BPE results per piece. When full it is emptied rather
// than evicting one by one: cheap, bounded, and good enough for a cache whose
// misses cost microseconds.
type pieceCache struct {
	mu  sync.RWMutex
	m   map[string][]int32
	max int
}

func newPieceCache(n int) *pieceCache {
	return &pieceCache{m: make(map[string][]int32, n), max: n}
}

func (c *pieceCache) get(piece string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[piece]
	c.mu.RUnlock()
	return ids, ok
}

func (c *pieceCache) put(piece string, ids []int32) {
	if len(piece) > maxCachedPiece {
		return // long pieces are rare and would pin large strings
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[strings.Clone(piece)] = append([]int32(nil), ids...)
	c.mu.Unlock()
}
