package sampler

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStopMatcher(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		deltas  []string
		release []string // what each Push returns
		stopped bool
		flush   string
		matched string
	}{
		{"no stops", nil, []string{"a", "<|"}, []string{"a", "<|"}, false, "", ""},
		{"split across tokens", []string{"<|im_end|>"},
			[]string{"Hi", " <|", "im", "_end|>", "more"},
			[]string{"Hi", " ", "", "", ""}, true, "", "<|im_end|>"},
		{"false alarm released", []string{"<|im_end|>"},
			[]string{"a<", "|x"}, []string{"a", "<|x"}, false, "", ""},
		{"held at end is flushed", []string{"STOP"},
			[]string{"go ST"}, []string{"go "}, false, "ST", ""},
		{"stop inside one delta, rest dropped", []string{"\n\n"},
			[]string{"line\n\nnext"}, []string{"line"}, true, "", "\n\n"},
		{"earliest of several", []string{"cd", "b"},
			[]string{"a", "bcd"}, []string{"a", ""}, true, "", "b"},
		{"overlapping prefixes", []string{"aab"},
			[]string{"a", "a", "a", "b"}, []string{"", "", "a", ""}, true, "", "aab"},
		{"multibyte stop", []string{"終わり"},
			[]string{"これで終", "わり"}, []string{"これで", ""}, true, "", "終わり"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewStopMatcher(tc.stops)
			var got []string
			stopped := false
			for _, d := range tc.deltas {
				r, s := m.Push(d)
				got = append(got, r)
				stopped = s
			}
			require.Equal(t, tc.release, got)
			require.Equal(t, tc.stopped, stopped)
			require.Equal(t, tc.stopped, m.Stopped())
			require.Equal(t, tc.flush, m.Flush())
			require.Equal(t, tc.matched, m.Matched())
		})
	}
}

// TestStopMatcherRandom checks the two promises against a direct reference
// on random text split at random points: what is released so far is always
// a prefix of the text before the first stop string (nothing leaks), and in
// the end it is all of it.
func TestStopMatcherRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "é", "\n"}
	randText := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for range 5000 {
		stops := []string{randText(1 + rng.IntN(4))}
		if rng.IntN(2) == 0 {
			stops = append(stops, randText(1+rng.IntN(3)))
		}
		full := randText(rng.IntN(30))
		// The reference: the shortest prefix of the text that contains a
		// stop string, minus that stop string (the longest, if two end there).
		want := full
		for end := 1; end <= len(full) && want == full; end++ {
			for _, s := range stops {
				if strings.HasSuffix(full[:end], s) && end-len(s) < len(want) {
					want = full[:end-len(s)]
				}
			}
		}
		m := NewStopMatcher(stops)
		var released strings.Builder
		rest := []rune(full)
		for len(rest) > 0 {
			n := 1 + rng.IntN(min(len(rest), 4))
			r, stopped := m.Push(string(rest[:n]))
			rest = rest[n:]
			released.WriteString(r)
			require.True(t, strings.HasPrefix(want, released.String()), "leak: stops %q text %q released %q", stops, full, released.String())
			if stopped {
				require.Equal(t, want, released.String())
			}
		}
		if !m.Stopped() {
			released.WriteString(m.Flush())
		}
		require.Equal(t, want, released.String(), "stops %q text %q", stops, full)
	}
}
