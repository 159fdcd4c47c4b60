package openai

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/stretchr/testify/require"
)

// TestCompletions: every prompt form OpenAI documents (a string, a list of
// strings, token ids, a list of token-id lists) gives, per prompt and
// choice, what the engine gives for that prompt, at index prompt*n+choice.
func TestCompletions(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	texts := []string{"Once upon a time", "The capital of France is"}
	idsOf := func(s string) []int32 { return ref.tok.Encode(s) }

	tests := []struct {
		name    string
		prompt  any
		prompts [][]int32
	}{
		{"string", texts[0], [][]int32{idsOf(texts[0])}},
		{"list of strings", texts, [][]int32{idsOf(texts[0]), idsOf(texts[1])}},
		{"token ids", idsOf(texts[1]), [][]int32{idsOf(texts[1])}},
		{"list of token ids", [][]int32{idsOf(texts[1]), idsOf(texts[0])}, [][]int32{idsOf(texts[1]), idsOf(texts[0])}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 2
			status, got := a.post(t, "/v1/completions", map[string]any{
				"model": modelName, "prompt": tt.prompt, "n": n, "temperature": 0.7, "seed": 3, "max_tokens": 6, "return_token_ids": true,
			})
			require.Equal(t, http.StatusOK, status, "%v", got)
			require.True(t, strings.HasPrefix(got["id"].(string), "cmpl-"))
			require.Equal(t, "text_completion", got["object"])
			require.Len(t, got["choices"], len(tt.prompts)*n)
			promptTokens, completionTokens := 0, 0
			for i, p := range tt.prompts {
				promptTokens += len(p)
				for j := range n {
					want := direct(t, ref.eng, engine.Request{PromptIDs: p, Params: sampler.Params{Temperature: 0.7, Seed: new(uint64(3 + j)), MaxTokens: 6}})
					c := path(t, got, "choices", i*n+j).(map[string]any)
					require.EqualValues(t, i*n+j, c["index"])
					require.Equal(t, want.Text, c["text"])
					require.Equal(t, want.TokenIDs, ids(t, c["token_ids"]))
					require.Equal(t, p, ids(t, c["prompt_token_ids"]))
					require.Equal(t, openAIReason(want.FinishReason), c["finish_reason"])
					require.Nil(t, c["logprobs"])
					completionTokens += len(want.TokenIDs)
				}
			}
			require.EqualValues(t, promptTokens, path(t, got, "usage", "prompt_tokens"))
			require.EqualValues(t, completionTokens, path(t, got, "usage", "completion_tokens"))
			require.EqualValues(t, promptTokens+completionTokens, path(t, got, "usage", "total_tokens"))
		})
	}
	waitIdle(t, a.eng)
}

// TestCompletionOptions: max_tokens defaults to 16 as in OpenAI's API;
// stop strings cut the text as the engine does; echo puts the prompt
// first; ignore_eos and stop_token_ids reach the engine.
func TestCompletionOptions(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	prompt := "Hello there"
	long := direct(t, ref.eng, engine.Request{Prompt: prompt, Params: sampler.Params{MaxTokens: 16, IgnoreEOS: true}})
	require.Len(t, long.TokenIDs, 16)
	// A stop string from the middle of the greedy text.
	runes := []rune(long.Text)
	stop := string(runes[len(runes)/2 : len(runes)/2+2])

	tests := []struct {
		name   string
		body   map[string]any
		params sampler.Params
		echo   bool
	}{
		{"default max_tokens", map[string]any{"temperature": 0, "ignore_eos": true}, sampler.Params{MaxTokens: 16, IgnoreEOS: true}, false},
		{"stop string", map[string]any{"temperature": 0, "stop": stop, "max_tokens": 16}, sampler.Params{MaxTokens: 16, Stop: []string{stop}}, false},
		{"stop list, included", map[string]any{"temperature": 0, "stop": []string{"zzzz", stop}, "include_stop_str_in_output": true, "max_tokens": 16},
			sampler.Params{MaxTokens: 16, Stop: []string{"zzzz", stop}, IncludeStopStrInOutput: true}, false},
		{"stop token", map[string]any{"temperature": 0, "stop_token_ids": []int32{long.TokenIDs[3]}, "max_tokens": 16},
			sampler.Params{MaxTokens: 16, StopTokenIDs: []int32{long.TokenIDs[3]}}, false},
		{"echo", map[string]any{"temperature": 0, "echo": true, "max_tokens": 4}, sampler.Params{MaxTokens: 4}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"prompt": prompt}
			for k, v := range tt.body {
				body[k] = v
			}
			status, got := a.post(t, "/v1/completions", body)
			require.Equal(t, http.StatusOK, status, "%v", got)
			want := direct(t, ref.eng, engine.Request{Prompt: prompt, Params: tt.params})
			text := want.Text
			if tt.echo {
				text = prompt + text
			}
			require.Equal(t, text, path(t, got, "choices", 0, "text"))
			require.Equal(t, openAIReason(want.FinishReason), path(t, got, "choices", 0, "finish_reason"))
			require.EqualValues(t, len(want.TokenIDs), path(t, got, "usage", "completion_tokens"))
		})
	}
	waitIdle(t, a.eng)
}

