package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixtureDir holds the real Qwen3 tokenizer files and the reference outputs
// of Hugging Face's tokenizers (see its README.md).
var fixtureDir = filepath.Join("..", "..", "testdata", "qwen3-tokenizer")

var loadOnce = sync.OnceValues(func() (*Tokenizer, error) { return Load(fixtureDir) })

func qwen3(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := loadOnce()
	require.NoError(t, err)
	return tok
}

type encodeCase struct {
	Name               string   `json:"name"`
	Text               string   `json:"text"`
	Pretokens          []string `json:"pretokens"`
	IDs                []int32  `json:"ids"`
	Tokens             []string `json:"tokens"`
	Decoded            string   `json:"decoded"`
	DecodedSkipSpecial string   `json:"decoded_skip_special"`
	PrefixDecoded      []string `json:"prefix_decoded"`
}

type decodeCase struct {
	Name               string   `json:"name"`
	Note               string   `json:"note"`
	IDs                []int32  `json:"ids"`
	Tokens             []string `json:"tokens"`
	Decoded            string   `json:"decoded"`
	DecodedSkipSpecial string   `json:"decoded_skip_special"`
}

func readJSON[T any](t testing.TB, name string) T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(data, &v), name)
	return v
}

func TestEncodeMatchesReference(t *testing.T) {
	tok := qwen3(t)
	cases := readJSON[[]encodeCase](t, "cases.json")
	require.Len(t, cases, 182)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ids := tok.Encode(c.Text)
			if c.IDs == nil {
				c.IDs = []int32{}
			}
			require.Equal(t, c.IDs, ids)
			tokens := make([]string, len(ids))
			for i, id := range ids {
				var ok bool
				tokens[i], ok = tok.IDToToken(id)
				require.True(t, ok)
			}
			if c.Tokens == nil {
				c.Tokens = []string{}
			}
			require.Equal(t, c.Tokens, tokens)
		})
	}
}

func TestPretokensMatchReference(t *testing.T) {
	tok := qwen3(t)
	for _, c := range readJSON[[]encodeCase](t, "cases.json") {
		t.Run(c.Name, func(t *testing.T) {
			got := []string{}
			tok.pretokenize(c.Text, func(piece string, _ int32) { got = append(got, piece) })
			want := c.Pretokens
			if want == nil {
				want = []string{}
			}
			require.Equal(t, want, got)
		})
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	tok := qwen3(t)
	for _, c := range readJSON[[]encodeCase](t, "cases.json") {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Decoded, tok.Decode(c.IDs, false))
			require.Equal(t, c.DecodedSkipSpecial, tok.Decode(c.IDs, true))
			for k, want := range c.PrefixDecoded {
				require.Equal(t, want, tok.Decode(c.IDs[:k+1], false), "prefix %d", k+1)
			}
		})
	}
	for _, c := range readJSON[[]decodeCase](t, "decode_cases.json") {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Decoded, tok.Decode(c.IDs, false), c.Note)
			require.Equal(t, c.DecodedSkipSpecial, tok.Decode(c.IDs, true), c.Note)
			for i, id := range c.IDs {
				got, ok := tok.IDToToken(id)
				if c.Tokens[i] == "" {
					// The reference lists no token for an unknown id.
					require.False(t, ok, "id %d", id)
					continue
				}
				require.True(t, ok, "id %d", id)
				require.Equal(t, c.Tokens[i], got, "id %d", id)
			}
		})
	}
}

// TestConcurrentUse runs Encode, Decode and the chat template from several
// goroutines at once (run with -race): the cache and the template are
// shared.
func TestConcurrentUse(t *testing.T) {
	tok := qwen3(t)
	cases := readJSON[[]encodeCase](t, "cases.json")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cases {
				c := cases[(i+w*37)%len(cases)]
				ids := tok.Encode(c.Text)
				if len(ids) != len(c.IDs) || tok.Decode(ids, false) != c.Decoded {
					errs <- fmt.Errorf("%s: wrong result under concurrency", c.Name)
					return
				}
			}
			if _, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, ChatOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestRandomCasesMatchHF checks 1,000 random strings and 1,000 random id
// sequences against Hugging Face's Rust tokenizer
// (testdata/hf_random_cases.js made the file), through Encode, Decode and
// the stream decoder.
func TestRandomCasesMatchHF(t *testing.T) {
	tok := qwen3(t)
	data, err := os.ReadFile(filepath.Join("testdata", "hf_random_cases.json"))
	require.NoError(t, err)
	var cases struct {
		Encode []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"encode"`
		Decode []decodeCase `json:"decode"`
	}
	require.NoError(t, json.Unmarshal(data, &cases))
	require.Len(t, cases.Encode, 1000)
	require.Len(t, cases.Decode, 1000)
	for i, c := range cases.Encode {
		require.Equal(t, c.IDs, tok.Encode(c.Text), "encode case %d %q", i, c.Text)
	}
	for i, c := range cases.Decode {
		for _, skip := range []bool{false, true} {
			want := c.Decoded
			if skip {
				want = c.DecodedSkipSpecial
			}
			require.Equal(t, want, tok.Decode(c.IDs, skip), "decode case %d %v skip=%v", i, c.IDs, skip)
			d := tok.NewDecoder(skip)
			var sb strings.Builder
			for _, id := range c.IDs {
				sb.WriteString(d.Push(id))
			}
			sb.WriteString(d.Flush())
			require.Equal(t, want, sb.String(), "stream case %d %v skip=%v", i, c.IDs, skip)
		}
	}
}
