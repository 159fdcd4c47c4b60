package openai

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// chatPrompt renders msgs the way the engine's own callers do
// (tokenizer.ApplyChatTemplate over Message values), independently of the
// server's JSON path.
func chatPrompt(t *testing.T, tok *tokenizer.Tokenizer, msgs []tokenizer.Message, think *bool) string {
	t.Helper()
	text, err := tok.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true, EnableThinking: think})
	require.NoError(t, err)
	return text
}

func openAIReason(r sequence.FinishReason) string {
	if r == sequence.Length {
		return "length"
	}
	return "stop"
}

// TestChatCompletion: a chat request's reply, finish reason and usage are
// those of the engine run directly on the chat template's prompt, in
// OpenAI's documented response shape.
func TestChatCompletion(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	msgs := []tokenizer.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Name three colours."}}

	tests := []struct {
		name   string
		body   map[string]any
		params sampler.Params
		think  *bool
	}{
		{"greedy", map[string]any{"temperature": 0, "max_tokens": 12}, sampler.Params{MaxTokens: 12}, nil},
		{"max_completion_tokens wins", map[string]any{"temperature": 0, "max_tokens": 3, "max_completion_tokens": 7}, sampler.Params{MaxTokens: 7}, nil},
		{"seeded sampling", map[string]any{"temperature": 0.9, "top_p": 0.8, "top_k": 50, "seed": 7, "max_tokens": 10},
			sampler.Params{Temperature: 0.9, TopP: 0.8, TopK: 50, Seed: new(uint64(7)), MaxTokens: 10}, nil},
		{"penalties and min_tokens", map[string]any{"temperature": 0, "presence_penalty": 1.5, "frequency_penalty": -0.5,
			"repetition_penalty": 1.3, "min_tokens": 5, "max_tokens": 9, "ignore_eos": true},
			sampler.Params{PresencePenalty: 1.5, FrequencyPenalty: -0.5, RepetitionPenalty: 1.3, MinTokens: 5, MaxTokens: 9, IgnoreEOS: true}, nil},
		{"thinking off", map[string]any{"temperature": 0, "max_tokens": 8, "chat_template_kwargs": map[string]any{"enable_thinking": false}},
			sampler.Params{MaxTokens: 8}, new(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"model": modelName, "messages": msgs}
			for k, v := range tt.body {
				body[k] = v
			}
			status, got := a.post(t, "/v1/chat/completions", body)
			require.Equal(t, http.StatusOK, status, "%v", got)

			prompt := chatPrompt(t, ref.tok, msgs, tt.think)
			want := direct(t, ref.eng, engine.Request{Prompt: prompt, Params: tt.params})

			require.True(t, strings.HasPrefix(got["id"].(string), "chatcmpl-"))
			require.Equal(t, "chat.completion", got["object"])
			require.Equal(t, modelName, got["model"])
			require.IsType(t, float64(0), got["created"])
			require.Len(t, got["choices"], 1)
			choice := path(t, got, "choices", 0).(map[string]any)
			require.EqualValues(t, 0, choice["index"])
			require.Equal(t, "assistant", path(t, choice, "message", "role"))
			require.Equal(t, want.Text, path(t, choice, "message", "content"))
			require.Equal(t, openAIReason(want.FinishReason), choice["finish_reason"])
			require.Nil(t, choice["logprobs"])
			require.EqualValues(t, len(want.PromptTokenIDs), path(t, got, "usage", "prompt_tokens"))
			require.EqualValues(t, len(want.TokenIDs), path(t, got, "usage", "completion_tokens"))
			require.EqualValues(t, len(want.PromptTokenIDs)+len(want.TokenIDs), path(t, got, "usage", "total_tokens"))
			require.IsType(t, float64(0), path(t, got, "usage", "prompt_tokens_details", "cached_tokens"))
		})
	}
	waitIdle(t, a.eng)
}

// TestChatStream: the streamed chunks are OpenAI's: a first chunk per
// choice with the role, content deltas that join to the non-streamed
// reply, a last chunk per choice with only finish_reason, then, with
// include_usage, one chunk with no choices and the usage (every other
// chunk has usage null), then [DONE].
func TestChatStream(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	msgs := []map[string]any{{"role": "user", "content": "Tell me a story."}}
	for _, n := range []int{1, 3} {
		base := map[string]any{"messages": msgs, "temperature": 0.8, "seed": 11, "max_tokens": 14, "n": n}
		_, full := a.post(t, "/v1/chat/completions", base)

		streamed := map[string]any{"stream": true, "stream_options": map[string]any{"include_usage": true}}
		for k, v := range base {
			streamed[k] = v
		}
		events := a.stream(t, "/v1/chat/completions", streamed)
		require.NotEmpty(t, events)
		id := events[0]["id"].(string)
		content := make([]string, n)
		finished := make([]bool, n)
		roleSeen := make([]bool, n)
		for k, ev := range events[:len(events)-1] {
			require.Equal(t, id, ev["id"], "every chunk has the response's id")
			require.Equal(t, "chat.completion.chunk", ev["object"])
			require.Equal(t, modelName, ev["model"])
			require.Contains(t, ev, "usage")
			require.Nil(t, ev["usage"], "chunk %d", k)
			require.Len(t, ev["choices"], 1)
			c := path(t, ev, "choices", 0).(map[string]any)
			i := int(c["index"].(float64))
			delta := c["delta"].(map[string]any)
			require.False(t, finished[i], "a chunk after the choice's finish_reason")
			if !roleSeen[i] {
				require.Equal(t, "assistant", delta["role"], "the first chunk of a choice carries the role")
				require.Equal(t, "", delta["content"])
				roleSeen[i] = true
				continue
			}
			require.NotContains(t, delta, "role")
			if fr := c["finish_reason"]; fr != nil {
				require.Empty(t, delta, "the finish chunk has an empty delta")
				require.Equal(t, path(t, full, "choices", i, "finish_reason"), fr)
				finished[i] = true
				continue
			}
			content[i] += delta["content"].(string)
		}
		for i := range n {
			require.True(t, finished[i])
			require.Equal(t, path(t, full, "choices", i, "message", "content"), content[i], "choice %d", i)
		}
		last := events[len(events)-1]
		require.Equal(t, []any{}, last["choices"])
		require.Equal(t, full["usage"], last["usage"])
	}
	waitIdle(t, a.eng)
}

