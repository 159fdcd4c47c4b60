package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type chatCase struct {
	Name                string            `json:"name"`
	Messages            json.RawMessage   `json:"messages"`
	Tools               []json.RawMessage `json:"tools"`
	AddGenerationPrompt bool              `json:"add_generation_prompt"`
	EnableThinking      *bool             `json:"enable_thinking"`
	Prompt              string            `json:"prompt"`
	IDs                 []int32           `json:"ids"`
}

func (c chatCase) options() ChatOptions {
	return ChatOptions{AddGenerationPrompt: c.AddGenerationPrompt, EnableThinking: c.EnableThinking, Tools: c.Tools}
}

// TestChatTemplateMatchesReference renders every conversation of
// chat_cases.json (rendered by @huggingface/jinja and Python Jinja2) through
// both entry points, and checks the prompt's ids too.
func TestChatTemplateMatchesReference(t *testing.T) {
	tok := qwen3(t)
	cases := readJSON[[]chatCase](t, "chat_cases.json")
	require.Len(t, cases, 13)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := tok.ApplyChatTemplateJSON(c.Messages, c.options())
			require.NoError(t, err)
			require.Equal(t, c.Prompt, got)
			require.Equal(t, c.IDs, tok.Encode(got))

			var msgs []Message
			require.NoError(t, json.Unmarshal(c.Messages, &msgs))
			got, err = tok.ApplyChatTemplate(msgs, c.options())
			require.NoError(t, err)
			require.Equal(t, c.Prompt, got)
		})
	}
}

// TestChatTemplateTools covers what chat_cases.json does not: tool
// definitions, tool calls and tool responses. The expected prompts come from
// Python Jinja2 configured as transformers configures it
// (testdata/gen_chat_tool_cases.py).
func TestChatTemplateTools(t *testing.T) {
	tok := qwen3(t)
	data, err := os.ReadFile(filepath.Join("testdata", "chat_tool_cases.json"))
	require.NoError(t, err)
	var cases []chatCase
	require.NoError(t, json.Unmarshal(data, &cases))
	require.NotEmpty(t, cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := tok.ApplyChatTemplateJSON(c.Messages, c.options())
			require.NoError(t, err)
			require.Equal(t, c.Prompt, got)
		})
	}
}

func TestChatTemplateMessageStruct(t *testing.T) {
	tok := qwen3(t)
	off := false
	got, err := tok.ApplyChatTemplate([]Message{
		{Role: "user", Content: "Weather?"},
		{Role: "assistant", Content: "", ToolCalls: []ToolCall{{Type: "function", Function: FunctionCall{
			Name: "get_weather", Arguments: json.RawMessage(`{"city": "Oslo", "days": 3}`)}}}},
		{Role: "tool", Content: "sunny"},
	}, ChatOptions{AddGenerationPrompt: true, EnableThinking: &off})
	require.NoError(t, err)
	// Hand-checked against the template: the assistant turn before the last
	// user query keeps no <think> block, arguments print as JSON with
	// Python's separators, the tool result becomes a user turn.
	want := "<|im_start|>user\nWeather?<|im_end|>\n" +
		"<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 3}}\n</tool_call><|im_end|>\n" +
		"<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n" +
		"<|im_start|>assistant\n<think>\n\n</think>\n\n"
	require.Equal(t, want, got)
}

func TestChatTemplateErrors(t *testing.T) {
	tok := qwen3(t)
	for _, tc := range []struct {
		name, messages, want string
	}{
		{"not json", `[{"role":`, "messages"},
		{"not an array", `{"role": "user", "content": "x"}`, "JSON array"},
		{"empty", `[]`, "no messages"},
		{"no role", `[{"content": "x"}]`, "message 0 has no role"},
		{"no content", `[{"role": "user"}]`, "message 0 (user) has no content"},
		{"not an object", `["hi"]`, "message 0 is not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tok.ApplyChatTemplateJSON([]byte(tc.messages), ChatOptions{})
			require.ErrorContains(t, err, tc.want)
		})
	}

	noTemplate, err := LoadFiles(mustRead(t, TokenizerFile), nil)
	require.NoError(t, err)
	_, err = noTemplate.ApplyChatTemplate([]Message{{Role: "user", Content: "x"}}, ChatOptions{})
	require.ErrorIs(t, err, ErrNoChatTemplate)
}

func TestPyJSON(t *testing.T) {
	// Expected strings are what Python 3's json.dumps(ensure_ascii=False)
	// prints for the same values.
	for _, tc := range []struct {
		in     string
		indent int
		want   string
	}{
		{`{"b": 1, "a": [true, null, 2.5, "x\"y\n\u0001é'"]}`, -1, `{"b": 1, "a": [true, null, 2.5, "x\"y\n\u0001é'"]}`},
		{`{"a": {}, "b": [], "c": 1e20, "d": 0.0001, "e": 1.0, "f": 1e-05}`, -1, `{"a": {}, "b": [], "c": 1e+20, "d": 0.0001, "e": 1.0, "f": 1e-05}`},
		{`{"a": [1, {"b": 2}]}`, 2, "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ]\n}"},
	} {
		v, err := decodeOrdered([]byte(tc.in))
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, writePyJSON(&b, v, tc.indent, 0))
		require.Equal(t, tc.want, b.String())
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	require.NoError(t, err)
	return data
}

// FuzzChatTemplate feeds arbitrary message lists to the template engine:
// whatever the JSON, rendering returns a prompt or an error, never panics.
func FuzzChatTemplate(f *testing.F) {
	tok := qwen3(f)
	for _, s := range []string{
		`[{"role": "user", "content": "hi"}]`,
		`[{"role": "assistant", "content": null}]`,
		`[{"role": "assistant", "content": [{"type": "text", "text": "x"}]}]`,
		`[{"role": "user", "content": 5}, {"role": "tool", "content": {}}]`,
		`[{"role": "assistant", "content": "<think>a</think>b", "tool_calls": [{"function": null}]}]`,
		`[{"role": "assistant", "content": "", "tool_calls": "x"}]`,
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, messages string, gen bool) {
		_, _ = tok.ApplyChatTemplateJSON([]byte(messages), ChatOptions{AddGenerationPrompt: gen})
	})
}
