package openai

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// wholeSplit is vLLM's qwen3 reasoning parser on a whole reply (its
// extract_reasoning): with thinking off in the prompt everything is
// content; otherwise a leading <think> is dropped (or was in the prompt),
// the text before </think> is reasoning and after it content, and a reply
// cut off before </think> is all reasoning. A reply to a template that
// leaves <think> to the model and that does not start with it did not
// think: all content.
func wholeSplit(prompt, reply string) (reasoning *string, content string) {
	tail := strings.TrimRight(prompt, " \n")
	body := reply
	switch {
	case strings.HasSuffix(tail, "</think>"):
		return nil, reply
	case strings.HasSuffix(tail, "<think>"):
	case strings.HasPrefix(reply, "<think>"):
		body = reply[len("<think>"):]
	default:
		return nil, reply
	}
	before, after, found := strings.Cut(body, "</think>")
	if !found {
		return &body, ""
	}
	return &before, after
}

// TestThinkSplitter: however a reply is cut into streamed pieces, the
// reasoning and content deltas join to the whole-reply split.
func TestThinkSplitter(t *testing.T) {
	prompts := map[string]string{
		"model opens":   "<|im_start|>assistant\n",
		"prompt opens":  "<|im_start|>assistant\n<think>\n",
		"thinking off":  "<|im_start|>assistant\n<think>\n\n</think>\n\n",
		"plain prompt":  "Q: ",
		"prompt spaces": "x <think> ",
	}
	replies := []string{
		"<think>\nLet me see.\n</think>\n\nIt is 4.",
		"<think>\nstill thinking, cut off",
		"<think></think>answer",
		"<think>\n</think>",
		"no thinking at all",
		"<thin", // a prefix of the tag, never completed
		"<think>a </thi b </think> c </think> d",
		"reasoning only with the end </think> answer",
		"</think>",
		"",
		"<think>\n思考中…\n</think>\n\n答案是 4。🙂",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, prompt := range prompts {
		for _, reply := range replies {
			wantR, wantC := wholeSplit(prompt, reply)
			for cut := range 4 {
				pieces := cutText(reply, cut, rng)
				s := newThinkSplitter(prompt)
				var gotR, gotC strings.Builder
				for _, p := range pieces {
					r, c, _ := s.push(p)
					gotR.WriteString(r)
					gotC.WriteString(c)
				}
				r, c := s.flush()
				gotR.WriteString(r)
				gotC.WriteString(c)
				msg := name + ": " + reply
				require.Equal(t, wantC, gotC.String(), msg)
				require.Equal(t, wantR != nil, s.thought(), msg)
				if wantR != nil {
					require.Equal(t, *wantR, gotR.String(), msg)
				} else {
					require.Empty(t, gotR.String(), msg)
				}
			}
		}
	}
}

// cutText cuts s at rune boundaries: whole, rune by rune, in two at every
// point (one of them, at random), or into random pieces.
func cutText(s string, how int, rng *rand.Rand) []string {
	runes := []rune(s)
	switch how {
	case 0:
		return []string{s}
	case 1:
		out := make([]string, len(runes))
		for i, r := range runes {
			out[i] = string(r)
		}
		return out
	case 2:
		i := rng.IntN(len(runes) + 1)
		return []string{string(runes[:i]), string(runes[i:])}
	}
	var out []string
	for len(runes) > 0 {
		n := 1 + rng.IntN(min(len(runes), 6))
		out = append(out, string(runes[:n]))
		runes = runes[n:]
	}
	return out
}

// TestChatReasoning: a Qwen3 reply's thinking comes back as
// reasoning_content, streamed or not, with reasoning_tokens in the usage;
// with enable_thinking false, or RawThinking, everything is content.
func TestChatReasoning(t *testing.T) {
	tok := loadTokenizer(t)
	const vocab = 151936
	reply := "<think>\nLet me think: 2+2.\n</think>\n\nThe answer is 4."
	script := append(tok.Encode(reply), vocab-1) // then the end of sequence
	end, ok := tok.TokenToID("</think>")
	require.True(t, ok)
	thinkTokens := slices.Index(script, end) + 1
	msgs := []tokenizer.Message{{Role: "user", Content: "What is 2+2?"}}

	tests := []struct {
		name      string
		raw       bool
		think     *bool
		maxTokens int
	}{
		{"thinking", false, nil, 0},
		{"thinking on", false, new(true), 0},
		{"thinking off", false, new(false), 0},
		{"cut off while thinking", false, nil, 5},
		{"raw thinking", true, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := startScriptServer(t, tok, vocab, 256, Options{RawThinking: tt.raw})
			prompt, err := tok.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true, EnableThinking: tt.think})
			require.NoError(t, err)
			ss.model.setScript(len(tok.Encode(prompt)), script)
			body := map[string]any{"messages": msgs, "temperature": 0}
			if tt.think != nil {
				body["chat_template_kwargs"] = map[string]any{"enable_thinking": *tt.think}
			}
			generated := script
			if tt.maxTokens > 0 {
				body["max_tokens"] = tt.maxTokens
				generated = script[:tt.maxTokens]
			}
			text := tok.Decode(generated, true)
			wantR, wantC := wholeSplit(prompt, text)
			if tt.raw {
				wantR, wantC = nil, text
			}

			status, got := ss.api.post(t, "/v1/chat/completions", body)
			require.Equal(t, http.StatusOK, status, "%v", got)
			msg := path(t, got, "choices", 0, "message").(map[string]any)
			if wantR == nil {
				require.NotContains(t, msg, "reasoning_content")
				require.Equal(t, wantC, msg["content"])
			} else {
				require.Equal(t, *wantR, msg["reasoning_content"])
				if wantC == "" {
					require.Nil(t, msg["content"], "a reply cut off while thinking has no content")
				} else {
					require.Equal(t, wantC, msg["content"])
				}
			}
			if !tt.raw {
				wantTokens := 0
				if wantR != nil {
					wantTokens = min(thinkTokens, len(generated))
				}
				require.EqualValues(t, wantTokens, path(t, got, "usage", "completion_tokens_details", "reasoning_tokens"))
			}

			body["stream"] = true
			var r, c string
			sawR := false
			for _, ev := range ss.api.stream(t, "/v1/chat/completions", body) {
				d := path(t, ev, "choices", 0, "delta").(map[string]any)
				if v, ok := d["reasoning_content"]; ok {
					sawR = true
					r += v.(string)
				}
				if v, ok := d["content"]; ok {
					c += v.(string)
				}
			}
			require.Equal(t, wantC, c)
			require.Equal(t, wantR != nil && *wantR != "", sawR)
			if wantR != nil {
				require.Equal(t, *wantR, r)
			}
			waitIdle(t, ss.eng)
		})
	}
}