// TestCompletionLogprobs: the legacy format: per token its text, logprob,
// an object of the N most likely alternatives, and where its text starts.
func TestCompletionLogprobs(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	status, got := a.post(t, "/v1/completions", map[string]any{"prompt": "Hi", "temperature": 0, "max_tokens": 6, "logprobs": 2, "ignore_eos": true})
	require.Equal(t, http.StatusOK, status, "%v", got)
	want := direct(t, ref.eng, engine.Request{Prompt: "Hi", Params: sampler.Params{MaxTokens: 6, Logprobs: 2, IgnoreEOS: true}})
	lp := path(t, got, "choices", 0, "logprobs").(map[string]any)
	tokens := lp["tokens"].([]any)
	require.Len(t, tokens, len(want.TokenIDs))
	// A token's text starts after the complete characters of the tokens
	// before it: the streaming detokenizer holds back a split character.
	dec := ref.tok.NewDecoder(true)
	offset := 0
	for k, id := range want.TokenIDs {
		require.Equal(t, ref.tok.Decode([]int32{id}, false), tokens[k])
		require.InDelta(t, want.Logprobs[k].Logprob, path(t, lp, "token_logprobs", k), 1e-6)
		top := path(t, lp, "top_logprobs", k).(map[string]any)
		require.Len(t, top, 2)
		for _, alt := range want.Logprobs[k].Top {
			require.InDelta(t, alt.Logprob, top[ref.tok.Decode([]int32{alt.Token}, false)], 1e-6)
		}
		require.EqualValues(t, offset, path(t, lp, "text_offset", k))
		offset += utf8.RuneCountInString(dec.Push(id))
	}
	waitIdle(t, a.eng)
}

// TestCompletionsTokenIDsOnly: a model without a tokenizer serves token-id
// prompts, with the generated ids in token_ids, streamed or not.
func TestCompletionsTokenIDsOnly(t *testing.T) {
	a := startServer(t, idsFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, idsFixture, testEngineConfig())
	prompt := []int32{1, 2, 3, 4, 5}
	want := direct(t, ref.eng, engine.Request{PromptIDs: prompt, Params: sampler.Params{MaxTokens: 10, IgnoreEOS: true}})
	body := map[string]any{"prompt": prompt, "temperature": 0, "max_tokens": 10, "ignore_eos": true, "return_token_ids": true}
	status, got := a.post(t, "/v1/completions", body)
	require.Equal(t, http.StatusOK, status, "%v", got)
	require.Equal(t, want.TokenIDs, ids(t, path(t, got, "choices", 0, "token_ids")))
	require.Equal(t, "", path(t, got, "choices", 0, "text"))

	body["stream"] = true
	var streamed []int32
	for _, ev := range a.stream(t, "/v1/completions", body) {
		c := path(t, ev, "choices", 0).(map[string]any)
		if c["token_ids"] != nil {
			streamed = append(streamed, ids(t, c["token_ids"])...)
		}
	}
	require.Equal(t, want.TokenIDs, streamed)
	waitIdle(t, a.eng)
}

// TestCompletionStream: streamed chunks join to the non-streamed text,
// logprobs included, and end with a finish chunk, the usage chunk and
// [DONE].
func TestCompletionStream(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	base := map[string]any{"prompt": []string{"One", "Two"}, "temperature": 0, "max_tokens": 8, "logprobs": 1}
	_, full := a.post(t, "/v1/completions", base)
	streamed := map[string]any{"stream": true, "stream_options": map[string]any{"include_usage": true}}
	for k, v := range base {
		streamed[k] = v
	}
	events := a.stream(t, "/v1/completions", streamed)
	text := map[int]string{}
	var tokens [2][]any
	finished := map[int]bool{}
	for _, ev := range events[:len(events)-1] {
		require.Equal(t, "text_completion", ev["object"])
		require.Nil(t, ev["usage"])
		c := path(t, ev, "choices", 0).(map[string]any)
		i := int(c["index"].(float64))
		require.False(t, finished[i])
		if c["finish_reason"] != nil {
			require.Equal(t, path(t, full, "choices", i, "finish_reason"), c["finish_reason"])
			finished[i] = true
			continue
		}
		text[i] += c["text"].(string)
		tokens[i] = append(tokens[i], path(t, c, "logprobs", "tokens").([]any)...)
	}
	for i := range 2 {
		require.True(t, finished[i])
		require.Equal(t, path(t, full, "choices", i, "text"), text[i])
		require.Equal(t, path(t, full, "choices", i, "logprobs", "tokens"), tokens[i])
	}
	require.Equal(t, []any{}, events[len(events)-1]["choices"])
	require.Equal(t, full["usage"], events[len(events)-1]["usage"])
	waitIdle(t, a.eng)
}
