package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Sentinel errors that Load and LoadFiles wrap, so callers can tell a broken
// file from one that asks for a feature this package does not implement.
var (
	// ErrMalformed reports a tokenizer file that is not what its format says.
	ErrMalformed = errors.New("malformed tokenizer file")
	// ErrUnsupported reports a valid tokenizer.json whose pipeline is not
	// the byte-level BPE that Qwen models use.
	ErrUnsupported = errors.New("unsupported tokenizer")
)

// File names inside a model directory.
const (
	TokenizerFile       = "tokenizer.json"
	TokenizerConfigFile = "tokenizer_config.json"
)

// Load reads tokenizer.json and tokenizer_config.json from dir, a model
// directory as downloaded from the Hugging Face Hub. tokenizer_config.json
// is optional: without it there is no chat template or EOS token.
func Load(dir string) (*Tokenizer, error) {
	tj, err := os.ReadFile(filepath.Join(dir, TokenizerFile))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cj, err := os.ReadFile(filepath.Join(dir, TokenizerConfigFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return LoadFiles(tj, cj)
}

// tokenizerJSON is the part of tokenizer.json this package reads. The vocab
// and merges stay raw for the fast scanner in jsonscan.go.
type tokenizerJSON struct {
	AddedTokens  []addedTokenJSON `json:"added_tokens"`
	Normalizer   json.RawMessage  `json:"normalizer"`
	PreTokenizer json.RawMessage  `json:"pre_tokenizer"`
	Decoder      json.RawMessage  `json:"decoder"`
	Model        struct {
		Type                    string          `json:"type"`
		Dropout                 *float64        `json:"dropout"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
	} `json:"model"`
}

type addedTokenJSON struct {
	ID         *int32 `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// typed is the {"type": ...} head every pipeline component has.
type typed struct {
	Type string `json:"type"`
}

// configJSON is the part of tokenizer_config.json this package reads.
type configJSON struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	EOSToken     json.RawMessage `json:"eos_token"`
	PadToken     json.RawMessage `json:"pad_token"`
	BOSToken     json.RawMessage `json:"bos_token"`
}

// LoadFiles builds a Tokenizer from the contents of tokenizer.json and
// tokenizer_config.json (config may be nil). It is Load for callers that
// fetch the bytes themselves, like the browser build.
func LoadFiles(tokenizerJSONData, configJSONData []byte) (*Tokenizer, error) {
	tj, err := splitTokenizerJSON(tokenizerJSONData)
	if err != nil {
		return nil, fmt.Errorf("%w: tokenizer.json: %w", ErrMalformed, err)
	}
	t := &Tokenizer{eosID: -1, padID: -1, bosID: -1}
	if err := t.checkPipeline(tj); err != nil {
		return nil, err
	}
	if err := t.loadVocab(tj.Model.Vocab); err != nil {
		return nil, err
	}
	if err := t.loadAdded(tj.AddedTokens); err != nil {
		return nil, err
	}
	if err := t.loadMerges(tj.Model.Merges); err != nil {
		return nil, err
	}
	t.ignoreMerges = tj.Model.IgnoreMerges
	if configJSONData != nil {
		if err := t.loadConfig(configJSONData); err != nil {
			return nil, err
		}
	}
	t.cache = newPieceCache(pieceCacheSize)
	return t, nil
}

// splitTokenizerJSON decodes tokenizer.json, leaving model.vocab and
// model.merges (nearly all of the file) raw for the fast scanner. Running
// encoding/json over the whole file, even just to validate and skip those
// two sections, took about as long as parsing them.
func splitTokenizerJSON(data []byte) (*tokenizerJSON, error) {
	var tj tokenizerJSON
	s := &jsonScanner{src: string(data)}
	top := map[string]json.RawMessage{}
	err := s.object(func(key string) error {
		if key != "model" {
			raw, err := s.rawValue()
			top[key] = json.RawMessage(raw)
			return err
		}
		model := map[string]json.RawMessage{}
		err := s.object(func(key string) error {
			raw, err := s.rawValue()
			switch key {
			case "vocab":
				tj.Model.Vocab = json.RawMessage(raw)
			case "merges":
				tj.Model.Merges = json.RawMessage(raw)
			default:
				model[key] = json.RawMessage(raw)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
		small, err := json.Marshal(model)
		if err != nil {
			return err
		}
		vocab, merges := tj.Model.Vocab, tj.Model.Merges
		if err := json.Unmarshal(small, &tj.Model); err != nil {
			return fmt.Errorf("model: %w", err)
		}
		tj.Model.Vocab, tj.Model.Merges = vocab, merges
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.peek() != 0 {
		return nil, fmt.Errorf("offset %d: data after the top-level object", s.pos)
	}
	small, err := json.Marshal(top)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(small, &tj); err != nil {
		return nil, err
	}
	return &tj, nil
}

// checkPipeline refuses any tokenizer.json whose normalizer, pre-tokenizer,
// model or decoder differs from the byte-level BPE implemented here: a
// tokenizer that silently produced different ids would be worse than none.
func (t *Tokenizer) checkPipeline(tj *tokenizerJSON) error {
	unsupported := func(what string, raw json.RawMessage) error {
		return fmt.Errorf("%w: %s %s (this package implements Qwen's byte-level BPE)", ErrUnsupported, what, raw)
	}

	switch norm := strings.TrimSpace(string(tj.Normalizer)); {
	case norm == "" || norm == "null":
	default:
		var n typed
		if err := json.Unmarshal(tj.Normalizer, &n); err != nil || n.Type != "NFC" {
			return unsupported("normalizer", tj.Normalizer)
		}
		t.nfc = true
	}

	var pre struct {
		Type          string `json:"type"`
		PreTokenizers []struct {
			Type    string `json:"type"`
			Pattern struct {
				Regex *string `json:"Regex"`
			} `json:"pattern"`
			Behavior       string `json:"behavior"`
			Invert         bool   `json:"invert"`
			AddPrefixSpace bool   `json:"add_prefix_space"`
			UseRegex       bool   `json:"use_regex"`
		} `json:"pretokenizers"`
	}
	if err := json.Unmarshal(tj.PreTokenizer, &pre); err != nil {
		return fmt.Errorf("%w: pre_tokenizer: %w", ErrMalformed, err)
	}
	ps := pre.PreTokenizers
	if pre.Type != "Sequence" || len(ps) != 2 ||
		ps[0].Type != "Split" || ps[0].Pattern.Regex == nil || ps[0].Behavior != "Isolated" || ps[0].Invert ||
		ps[1].Type != "ByteLevel" || ps[1].AddPrefixSpace || ps[1].UseRegex {
		return unsupported("pre_tokenizer", tj.PreTokenizer)
	}
	if *ps[0].Pattern.Regex != qwenSplitPattern {
		return fmt.Errorf("%w: pre-tokenizer split pattern %q (only Qwen's %q is implemented)", ErrUnsupported, *ps[0].Pattern.Regex, qwenSplitPattern)
	}

	var dec typed
	if err := json.Unmarshal(tj.Decoder, &dec); err != nil || dec.Type != "ByteLevel" {
		return unsupported("decoder", tj.Decoder)
	}

	m := &tj.Model
	switch {
	case m.Type != "BPE":
		return fmt.Errorf("%w: model type %q, want BPE", ErrUnsupported, m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return fmt.Errorf("%w: BPE dropout %v", ErrUnsupported, *m.Dropout)
	case m.ByteFallback:
		return fmt.Errorf("%w: BPE byte_fallback", ErrUnsupported)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return fmt.Errorf("%w: BPE continuing_subword_prefix %q", ErrUnsupported, *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return fmt.Errorf("%w: BPE end_of_word_suffix %q", ErrUnsupported, *m.EndOfWordSuffix)
	case len(m.Vocab) == 0:
		return fmt.Errorf("%w: tokenizer.json has no model.vocab", ErrMalformed)
	case len(m.Merges) == 0:
		return fmt.Errorf("%w: tokenizer.json has no model.merges", ErrMalformed)
	}
	// An unk token is harmless: byte-level BPE covers every byte, so it is
	// never produced.
	return nil
}

// loadVocab reads model.vocab, {"token": id, ...}.
func (t *Tokenizer) loadVocab(raw json.RawMessage) error {
	s := &jsonScanner{src: string(raw)}
	t.vocab = make(map[string]int32, 160_000)
	maxID := int32(-1)
	err := s.object(func(tok string) error {
		id, err := s.int32()
		if err != nil {
			return err
		}
		n := len(t.vocab)
		t.vocab[tok] = id
		if len(t.vocab) == n {
			return fmt.Errorf("token %q listed twice", tok)
		}
		maxID = max(maxID, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: model.vocab: %w", ErrMalformed, err)
	}
	t.tokens = make([]string, maxID+1)
	t.present = make([]bool, maxID+1)
	for tok, id := range t.vocab {
		if t.present[id] {
			return fmt.Errorf("%w: model.vocab: id %d used by %q and %q", ErrMalformed, id, t.tokens[id], tok)
		}
		t.tokens[id], t.present[id] = tok, true
	}
	for b := 0; b < 256; b++ {
		id, ok := t.vocab[string(byteToRune[b])]
		if !ok {
			return fmt.Errorf("%w: model.vocab lacks the byte-level token %q for byte 0x%02X", ErrMalformed, byteToRune[b], b)
		}
		t.byteIDs[b] = id
	}
	return nil
}

// loadAdded registers added_tokens: they may reuse a vocab id or extend the
// id space, and they are matched in raw text before anything else.
func (t *Tokenizer) loadAdded(added []addedTokenJSON) error {
	for i, a := range added {
		switch {
		case a.ID == nil || *a.ID < 0:
			return fmt.Errorf("%w: added_tokens[%d] (%q) has no valid id", ErrMalformed, i, a.Content)
		case a.Content == "":
			return fmt.Errorf("%w: added_tokens[%d] (id %d) has empty content", ErrMalformed, i, *a.ID)
		case a.SingleWord || a.LStrip || a.RStrip:
			return fmt.Errorf("%w: added token %q uses single_word/lstrip/rstrip", ErrUnsupported, a.Content)
		}
		id := *a.ID
		if int(id) >= len(t.tokens) {
			t.tokens = append(t.tokens, make([]string, int(id)+1-len(t.tokens))...)
			t.present = append(t.present, make([]bool, int(id)+1-len(t.present))...)
		}
		if t.present[id] && t.tokens[id] != a.Content {
			return fmt.Errorf("%w: added token %q reuses id %d of %q", ErrMalformed, a.Content, id, t.tokens[id])
		}
		t.tokens[id], t.present[id] = a.Content, true
		t.vocab[a.Content] = id
		t.added = append(t.added, addedToken{content: a.Content, id: id, special: a.Special})
	}
	// Longest first, so the first candidate that matches at a position is
	// the longest one: leftmost-longest, as the reference matcher does.
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].content) > len(t.added[j].content) })
	t.isAdded = make([]bool, len(t.tokens))
	t.isSpecial = make([]bool, len(t.tokens))
	for _, a := range t.added {
		t.isAdded[a.id] = true
		t.isSpecial[a.id] = a.special
		t.addedFirst[a.content[0]] = true
	}
	t.buildDecodeTable()
	return nil
}

// buildDecodeTable stores every token's decoded bytes in one arena.
func (t *Tokenizer) buildDecodeTable() {
	t.tokenOff = make([]uint32, len(t.tokens)+1)
	t.tokenBytes = make([]byte, 0, 1<<20)
	for id, tok := range t.tokens {
		if t.isAdded[id] {
			// Added tokens are emitted as their content, not byte-decoded.
			t.tokenBytes = append(t.tokenBytes, tok...)
		} else {
			t.tokenBytes = appendByteLevelDecoded(t.tokenBytes, tok)
		}
		t.tokenOff[id+1] = uint32(len(t.tokenBytes))
	}
}

// loadMerges reads model.merges, either [["a", "b"], ...] (the current
// format) or ["a b", ...] (the older one). A merge's rank is its index.
func (t *Tokenizer) loadMerges(raw json.RawMessage) error {
	s := &jsonScanner{src: string(raw)}
	t.merges = make(map[uint64]merge, 160_000)
	var buf []byte
	rank := int32(0)
	err := s.list(func() error {
		var left, right string
		switch s.peek() {
		case '[':
			var err error
			if left, right, err = s.pair(); err != nil {
				return fmt.Errorf("merge %d: %w", rank, err)
			}
		case '"':
			pair, err := s.str()
			if err != nil {
				return err
			}
			var ok bool
			if left, right, ok = strings.Cut(pair, " "); !ok {
				return fmt.Errorf("merge %d %q is not two space-separated tokens", rank, pair)
			}
		default:
			return fmt.Errorf("offset %d: merge %d is neither a pair nor a string", s.pos, rank)
		}
		l, okL := t.vocab[left]
		r, okR := t.vocab[right]
		buf = append(append(buf[:0], left...), right...)
		m, okM := t.vocab[string(buf)]
		if !okL || !okR || !okM {
			return fmt.Errorf("merge %d (%q, %q): token not in vocab", rank, left, right)
		}
		// A pair listed twice keeps its first (lowest) rank.
		if _, dup := t.merges[pairKey(l, r)]; !dup {
			t.merges[pairKey(l, r)] = merge{rank: rank, id: m}
		}
		rank++
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: model.merges: %w", ErrMalformed, err)
	}
	return nil
}

// loadConfig reads the chat template and the EOS, PAD and BOS tokens.
func (t *Tokenizer) loadConfig(data []byte) error {
	var c configJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("%w: tokenizer_config.json: %w", ErrMalformed, err)
	}
	tmpl, err := parseChatTemplate(c.ChatTemplate)
	if err != nil {
		return fmt.Errorf("%w: tokenizer_config.json chat_template: %w", ErrMalformed, err)
	}
	t.chatTemplate = tmpl
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		id   *int32
	}{{"eos_token", c.EOSToken, &t.eosID}, {"pad_token", c.PadToken, &t.padID}, {"bos_token", c.BOSToken, &t.bosID}} {
		tok, err := specialTokenContent(f.raw)
		if err != nil {
			return fmt.Errorf("%w: tokenizer_config.json %s: %w", ErrMalformed, f.name, err)
		}
		if tok == "" {
			continue
		}
		id, ok := t.vocab[tok]
		if !ok {
			return fmt.Errorf("%w: tokenizer_config.json %s %q is not in the vocabulary", ErrMalformed, f.name, tok)
		}
		*f.id = id
	}
	return nil
}

// specialTokenContent reads a token given either as a string or, in older
// configs, as an AddedToken object {"content": ...}. null means none.
func specialTokenContent(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("want a string or {\"content\": ...}, got %s", raw)
	}
	return obj.Content, nil
}

// parseChatTemplate reads chat_template, a string or, in some configs, a list
// of {"name", "template"} of which "default" is the chat template.
func parseChatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("want a string or a list of {name, template}")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", fmt.Errorf("no template named \"default\" among %d", len(named))
}
