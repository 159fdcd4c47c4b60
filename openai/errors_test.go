package openai

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireError checks OpenAI's error object: {"error": {"message": "...",
// "type": "...", "param": ..., "code": ...}} with the given param (nil for
// null).
func requireError(t *testing.T, got map[string]any, typ string, param any) {
	t.Helper()
	obj, ok := got["error"].(map[string]any)
	require.True(t, ok, "no error object in %v", got)
	require.NotEmpty(t, obj["message"])
	require.Equal(t, typ, obj["type"])
	require.Contains(t, obj, "param")
	require.Equal(t, param, obj["param"], "message: %v", obj["message"])
	require.Contains(t, obj, "code")
}

// TestBadRequests: every bad value gets a 400 with OpenAI's error object
// naming the parameter, before any generation starts; unknown fields are
// ignored.
func TestBadRequests(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{})
	msgs := []map[string]any{{"role": "user", "content": "hi"}}
	chat := func(extra string) string {
		return `{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2` + extra + `}`
	}
	long := strings.Repeat("word ", 600) // more than the 512-token context

	tests := []struct {
		name, path, body string
		param            any
	}{
		{"temperature negative", "/v1/chat/completions", chat(`, "temperature": -1`), "temperature"},
		{"temperature a string", "/v1/chat/completions", chat(`, "temperature": "hot"`), "temperature"},
		{"top_p zero", "/v1/chat/completions", chat(`, "top_p": 0`), "top_p"},
		{"top_p above one", "/v1/completions", `{"prompt": "a", "top_p": 1.5}`, "top_p"},
		{"top_k below -1", "/v1/chat/completions", chat(`, "top_k": -2`), "top_k"},
		{"min_p above one", "/v1/chat/completions", chat(`, "min_p": 2`), "min_p"},
		{"presence_penalty", "/v1/chat/completions", chat(`, "presence_penalty": 3`), "presence_penalty"},
		{"frequency_penalty", "/v1/completions", `{"prompt": "a", "frequency_penalty": -2.5}`, "frequency_penalty"},
		{"repetition_penalty", "/v1/chat/completions", chat(`, "repetition_penalty": 0`), "repetition_penalty"},
		{"max_tokens zero", "/v1/completions", `{"prompt": "a", "max_tokens": 0}`, "max_tokens"},
		{"max_tokens fractional", "/v1/completions", `{"prompt": "a", "max_tokens": 1.5}`, "max_tokens"},
		{"max_completion_tokens", "/v1/chat/completions", chat(`, "max_completion_tokens": -1`), "max_completion_tokens"},
		{"min_tokens above max", "/v1/chat/completions", chat(`, "min_tokens": 5`), "min_tokens"},
		{"n zero", "/v1/chat/completions", chat(`, "n": 0`), "n"},
		{"n too large", "/v1/chat/completions", chat(`, "n": 1000`), "n"},
		{"best_of", "/v1/completions", `{"prompt": "a", "best_of": 3}`, "best_of"},
		{"logit_bias", "/v1/chat/completions", chat(`, "logit_bias": {"100": 5}`), "logit_bias"},
		{"stop empty", "/v1/chat/completions", chat(`, "stop": ""`), "stop"},
		{"stop not strings", "/v1/chat/completions", chat(`, "stop": [1, 2]`), "stop"},
		{"stop_token_ids outside vocab", "/v1/chat/completions", chat(`, "stop_token_ids": [999999]`), "stop_token_ids"},
		{"seed a string", "/v1/chat/completions", chat(`, "seed": "x"`), "seed"},
		{"top_logprobs without logprobs", "/v1/chat/completions", chat(`, "top_logprobs": 3`), "top_logprobs"},
		{"top_logprobs too many", "/v1/chat/completions", chat(`, "logprobs": true, "top_logprobs": 21`), "top_logprobs"},
		{"logprobs too many", "/v1/completions", `{"prompt": "a", "logprobs": 21}`, "logprobs"},
		{"echo with logprobs", "/v1/completions", `{"prompt": "a", "logprobs": 1, "echo": true}`, "echo"},
		{"suffix", "/v1/completions", `{"prompt": "a", "suffix": "b"}`, "suffix"},
		{"stream_options without stream", "/v1/chat/completions", chat(`, "stream_options": {"include_usage": true}`), "stream_options"},
		{"tools", "/v1/chat/completions", chat(`, "tools": [{"type": "function", "function": {"name": "f"}}]`), "tools"},
		{"tool_choice required", "/v1/chat/completions", chat(`, "tool_choice": "required"`), "tool_choice"},
		{"response_format json", "/v1/chat/completions", chat(`, "response_format": {"type": "json_object"}`), "response_format"},
		{"enable_thinking not a bool", "/v1/chat/completions", chat(`, "chat_template_kwargs": {"enable_thinking": "yes"}`), "chat_template_kwargs.enable_thinking"},
		{"no messages", "/v1/chat/completions", `{"max_tokens": 2}`, "messages"},
		{"empty messages", "/v1/chat/completions", `{"messages": []}`, "messages"},
		{"message not an object", "/v1/chat/completions", `{"messages": ["hi"]}`, "messages[0]"},
		{"unknown role", "/v1/chat/completions", `{"messages": [{"role": "robot", "content": "hi"}]}`, "messages[0].role"},
		{"image content", "/v1/chat/completions", `{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}`, "messages[0].content[0]"},
		{"content a number", "/v1/chat/completions", `{"messages": [{"role": "user", "content": 5}]}`, "messages[0].content"},
		{"no prompt", "/v1/completions", `{"max_tokens": 2}`, "prompt"},
		{"empty prompt list", "/v1/completions", `{"prompt": []}`, "prompt"},
		{"empty prompt", "/v1/completions", `{"prompt": ""}`, "prompt"},
		{"empty token list", "/v1/completions", `{"prompt": [[1, 2], []]}`, "prompt"},
		{"mixed prompt list", "/v1/completions", `{"prompt": [1, "a"]}`, "prompt"},
		{"prompt an object", "/v1/completions", `{"prompt": {"text": "a"}}`, "prompt"},
		{"token outside vocab", "/v1/completions", `{"prompt": [1, 999999]}`, "prompt"},
		{"negative token", "/v1/completions", `{"prompt": [1, -5]}`, "prompt"},
		{"prompt fills the context", "/v1/completions", `{"prompt": "` + long + `"}`, "prompt"},
		{"messages fill the context", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "` + long + `"}]}`, "messages"},
		{"completion past the context", "/v1/completions", `{"prompt": "a b c", "max_tokens": 510}`, "max_tokens"},
		{"too many sequences", "/v1/completions", `{"prompt": ["a", "b", "c"], "n": 30}`, "prompt"},
		{"not JSON", "/v1/chat/completions", `{"messages": `, nil},
		{"not an object", "/v1/completions", `[1, 2]`, nil},
		{"nested too deep", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "metadata": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.do(t, tt.path, tt.body, nil)
			defer resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var got map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			requireError(t, got, "invalid_request_error", tt.param)
		})
	}
	require.Zero(t, a.eng.Stats().Blocks.PrefixQueryTokens, "no bad request reached the scheduler")

	t.Run("unknown fields are ignored", func(t *testing.T) {
		status, got := a.post(t, "/v1/chat/completions", map[string]any{
			"messages": msgs, "max_tokens": 2, "user": "me", "metadata": map[string]any{"a": 1}, "future_field": []int{1},
			"parallel_tool_calls": true, "store": false, "tool_choice": "none", "response_format": map[string]any{"type": "text"},
		})
		require.Equal(t, http.StatusOK, status, "%v", got)
	})
	waitIdle(t, a.eng)
}

// TestHTTPErrors: the other failures, each with OpenAI's error object.
func TestHTTPErrors(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{MaxBodyBytes: 1 << 10})
	ids := startServer(t, idsFixture, testEngineConfig(), Options{})

	tests := []struct {
		name       string
		server     *apiServer
		method     string
		path, body string
		status     int
		typ        string
		param      any
	}{
		{"unknown model", a, "POST", "/v1/chat/completions", `{"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}`, 404, "not_found_error", "model"},
		{"unknown model card", a, "GET", "/v1/models/gpt-4", ``, 404, "not_found_error", "model"},
		{"unknown endpoint", a, "POST", "/v1/embeddings", `{}`, 404, "not_found_error", nil},
		{"wrong method", a, "GET", "/v1/chat/completions", ``, 404, "not_found_error", nil},
		{"body too large", a, "POST", "/v1/completions", `{"prompt": "` + strings.Repeat("a", 2<<10) + `"}`, 413, "invalid_request_error", nil},
		{"chat without a tokenizer", ids, "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}]}`, 400, "invalid_request_error", "messages"},
		{"text prompt without a tokenizer", ids, "POST", "/v1/completions", `{"prompt": "hi"}`, 400, "invalid_request_error", "prompt"},
		{"stop strings without a tokenizer", ids, "POST", "/v1/completions", `{"prompt": [1], "stop": "x"}`, 400, "invalid_request_error", "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.server.url+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.status, resp.StatusCode, "%s", data)
			var got map[string]any
			require.NoError(t, json.Unmarshal(data, &got))
			requireError(t, got, tt.typ, tt.param)
		})
	}
}

