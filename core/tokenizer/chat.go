package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// ErrNoChatTemplate reports a tokenizer whose tokenizer_config.json has no
// chat_template (or that was loaded without one).
var ErrNoChatTemplate = errors.New("tokenizer has no chat template")

// Message is one turn of a conversation, in the shape of OpenAI's chat API
// that chat templates expect.
type Message struct {
	// Role is "system", "user", "assistant" or "tool".
	Role string `json:"role"`
	// Content is the turn's text. For an assistant turn it may contain a
	// <think>...</think> block, which the Qwen3 template splits off.
	Content string `json:"content"`
	// ReasoningContent is an assistant turn's thinking, given separately.
	// When not empty it takes precedence over a <think> block in Content.
	ReasoningContent string `json:"reasoning_content,omitempty"`
	// ToolCalls are the function calls an assistant turn made.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// ToolCall is one function call made by the assistant.
type ToolCall struct {
	Type     string       `json:"type,omitempty"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and its arguments. Arguments is a JSON
// object, or a JSON string holding the arguments' JSON text as OpenAI's API
// sends it; the template prints a string as is and an object as JSON.
type FunctionCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// ChatOptions are the variables a chat template reads besides the messages.
type ChatOptions struct {
	// AddGenerationPrompt ends the prompt with the assistant turn's header,
	// so the model's reply follows.
	AddGenerationPrompt bool
	// EnableThinking: nil leaves the variable undefined (Qwen3 then thinks);
	// false makes Qwen3's template add an empty <think></think> block, which
	// switches thinking off.
	EnableThinking *bool
	// Tools are function definitions, each a JSON object such as
	// {"type": "function", "function": {"name": ..., "parameters": ...}}.
	// Key order is kept when the template prints them.
	Tools []json.RawMessage
}

// HasChatTemplate reports whether the tokenizer has a chat template.
func (t *Tokenizer) HasChatTemplate() bool { return t.chatTemplate != "" }

// ChatTemplate returns the Jinja source of the chat template, or "".
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// ApplyChatTemplate renders msgs into a prompt string with the model's chat
// template, as transformers' apply_chat_template(tokenize=False) does. Pass
// the result to Encode for the ids; the special tokens in it are recognised
// there.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, opts ChatOptions) (string, error) {
	raw, err := json.Marshal(msgs)
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return t.ApplyChatTemplateJSON(raw, opts)
}

// ApplyChatTemplateJSON is ApplyChatTemplate for messages given as a JSON
// array in OpenAI's format. Every field reaches the template as given,
// including ones Message does not have, and key order is preserved.
func (t *Tokenizer) ApplyChatTemplateJSON(messages []byte, opts ChatOptions) (string, error) {
	prog, err := t.chat.compile(t.chatTemplate)
	if err != nil {
		return "", err
	}
	msgs, err := decodeConversation(messages, "messages")
	if err != nil {
		return "", err
	}
	list, ok := msgs.([]any)
	if !ok {
		return "", fmt.Errorf("chat template: messages must be a JSON array")
	}
	if len(list) == 0 {
		return "", fmt.Errorf("chat template: no messages")
	}
	for i, m := range list {
		obj, ok := m.(jsonObject)
		if !ok {
			return "", fmt.Errorf("chat template: message %d is not an object", i)
		}
		// Templates index .role and .content unconditionally; a missing
		// field would render as nothing and hide the mistake.
		if r, _ := obj.vals["role"].(string); r == "" {
			return "", fmt.Errorf("chat template: message %d has no role", i)
		}
		if _, ok := obj.vals["content"]; !ok {
			return "", fmt.Errorf("chat template: message %d (%s) has no content", i, obj.vals["role"])
		}
	}
	data := map[string]any{
		"messages":              list,
		"add_generation_prompt": opts.AddGenerationPrompt,
		"raise_exception": func(msg string) (string, error) {
			return "", fmt.Errorf("chat template raised: %s", msg)
		},
	}
	if opts.EnableThinking != nil {
		data["enable_thinking"] = *opts.EnableThinking
	}
	if len(opts.Tools) > 0 {
		tools := make([]any, len(opts.Tools))
		size := 0
		for i, raw := range opts.Tools {
			if size += len(raw); size > MaxConversationBytes {
				return "", fmt.Errorf("chat template: %w: the tools are more than MaxConversationBytes (%d bytes)", ErrConversation, MaxConversationBytes)
			}
			if tools[i], err = decodeConversation(raw, fmt.Sprintf("tool %d", i)); err != nil {
				return "", err
			}
		}
		data["tools"] = tools
	}
	return t.chat.execute(prog, data)
}

// execute renders under the lock. The template and the messages both come
// from outside, and the engine is third-party code, so a panic inside it is
// turned into an error rather than taking a server down.
func (c *chatState) execute(prog *chatProgram, data map[string]any) (out string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat template: rendering failed: %v", r)
		}
	}()
	return prog.render(data)
}

// chatState compiles the template on first use (keeping Load fast) and
// serialises rendering, since the engine does not document that a template
// may be executed concurrently.
type chatState struct {
	once sync.Once
	prog *chatProgram
	err  error
	mu   sync.Mutex
}

func (c *chatState) compile(src string) (*chatProgram, error) {
	if src == "" {
		return nil, ErrNoChatTemplate
	}
	c.once.Do(func() {
		c.prog, c.err = compileTemplate(src)
	})
	return c.prog, c.err
}

// filterToJSON is transformers' tojson: json.dumps(x, ensure_ascii=False),
// with ", " and ": " separators, keys in their given order, and an optional
// indent.
func filterToJSON(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	indent := -1
	if v, ok := params.KwArgs["indent"]; ok && !v.IsNil() {
		if !v.IsInteger() {
			return exec.AsValue(fmt.Errorf("tojson: indent must be an integer, got %s", v.String()))
		}
		indent = v.Integer()
	}
	var b strings.Builder
	if err := writePyJSON(&b, in.Interface(), indent, 0); err != nil {
		return exec.AsValue(fmt.Errorf("tojson: %w", err))
	}
	return exec.AsSafeValue(b.String())
}

// writePyJSON writes v the way Python's json.dumps(v, ensure_ascii=False)
// does: the values are those decodeOrdered produces plus what templates
// build themselves (strings, numbers, lists, maps).
func writePyJSON(w *strings.Builder, v any, indent, depth int) error {
	newline := func(d int) {
		if indent >= 0 {
			w.WriteByte('\n')
			w.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	itemSep := ", "
	if indent >= 0 {
		itemSep = ","
	}
	switch x := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(x))
	case string:
		writePyString(w, x)
	case int:
		w.WriteString(strconv.Itoa(x))
	case int64:
		w.WriteString(strconv.FormatInt(x, 10))
	case float64:
		w.WriteString(pyFloat(x))
	case []any:
		if len(x) == 0 {
			w.WriteString("[]")
			return nil
		}
		w.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				w.WriteString(itemSep)
			}
			newline(depth + 1)
			if err := writePyJSON(w, e, indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		w.WriteByte(']')
	case jsonObject:
		if len(x.keys) == 0 {
			w.WriteString("{}")
			return nil
		}
		w.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				w.WriteString(itemSep)
			}
			newline(depth + 1)
			writePyString(w, k)
			w.WriteString(": ")
			if err := writePyJSON(w, x.vals[k], indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		w.WriteByte('}')
	default:
		// Anything else (a map built in the template, say) goes through
		// encoding/json and back, which sorts map keys.
		raw, err := json.Marshal(x)
		if err != nil {
			return err
		}
		o, err := decodeOrdered(raw)
		if err != nil {
			return err
		}
		return writePyJSON(w, o, indent, depth)
	}
	return nil
}

// writePyString quotes s as Python's json module does with
// ensure_ascii=False: only '"', '\\' and control characters are escaped.
func writePyString(w *strings.Builder, s string) {
	w.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		case '\b':
			w.WriteString(`\b`)
		case '\f':
			w.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(w, `\u%04x`, r)
			} else {
				w.WriteRune(r)
			}
		}
	}
	w.WriteByte('"')
}

// pyFloat formats f like Python's repr(float): shortest round-trip digits,
// a ".0" on integral values, exponent form outside [1e-4, 1e16).
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes 1e+16 and 1.5e-05 as Python does.
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// jsonObject is a JSON object that remembers its key order, so tojson
// prints tool schemas as the caller wrote them, like Python's dicts do.
// Templates read its fields as attributes (message.role) or items
// (message['role']).
type jsonObject struct {
	keys []string
	vals map[string]any
}

// GetAttribute implements exec.AttributeGetter.
func (o jsonObject) GetAttribute(name string) (*exec.Value, bool) {
	v, ok := o.vals[name]
	if !ok {
		return exec.AsValue(nil), false
	}
	return exec.AsValue(v), true
}

// GetItem implements exec.ItemGetter.
func (o jsonObject) GetItem(key any) (*exec.Value, bool) {
	k, ok := key.(string)
	if !ok {
		return exec.AsValue(nil), false
	}
	return o.GetAttribute(k)
}

// ErrConversation is wrapped by the error for messages or tools that are
// not valid conversation JSON, nest deeper than MaxJSONDepth, or are larger
// than MaxConversationBytes.
var ErrConversation = errors.New("invalid conversation JSON")

// decodeConversation decodes the messages or a tool (what names it in
// errors) with decodeOrdered, within MaxConversationBytes.
func decodeConversation(data []byte, what string) (any, error) {
	if len(data) > MaxConversationBytes {
		return nil, fmt.Errorf("chat template: %w: %s are %d bytes, more than MaxConversationBytes (%d)",
			ErrConversation, what, len(data), MaxConversationBytes)
	}
	v, err := decodeOrdered(data)
	if err != nil {
		return nil, fmt.Errorf("chat template: %s: %w: %w", what, ErrConversation, err)
	}
	return v, nil
}

// decodeOrdered decodes JSON into nil, bool, string, int64 (integers),
// float64, []any and jsonObject. Arrays and objects may nest at most
// MaxJSONDepth deep: the decoding recurses once per level.
func decodeOrdered(data []byte) (any, error) {
	if err := CheckJSONDepth(data, MaxJSONDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		if depth >= MaxJSONDepth {
			return nil, fmt.Errorf("arrays and objects nest more than %d deep", MaxJSONDepth)
		}
		switch x {
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ']'
			return list, err
		case '{':
			obj := jsonObject{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if _, dup := obj.vals[k]; !dup {
					obj.keys = append(obj.keys, k)
				}
				obj.vals[k] = v
			}
			_, err := dec.Token() // '}'
			return obj, err
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return f, nil
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("invalid UTF-8 in string")
		}
		return x, nil
	default:
		return x, nil // bool or nil
	}
}
