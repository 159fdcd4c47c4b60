package tokenizer

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// withTemplate returns a tokenizer with src as its chat template and no
// vocabulary: enough to render.
func withTemplate(src string) *Tokenizer { return &Tokenizer{chatTemplate: src} }

// bounded runs f and fails the test if it takes longer than d or if the
// heap grows by more than maxHeap bytes while it runs (sampled every
// millisecond).
func bounded(t *testing.T, d time.Duration, maxHeap uint64, f func()) {
	t.Helper()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := heap()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if h := heap(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	f()
	elapsed := time.Since(start)
	close(stop)
	<-done
	require.Less(t, elapsed, d, "took too long")
	grew := uint64(0)
	if p := peak.Load(); p > base {
		grew = p - base
	}
	require.Less(t, grew, maxHeap, "the heap grew too much")
}

var hiConversation = []byte(`[{"role": "user", "content": "hi"}]`)

// smallBudget lowers the sandbox's budget to a tenth for one test, so that
// the many hostile templates reach it quickly; TestChatTemplateSandboxFullBudget
// runs the worst of them against the real one.
func smallBudget(t *testing.T) {
	saved := budget
	budget.steps, budget.alloc = MaxTemplateSteps/10, MaxTemplateAlloc/10
	t.Cleanup(func() { budget = saved })
}

// TestChatTemplateSandboxLimits runs hostile templates, as a model
// repository may ship: each must fail with an error naming the limit it
// hit, within seconds and a bounded amount of memory. Without the sandbox
// they ran out of memory, overflowed the stack (a fatal error no recover
// catches) or ran for hours.
func TestChatTemplateSandboxLimits(t *testing.T) {
	smallBudget(t)
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, src, want string
	}{
		{"huge range", `{% for i in range(1000000000) %}x{% endfor %}`, "MaxTemplateRange"},
		{"negative huge range", `{{ range(0, -1000000000000, -1)|length }}`, "MaxTemplateRange"},
		{"nested loops", `{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}`, "MaxTemplateSteps"},
		{"self-recursive macro", `{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}`, "MaxTemplateCallDepth"},
		{"mutually recursive macros", `{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}`, "MaxTemplateCallDepth"},
		{"recursion through caller", `{% macro m() %}{% call m() %}{{ caller() }}{% endcall %}{% endmacro %}{{ m() }}`, "MaxTemplateCallDepth"},
		{"string doubling", `{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}`, "MaxTemplateAlloc"},
		{"string doubling with +", `{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}`, "MaxTemplateAlloc"},
		{"list doubling", `{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}`, "MaxTemplate"},
		{"string repeat", `{{ ("x" * 10000000000)|length }}`, "MaxTemplateAlloc"},
		{"center", `{{ "x"|center(1000000000000) }}`, "MaxTemplateAlloc"},
		{"ljust", `{{ "x".ljust(1000000000000) }}`, "MaxTemplateAlloc"},
		{"replace", `{% set s = "x" * 100000 %}{{ s.replace("x", "y" * 100000) }}`, "MaxTemplateAlloc"},
		{"replace filter", `{{ ("x" * 100000)|replace("x", "y" * 100000) }}`, "MaxTemplateAlloc"},
		{"join", `{{ range(100000)|join("x" * 100000) }}`, "MaxTemplateAlloc"},
		{"indent", `{{ ("\n" * 100000)|indent(100000) }}`, "MaxTemplateAlloc"},
		{"printf width", `{{ "%1000000d%1000000d%1000000d"|format(1, 2, 3) * 100 }}`, "MaxTemplateAlloc"},
		{"list of characters", `{{ ("x" * 10000000)|list|length }}`, "MaxTemplateAlloc"},
		{"accumulating copies", `{% set ns = namespace(l=[]) %}{% set s = "x" * 1000000 %}{% for i in range(100000) %}{% set ns.l = ns.l + [s[1:]] %}{% endfor %}`, "MaxTemplate"},
		{"text in a loop", `{% for i in range(100000) %}` + strings.Repeat("text ", 2000) + `{% endfor %}`, "MaxTemplate"},
		{"macro text in a loop", `{% macro m() %}` + strings.Repeat("text ", 2000) + `{% endmacro %}{% for i in range(100000) %}{% set x = m() %}{% endfor %}`, "MaxTemplate"},
		{"block-set text in a loop", `{% for i in range(100000) %}{% set x %}` + strings.Repeat("text ", 2000) + `{% endset %}{% endfor %}`, "MaxTemplate"},
		{"raw text in a loop", `{% macro m() %}{% raw %}` + strings.Repeat("text ", 2000) + `{% endraw %}{% endmacro %}{% for i in range(100000) %}{% set x = m() %}{% endfor %}`, "MaxTemplate"},
		{"testing a long string", `{% set s = "x" * 10000000 %}{% for i in range(100000) %}{% if s %}{% endif %}{% endfor %}`, "MaxTemplate"},
		{"indexing a long string", `{% set s = "x" * 10000000 %}{% for i in range(100000) %}{% if s[5] == "x" %}{% endif %}{% endfor %}`, "MaxTemplate"},
		{"comparing long strings", `{% set s = "x" * 10000000 %}{% for i in range(100000) %}{% if s == s %}{% endif %}{% endfor %}`, "MaxTemplate"},
		{"deep list", `{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}`, "MaxJSONDepth"},
		{"cyclic namespace", `{% set ns = namespace(a=1) %}{% set ns.b = ns %}{{ ns }}`, "MaxJSONDepth"},
		{"cyclic namespace tojson", `{% set ns = namespace(a=1) %}{% set ns.b = ns %}{{ ns|tojson }}`, "MaxJSONDepth"},
		{"include itself", `{% include "/chat_template.jinja" %}`, "{% include %} is not available"},
		{"import", `{% import "/chat_template.jinja" as x %}`, "{% import %} is not available"},
		{"block through self", `{% block a %}{{ self.a() }}{% endblock %}`, "{% block %} is not available"},
		{"recursive loop", `{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}`, "recursive for-loops are not available"},
		{"source too long", strings.Repeat("x", MaxTemplateSource+1), "MaxTemplateSource"},
		{"nested brackets", "{{ " + nest("(", ")", 100000) + " }}", "MaxTemplateNesting"},
		{"nested lists", "{{ " + nest("[", "]", 300000) + " }}", "MaxTemplateNesting"},
		{"nested blocks", strings.Repeat("{% if true %}", 10000) + strings.Repeat("{% endif %}", 10000), "MaxTemplateNesting"},
		{"long operator chain", "{{ 1" + strings.Repeat(" ~ 1", 100000) + " }}", "nest more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := withTemplate(tc.src)
			var err error
			bounded(t, 10*time.Second, 256<<20, func() {
				_, err = tok.ApplyChatTemplateJSON(hiConversation, ChatOptions{})
			})
			require.ErrorIs(t, err, ErrTemplateLimit)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestChatTemplateSandboxFullBudget runs the costliest hostile templates
// against the real budget: each stops within seconds, in bounded memory.
func TestChatTemplateSandboxFullBudget(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}`, "MaxTemplateSteps (4000000)"},
		{`{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}`, "MaxTemplateAlloc (134217728)"},
		{`{% for i in range(100000) %}` + strings.Repeat("text ", 2000) + `{% endfor %}`, "MaxTemplate"},
		{`{% set s = "x" * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}`, "MaxTemplateOutput"},
	} {
		var err error
		bounded(t, 10*time.Second, 1<<30, func() {
			_, err = withTemplate(tc.src).ApplyChatTemplateJSON(hiConversation, ChatOptions{})
		})
		require.ErrorIs(t, err, ErrTemplateLimit)
		require.ErrorContains(t, err, tc.want)
	}
}

// TestChatTemplateSandboxEveryStructure checks that the sandbox reaches into
// every control structure a template may use: an explosion inside each one
// is stopped.
func TestChatTemplateSandboxEveryStructure(t *testing.T) {
	smallBudget(t)
	const boom = `("x" * 10000000000)`
	for _, src := range []string{
		`{% if true %}{{ ` + boom + ` }}{% endif %}`,
		`{% if ` + boom + ` %}{% endif %}`,
		`{% if false %}{% elif ` + boom + ` %}{% endif %}`,
		`{% if false %}{% elif true %}{{ ` + boom + ` }}{% endif %}`,
		`{% for i in [1] %}{{ ` + boom + ` }}{% endfor %}`,
		`{% for i in ` + boom + ` %}{% endfor %}`,
		`{% for i in [1] if ` + boom + ` %}{% endfor %}`,
		`{% for i in [] %}{% else %}{{ ` + boom + ` }}{% endfor %}`,
		`{% macro m() %}{{ ` + boom + ` }}{% endmacro %}{{ m() }}`,
		`{% macro m(a=` + boom + `) %}{% endmacro %}{{ m() }}`,
		`{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{{ ` + boom + ` }}{% endcall %}`,
		`{% filter upper %}{{ ` + boom + ` }}{% endfilter %}`,
		`{% filter replace("a", ` + boom + `) %}a{% endfilter %}`,
		`{% with a = ` + boom + ` %}{% endwith %}`,
		`{% with a = 1 %}{{ ` + boom + ` }}{% endwith %}`,
		`{% autoescape false %}{{ ` + boom + ` }}{% endautoescape %}`,
		`{% set x %}{{ ` + boom + ` }}{% endset %}`,
		`{% set x = ` + boom + ` %}`,
		`{% set x = ` + boom + ` if true else "" %}`,
		`{% set x = "" if false else ` + boom + ` %}`,
		`{% set x = "" if ` + boom + ` else "" %}`,
		`{% do ` + boom + ` %}`,
		`{{ "" if ` + boom + ` else "" }}`,
		`{{ "" if false else ` + boom + ` }}`,
		`{{ [` + boom + `][0] }}`,
		`{{ {"k": ` + boom + `}["k"] }}`,
		`{{ (` + boom + `, 1)[1] }}`,
		`{{ ` + boom + `|string }}`,
		`{{ "%s"|format(` + boom + `) }}`,
		`{{ "a".join([` + boom + `]) }}`,
		`{{ not ` + boom + ` }}`,
		`{{ false or ` + boom + ` }}`,
		`{{ true and ` + boom + ` }}`,
		`{{ ` + boom + ` is string }}`,
		`{{ 1 is divisibleby(` + boom + `|length) }}`,
		`{{ namespace(a=` + boom + `) }}`,
		`{{ range(` + boom + `|length) }}`,
		`{{ [1, 2][` + boom + `|length] }}`,
		`{{ "abc"[1:` + boom + `|length] }}`,
	} {
		t.Run(src, func(t *testing.T) {
			tok := withTemplate(src)
			var err error
			bounded(t, 10*time.Second, 256<<20, func() {
				_, err = tok.ApplyChatTemplateJSON(hiConversation, ChatOptions{})
			})
			require.ErrorIs(t, err, ErrTemplateLimit)
			require.ErrorContains(t, err, "MaxTemplateAlloc")
		})
	}
}

// TestChatTemplateSandboxKeepsBehaviour renders templates that stay within
// the limits: the sandbox must not change what they print (these are
// Jinja2's outputs for the same templates).
func TestChatTemplateSandboxKeepsBehaviour(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{% filter upper %}abc{{ "d" ~ "e" }}{% endfilter %}`, "ABCDE"},
		{`{% with a = 1 + 2 %}{{ a }}{% endwith %}`, "3"},
		{`{% raw %}{{ x }}{% endraw %}`, "{{ x }}"},
		{`{% macro m(a, b=2) %}[{{ a }}{{ b }}{{ caller() }}]{% endmacro %}{% call m(1) %}in{% endcall %}`, "[12in]"},
		{`{% set x %}X{{ 1 }}{% endset %}{{ x }}`, "X1"},
		{`{% autoescape true %}{{ "<a>" }}{% endautoescape %}`, "&lt;a&gt;"},
		{`{% for k, v in {"a": 1, "b": 2}.items() %}{{ k }}={{ v }};{% endfor %}`, "a=1;b=2;"},
		{`{{ [3, 1, 2]|sort|join(",") }}|{{ "a-b"|replace("-", "+") }}|{{ "x" if true else "y" }}`, "1,2,3|a+b|x"},
		{`{{ 7 % 3 }} {{ 7 // 2 }} {{ 1 - 5 }} {{ not false }} {{ "ab" * 3 }} {{ "ab" * -1 }}|`, "1 3 -4 True ababab |"},
		{`{% for i in range(3) %}{% if loop.first %}F{% elif loop.last %}L{% else %}{{ loop.index }}{% endif %}{% endfor %}`, "F2L"},
		{`{% for i in range(9) %}{% if i > 2 %}{% break %}{% endif %}{{ i }}{% endfor %}`, "012"},
		{`{{ range(10, 0, -3)|list }} {{ range(3)|list }} {{ range(0)|list }}`, "[10, 7, 4, 1] [0, 1, 2] []"},
		{`{{ messages[0]["role"] }} {{ messages|selectattr("role", "equalto", "user")|list|length }} {{ messages|tojson }}`,
			`user 1 [{"role": "user", "content": "hi"}]`},
		{`{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% endif %}.{% endmacro %}{{ m(50) }}`, strings.Repeat(".", 51)},
		{`{{ "a" and "b" }} {{ "" or "c" }} {{ none or 0 }}`, "b c 0"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			got, err := withTemplate(tc.src).ApplyChatTemplateJSON(hiConversation, ChatOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestChatTemplateConversationLimits feeds conversations nested too deeply
// or too large: a clear error, at once, within bounded memory.
func TestChatTemplateConversationLimits(t *testing.T) {
	tok := qwen3(t)
	deep := func(n int) []byte {
		return []byte(`[{"role": "user", "content": "x", "extra": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}]`)
	}
	for _, tc := range []struct {
		name  string
		msgs  []byte
		tools []json.RawMessage
		want  string
	}{
		{"3 MB of brackets", []byte(strings.Repeat("[", 3<<20)), nil, "nest more than 64"},
		{"200 KB of nesting", []byte(strings.Repeat(`[{"a":`, 200<<10/6)), nil, "nest more than 64"},
		{"one level too deep", deep(MaxJSONDepth - 1), nil, "nest more than 64"},
		{"deep tool", hiConversation, []json.RawMessage{[]byte(strings.Repeat("[", 1000) + strings.Repeat("]", 1000))}, "tool 0"},
		{"too large", []byte(`[{"role": "user", "content": "` + strings.Repeat("x", MaxConversationBytes) + `"}]`), nil, "MaxConversationBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			bounded(t, 5*time.Second, 256<<20, func() {
				_, err = tok.ApplyChatTemplateJSON(tc.msgs, ChatOptions{Tools: tc.tools})
			})
			require.ErrorIs(t, err, ErrConversation)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// The deepest conversation allowed still renders.
	_, err := tok.ApplyChatTemplateJSON(deep(MaxJSONDepth-2), ChatOptions{})
	require.NoError(t, err)
}

func TestCheckJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`[[1]]`, true},
		{`[[[1]]]`, false},
		{`{"a": {"b": 1}}`, true},
		{`{"a": {"b": {}}}`, false},
		{`["[[[[[[", "{{{{"]`, true},
		{`["\"[[[[", 1]`, true},
		{`["\\", [[1]]]`, false},
	} {
		err := CheckJSONDepth([]byte(tc.in), 2)
		if tc.ok {
			require.NoError(t, err, tc.in)
		} else {
			require.ErrorIs(t, err, ErrConversation, tc.in)
		}
	}
}

// FuzzChatTemplateSandbox compiles and renders arbitrary templates: any
// source gives a prompt or an error, never a panic, a hang or a crash.
func FuzzChatTemplateSandbox(f *testing.F) {
	f.Add(qwen3(f).ChatTemplate())
	for _, s := range []string{
		`{% for i in range(1000000000) %}x{% endfor %}`,
		`{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}`,
		`{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}`,
		`{% set ns = namespace(a=1) %}{% set ns.b = ns %}{{ ns }}`,
		`{{ messages|tojson }}{% for m in messages %}{{ m.role|upper }}{{ m.content[1:] }}{% endfor %}`,
		`{% filter upper %}{% call m() %}{% endcall %}{% endfilter %}`,
		`{{ "%s"|format(messages) }}{{ "{}".format(1) }}{{ "a".join(["b"]) }}`,
	} {
		f.Add(s)
	}
	data := func() map[string]any {
		msgs, _ := decodeOrdered(hiConversation)
		return map[string]any{"messages": msgs, "add_generation_prompt": true}
	}
	f.Fuzz(func(t *testing.T, src string) {
		var c chatState
		prog, err := c.compile(src)
		if err != nil {
			return
		}
		_, _ = c.execute(prog, data())
	})
}

// FuzzConversationJSON checks the conversation decoder on arbitrary bytes:
// it never panics, and valid JSON within MaxJSONDepth (as CheckJSONDepth
// says) always decodes and prints back as JSON.
func FuzzConversationJSON(f *testing.F) {
	for _, s := range []string{
		`[{"role": "user", "content": "hi"}]`,
		`[{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]}]`,
		`{"a": "\u00e9\"[{"}`,
		strings.Repeat("[", 100) + strings.Repeat("]", 100),
		`[1e400, -0, 12345678901234567890]`,
		`["\ud800"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeConversation(data, "messages")
		if json.Valid(data) && CheckJSONDepth(data, MaxJSONDepth) == nil && len(data) <= MaxConversationBytes {
			if err != nil && !strings.Contains(err.Error(), "invalid UTF-8") && !strings.Contains(err.Error(), "number") {
				t.Fatalf("valid JSON within the depth limit refused: %v", err)
			}
		}
		if err != nil {
			return
		}
		var b strings.Builder
		require.NoError(t, writePyJSON(&b, v, -1, 0))
		require.True(t, json.Valid([]byte(b.String())) || strings.Contains(b.String(), "Infinity") || strings.Contains(b.String(), "NaN"), b.String())
	})
}

// TestChatTemplateLargeConversation renders long conversations, as large
// as the limits let in, with Qwen3's template: the sandbox's limits must
// leave room for them.
func TestChatTemplateLargeConversation(t *testing.T) {
	tok := qwen3(t)
	const mb = 1 << 20
	big := []map[string]any{
		{"role": "system", "content": strings.Repeat("s", mb)},
		{"role": "user", "content": strings.Repeat("u ", mb)},
		{"role": "assistant", "content": "<think>" + strings.Repeat("t", 2*mb) + "</think>\n\n" + strings.Repeat("a", 2*mb)},
		{"role": "user", "content": strings.Repeat("v", 2*mb)},
	}
	var many []map[string]any
	for i := range 1000 {
		many = append(many,
			map[string]any{"role": "user", "content": fmt.Sprintf("question %d", i)},
			map[string]any{"role": "assistant", "content": fmt.Sprintf("<think>why %d</think>answer %d", i, i),
				"tool_calls": []any{map[string]any{"function": map[string]any{"name": "f", "arguments": map[string]any{"i": i}}}}},
			map[string]any{"role": "tool", "content": "ok"})
	}
	for name, msgs := range map[string][]map[string]any{"9 MiB in four messages": big, "3000 messages": many} {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(msgs)
			require.NoError(t, err)
			require.Less(t, len(raw), MaxConversationBytes)
			var out string
			bounded(t, 20*time.Second, 1<<30, func() {
				out, err = tok.ApplyChatTemplateJSON(raw, ChatOptions{AddGenerationPrompt: true})
			})
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(out, "<|im_start|>assistant\n"), out[max(0, len(out)-100):])
			require.Greater(t, len(out), len(raw)/2)
		})
	}
}