// TestAPIKey: with a key, /v1/ needs "Authorization: Bearer KEY" and
// answers 401 otherwise; /health and /metrics stay open.
func TestAPIKey(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{APIKey: "s3cret"})
	body := `{"prompt": "a", "max_tokens": 1}`
	for _, tc := range []struct {
		name   string
		header string
		status int
	}{
		{"no key", "", 401},
		{"wrong key", "Bearer nope", 401},
		{"key prefix", "Bearer s3cre", 401},
		{"key without scheme", "s3cret", 401},
		{"basic scheme", "Basic s3cret", 401},
		{"right key", "Bearer s3cret", 200},
		{"scheme in lower case", "bearer s3cret", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := map[string]string{}
			if tc.header != "" {
				headers["Authorization"] = tc.header
			}
			resp := a.do(t, "/v1/completions", body, headers)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == 401 {
				var got map[string]any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
				requireError(t, got, "invalid_request_error", nil)
				require.Equal(t, "invalid_api_key", path(t, got, "error", "code"))
				require.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	for _, p := range []string{"/health", "/metrics"} {
		resp, err := http.Get(a.url + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	resp, err := http.Get(a.url + "/v1/models")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// TestModels: /v1/models lists the served model in OpenAI's shape, and
// /v1/models/{id} returns it.
func TestModels(t *testing.T) {
	a := startServer(t, vocabFixture, testEngineConfig(), Options{ModelName: "Org/Model-1"})
	for _, tc := range []struct{ path string }{{"/v1/models"}, {"/v1/models/Org/Model-1"}} {
		resp, err := http.Get(a.url + tc.path)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		card := got
		if tc.path == "/v1/models" {
			require.Equal(t, "list", got["object"])
			require.Len(t, got["data"], 1)
			card = path(t, got, "data", 0).(map[string]any)
		}
		require.Equal(t, "Org/Model-1", card["id"])
		require.Equal(t, "model", card["object"])
		require.IsType(t, float64(0), card["created"])
		require.NotEmpty(t, card["owned_by"])
		require.EqualValues(t, 512, card["max_model_len"])
	}
}