// TestChatChoices: n choices run as n requests with seeds seed, seed+1,
// ...; each equals the engine's run with that seed, and the later choices
// find the prompt in the prefix cache.
func TestChatChoices(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	// A long prompt: two full blocks the later choices can share.
	msgs := []tokenizer.Message{{Role: "user", Content: strings.Repeat("The quick brown fox jumps over the lazy dog. ", 6)}}
	status, got := a.post(t, "/v1/chat/completions", map[string]any{
		"messages": msgs, "n": 4, "temperature": 1, "seed": 100, "max_tokens": 6, "return_token_ids": true,
	})
	require.Equal(t, http.StatusOK, status, "%v", got)
	prompt := chatPrompt(t, ref.tok, msgs, nil)
	completion := 0
	for j := range 4 {
		want := direct(t, ref.eng, engine.Request{Prompt: prompt, Params: sampler.Params{Temperature: 1, Seed: new(uint64(100 + j)), MaxTokens: 6}})
		require.EqualValues(t, j, path(t, got, "choices", j, "index"))
		require.Equal(t, want.Text, path(t, got, "choices", j, "message", "content"), "choice %d", j)
		require.Equal(t, want.TokenIDs, ids(t, path(t, got, "choices", j, "token_ids")))
		completion += len(want.TokenIDs)
	}
	require.EqualValues(t, completion, path(t, got, "usage", "completion_tokens"))
	st := a.eng.Stats().Blocks
	require.Positive(t, st.PrefixHitTokens, "the later choices reuse the first one's prompt blocks")
	full := len(ref.tok.Encode(prompt)) / 16 * 16
	require.EqualValues(t, 3*full, st.PrefixHitTokens, "each of the 3 later choices reuses every full prompt block")
	waitIdle(t, a.eng)
}

// TestChatLogprobs: logprobs: true with top_logprobs N gives, per token,
// the token's text, bytes and logprob and its N most likely alternatives,
// equal to the engine's raw logprobs.
func TestChatLogprobs(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	msgs := []tokenizer.Message{{Role: "user", Content: "hi"}}
	for _, top := range []int{0, 3} {
		status, got := a.post(t, "/v1/chat/completions", map[string]any{
			"messages": msgs, "temperature": 0, "max_tokens": 5, "logprobs": true, "top_logprobs": top,
		})
		require.Equal(t, http.StatusOK, status, "%v", got)
		want := direct(t, ref.eng, engine.Request{Prompt: chatPrompt(t, ref.tok, msgs, nil), Params: sampler.Params{MaxTokens: 5, Logprobs: max(top, 1)}})
		content := path(t, got, "choices", 0, "logprobs", "content").([]any)
		require.Len(t, content, len(want.TokenIDs))
		for k, id := range want.TokenIDs {
			e := content[k].(map[string]any)
			text := ref.tok.Decode([]int32{id}, false)
			require.Equal(t, text, e["token"])
			require.InDelta(t, want.Logprobs[k].Logprob, e["logprob"], 1e-6)
			var b []byte
			for _, x := range e["bytes"].([]any) {
				b = append(b, byte(x.(float64)))
			}
			require.Equal(t, text, string(b))
			alts := e["top_logprobs"].([]any)
			require.Len(t, alts, top)
			for m, alt := range alts {
				w := want.Logprobs[k].Top[m]
				require.Equal(t, ref.tok.Decode([]int32{w.Token}, false), path(t, alt, "token"))
				require.InDelta(t, w.Logprob, path(t, alt, "logprob"), 1e-6)
			}
		}
	}
	waitIdle(t, a.eng)
}

// TestCachedTokens: a conversation sent again finds its prompt's full
// blocks in the prefix cache, and usage says so in
// prompt_tokens_details.cached_tokens.
func TestCachedTokens(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	msgs := []map[string]any{{"role": "user", "content": strings.Repeat("A long question about rivers and stones. ", 5)}}
	body := map[string]any{"messages": msgs, "max_tokens": 2}
	_, first := a.post(t, "/v1/chat/completions", body)
	require.EqualValues(t, 0, path(t, first, "usage", "prompt_tokens_details", "cached_tokens"))
	_, second := a.post(t, "/v1/chat/completions", body)
	prompt := int(path(t, second, "usage", "prompt_tokens").(float64))
	require.Greater(t, prompt, 32)
	// Every full 16-token block but one that would hold the last prompt
	// token, which must be computed to get the first output.
	require.EqualValues(t, (prompt-1)/16*16, path(t, second, "usage", "prompt_tokens_details", "cached_tokens"))
	waitIdle(t, a.eng)
}
