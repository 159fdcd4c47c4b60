package sampler

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	seed := uint64(7)
	ok := []Params{
		{},
		{Temperature: 0.6, TopK: 20, TopP: 0.95},
		{Temperature: 1, MinP: 1, TopP: 1, RepetitionPenalty: 1.3, PresencePenalty: -2, FrequencyPenalty: 2, Seed: &seed,
			MaxTokens: 10, StopTokenIDs: []int32{0, 5}, Stop: []string{"\n"}, IgnoreEOS: true, Logprobs: MaxLogprobs},
	}
	for _, p := range ok {
		require.NoError(t, p.Validate())
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	bad := []struct {
		p     Params
		field string
	}{
		{Params{Temperature: -0.1}, "temperature"},
		{Params{Temperature: nan}, "temperature"},
		{Params{Temperature: inf}, "temperature"},
		{Params{TopK: -1}, "top_k"},
		{Params{TopP: 1.01}, "top_p"},
		{Params{TopP: -0.5}, "top_p"},
		{Params{MinP: 2}, "min_p"},
		{Params{RepetitionPenalty: -1}, "repetition_penalty"},
		{Params{RepetitionPenalty: nan}, "repetition_penalty"},
		{Params{PresencePenalty: 2.5}, "presence_penalty"},
		{Params{FrequencyPenalty: -3}, "frequency_penalty"},
		{Params{MaxTokens: -1}, "max_tokens"},
		{Params{Logprobs: MaxLogprobs + 1}, "logprobs"},
		{Params{Logprobs: -1}, "logprobs"},
		{Params{StopTokenIDs: []int32{3, -1}}, "stop_token_ids[1]"},
		{Params{Stop: []string{"a", ""}}, "stop[1]"},
	}
	for _, tc := range bad {
		err := tc.p.Validate()
		require.ErrorIs(t, err, ErrInvalidParams, tc.field)
		require.Contains(t, err.Error(), tc.field)
	}
}

func TestFromGenerationConfig(t *testing.T) {
	// Qwen3's generation_config.json.
	qwen := GenerationConfig{DoSample: true, Temperature: 0.6, TopK: 20, TopP: 0.95}
	require.Equal(t, Params{Temperature: 0.6, TopK: 20, TopP: 0.95}, FromGenerationConfig(qwen))
	// do_sample false is greedy whatever the other fields say.
	qwen.DoSample = false
	p := FromGenerationConfig(qwen)
	require.True(t, p.Greedy())
	require.Equal(t, Params{}, p)
	// Sampling with no temperature in the file means temperature 1.
	require.Equal(t, float32(1), FromGenerationConfig(GenerationConfig{DoSample: true}).Temperature)
}

func TestClone(t *testing.T) {
	seed := uint64(1)
	p := Params{Seed: &seed, StopTokenIDs: []int32{1}, Stop: []string{"x"}}
	c := p.Clone()
	*p.Seed = 2
	p.StopTokenIDs[0] = 9
	p.Stop[0] = "y"
	require.Equal(t, uint64(1), *c.Seed)
	require.Equal(t, []int32{1}, c.StopTokenIDs)
	require.Equal(t, []string{"x"}, c.Stop)
}
