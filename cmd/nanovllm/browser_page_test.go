package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// The page's end-to-end test: index.html in headless Chromium, driven as a
// person would (typing, Enter, buttons), its replies checked against the
// native Go engine's greedy output for the same conversation.

// pageSystemPrompt is long enough to fill whole KV blocks, so that a
// follow-up turn finds the first turn in the prefix cache.
const pageSystemPrompt = "You are a helpful assistant running inside a web page. Answer briefly, in plain words, and say when you do not know."

// chatOracle computes the replies the page must show with the native
// engine: the same fixture, chat template and greedy decoding.
type chatOracle struct {
	m   *qwen3.Model
	tok *tokenizer.Tokenizer
}

func newChatOracle(t *testing.T) *chatOracle {
	t.Helper()
	dir := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	dev := cpu.New(cpu.Options{})
	t.Cleanup(func() { dev.Close() })
	m, err := qwen3.Load(dir, dev, qwen3.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	tok, err := tokenizer.Load(dir)
	require.NoError(t, err)
	return &chatOracle{m: m, tok: tok}
}

// engine returns a fresh engine, with an empty prefix cache like a freshly
// loaded page's.
func (o *chatOracle) engine(t *testing.T) *engine.Engine {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.Cache.MemoryBudget = 64 << 20
	e, err := engine.NewQwen3(o.m, o.tok, cfg)
	require.NoError(t, err)
	return e
}

// reply runs one turn of msgs alone on e, greedily, as the page asks for
// it (thinking off), and returns the result.
func (o *chatOracle) reply(t *testing.T, e *engine.Engine, msgs []tokenizer.Message, maxTokens int) engine.Result {
	t.Helper()
	off := false
	prompt, err := o.tok.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true, EnableThinking: &off})
	require.NoError(t, err)
	p := engine.Qwen3DefaultParams(o.m)
	p.Temperature, p.MaxTokens = 0, maxTokens
	res, err := e.Generate(context.Background(), []engine.Request{{PromptIDs: o.tok.Encode(prompt), Params: p}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	return res[0]
}

// pageReply is what the page shows for one reply.
type pageReply struct {
	Raw        string `json:"raw"`  // the streamed text
	Text       string `json:"text"` // the rendered reply's textContent
	State      string `json:"state"`
	Prompt     int    `json:"prompt"`
	Cached     int    `json:"cached"`
	Completion int    `json:"completion"`
	Stats      string `json:"stats"`
}

// pageJS holds helpers the test's scripts use: conv(i) is the i-th
// conversation element, set(i, settings) fills its settings, replies(i) its
// replies as pageReply.
const pageJS = `
	const convs = () => document.querySelectorAll('[data-testid="conversation"]');
	const conv = (i) => convs()[i];
	const set = (i, s) => {
		const c = conv(i);
		const field = (suffix, v) => { const el = c.querySelector('[id$="-' + suffix + '"]'); el.value = String(v); };
		if (s.temp !== undefined) field('temp', s.temp);
		if (s.max !== undefined) field('max', s.max);
		if (s.system !== undefined) field('system', s.system);
	};
	const replies = (i) => [...conv(i).querySelectorAll('.msg.assistant')].map((m) => ({
		raw: m.dataset.raw || '', text: m.querySelector('[data-testid="assistant-message"]').textContent,
		state: m.dataset.state, prompt: Number(m.dataset.promptTokens || 0), cached: Number(m.dataset.cachedTokens || 0),
		completion: Number(m.dataset.completionTokens || 0), stats: m.querySelector('[data-testid="reply-stats"]').textContent,
	}));
`

// pageEval runs body (with pageJS's helpers) in the page and decodes its
// JSON result into out.
func pageEval(t *testing.T, ctx context.Context, body string, out any) {
	t.Helper()
	require.NoError(t, evalJSON(ctx, pageJS+body, out))
}

// waitPage polls a JavaScript condition (with pageJS's helpers) until it
// holds, failing with what after d.
func waitPage(t *testing.T, ctx context.Context, cond, what string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		pageEval(t, ctx, "return !!("+cond+");", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserPage drives the demo page on both devices: load a model, chat
// in several conversations at once, stop a reply, and check every reply
// against the native engine's greedy output for the same conversation. It
// saves a screenshot of two conversations generating together with the
// inside view (to $NANOVLLM_ARTIFACTS, or the test's temp dir; with
// NANOVLLM_UPDATE_SCREENSHOT=1 also to docs/img/page.png, which a plain
// test run leaves alone).
func TestBrowserPage(t *testing.T) {
	ctx, base := browserEnv(t)
	oracle := newChatOracle(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)))
	for _, tc := range []struct {
		dev    string
		tokens int
	}{{"cpu", 24}, {"webgpu", 4}} {
		t.Run(tc.dev, func(t *testing.T) {
			// A 1 MiB KV cache holds 256 blocks of the tiny model: a map
			// small enough to see every block.
			url := fmt.Sprintf("%s/index.html?model=%s/models/local&device=%s&kv=1&quant=bf16&autoload=1", base, base, tc.dev)
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
			waitPage(t, ctx, `document.body.dataset.state === 'ready'`, "the model to load", 3*time.Minute)
			status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="model-status"]`)))
			require.NoError(t, err)
			require.Contains(t, strings.ToLower(status), "ready")
			var n int
			pageEval(t, ctx, `return convs().length;`, &n)
			require.Equal(t, 2, n, "two conversations to start with")
			checkLabels(t, ctx)
			if tc.dev == "cpu" {
				checkLoadPanel(t, ctx)
			}

			e := oracle.engine(t)
			sys := tokenizer.Message{Role: "system", Content: pageSystemPrompt}
			user1 := tokenizer.Message{Role: "user", Content: "Hello! Who are you?"}

			// Turn 1, typed: Enter sends.
			pageEval(t, ctx, fmt.Sprintf(`set(0, {temp: 0, max: %d, system: %q}); return true;`, tc.tokens, pageSystemPrompt), new(bool))
			input := `[data-testid="conversation"]:nth-of-type(1) [data-testid="chat-input"]`
			require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(input), user1.Content+kb.Enter)))
			waitPage(t, ctx, `conv(0).dataset.state === 'idle' && replies(0).length === 1 && replies(0)[0].state !== 'streaming'`, "the first reply", 3*time.Minute)
			want1 := oracle.reply(t, e, []tokenizer.Message{sys, user1}, tc.tokens)
			var got []pageReply
			pageEval(t, ctx, `return replies(0);`, &got)
			checkReply(t, got[0], want1)

			// Two conversations at once: a follow-up in the first (whose
			// history the prefix cache holds) and a new question in the
			// second. Each must equal its run alone.
			user2 := tokenizer.Message{Role: "user", Content: "Tell me more."}
			other := tokenizer.Message{Role: "user", Content: "What is 2 + 2?"}
			var both bool
			pageEval(t, ctx, fmt.Sprintf(`
				set(1, {temp: 0, max: %d});
				conv(0).querySelector('[data-testid="chat-input"]').value = %q;
				conv(1).querySelector('[data-testid="chat-input"]').value = %q;
				conv(0).querySelector('[data-testid="send"]').click();
				conv(1).querySelector('[data-testid="send"]').click();
				return conv(0).dataset.state === 'generating' && conv(1).dataset.state === 'generating' &&
					document.body.dataset.state === 'generating';
			`, tc.tokens, user2.Content, other.Content), &both)
			require.True(t, both, "both conversations generate at once")
			waitPage(t, ctx, `conv(0).dataset.state === 'idle' && conv(1).dataset.state === 'idle'`, "both replies", 4*time.Minute)
			want2 := oracle.reply(t, e, []tokenizer.Message{sys, user1, {Role: "assistant", Content: want1.Text}, user2}, tc.tokens)
			wantOther := oracle.reply(t, oracle.engine(t), []tokenizer.Message{other}, tc.tokens)
			pageEval(t, ctx, `return replies(0);`, &got)
			require.Len(t, got, 2)
			checkReply(t, got[1], want2)
			// The follow-up reuses the first turn from the prefix cache,
			// exactly as much of it as the native engine does.
			require.Positive(t, want2.Metrics.CachedTokens)
			require.Equal(t, want2.Metrics.CachedTokens, got[1].Cached)
			require.Contains(t, got[1].Stats, fmt.Sprintf("%d reused from the prefix cache", want2.Metrics.CachedTokens))
			pageEval(t, ctx, `return replies(1);`, &got)
			checkReply(t, got[0], wantOther)

			if tc.dev == "webgpu" {
				checkGPULost(t, ctx, user1.Content, want1)
			}
			if tc.dev == "cpu" {
				checkThinking(t, ctx)
				checkInertHTML(t, ctx)
				checkBadSettings(t, ctx)
				checkStopAndScreenshot(t, ctx)
				checkPhone(t, ctx)
			}
		})
	}
}

// checkGPULost destroys the engine's GPU device, as a driver reset would:
// the page must say so and offer Restart, which loads the engine again
// without reloading the page; the first conversation, started anew, then
// gets the same first reply as before.
func checkGPULost(t *testing.T, ctx context.Context, msg string, want engine.Result) {
	t.Helper()
	pageEval(t, ctx, `await nanovllmPage.engine().loseDeviceForTesting(); return true;`, new(bool))
	waitPage(t, ctx, `document.body.dataset.state === 'error' && !document.getElementById('restart').hidden`, "the lost GPU to be reported", time.Minute)
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#error`)))
	require.NoError(t, err)
	require.Contains(t, shown, "GPU device was lost")
	var disabled bool
	pageEval(t, ctx, `return conv(0).querySelector('[data-testid="send"]').disabled;`, &disabled)
	require.True(t, disabled, "nothing can be sent without an engine")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="restart"]`))))
	waitPage(t, ctx, `document.body.dataset.state === 'ready'`, "the restarted engine", 3*time.Minute)
	pageEval(t, ctx, fmt.Sprintf(`
		conv(0).querySelector('[data-testid="new-chat"]').click();
		conv(0).querySelector('[data-testid="chat-input"]').value = %q;
		conv(0).querySelector('[data-testid="send"]').click();
		return true;
	`, msg), new(bool))
	waitPage(t, ctx, `conv(0).dataset.state === 'idle' && replies(0).length === 1 && replies(0)[0].state !== 'streaming'`, "the reply after the restart", 3*time.Minute)
	var got []pageReply
	pageEval(t, ctx, `return replies(0);`, &got)
	checkReply(t, got[0], want)
}

// checkReply compares a reply on the page with the native engine's.
func checkReply(t *testing.T, got pageReply, want engine.Result) {
	t.Helper()
	require.Equal(t, want.Text, got.Raw, "the streamed text")
	require.Equal(t, len(want.TokenIDs), got.Completion, "completion tokens")
	require.Equal(t, want.Metrics.PromptTokens, got.Prompt, "prompt tokens")
	if !strings.Contains(want.Text, "<think>") {
		require.Equal(t, want.Text, got.Text, "the rendered reply")
	}
	require.Contains(t, got.Stats, "s to first token")
	require.Contains(t, got.Stats, fmt.Sprintf("%d prompt tokens", want.Metrics.PromptTokens))
}

// checkLoadPanel checks what the load panel says after a first load: a
// progress row per file, and the cache manager listing the model with its
// size, the quota, and a Delete that removes it.
func checkLoadPanel(t *testing.T, ctx context.Context) {
	t.Helper()
	var files map[string]string
	pageEval(t, ctx, `
		const out = {};
		for (const li of document.querySelectorAll('#progress-files li')) out[li.querySelector('.file-name').textContent] = li.querySelector('.file-info').textContent;
		return out;
	`, &files)
	for _, f := range []string{"config.json", "tokenizer.json", "model.safetensors"} {
		require.Contains(t, files, f, "a progress row per file")
	}
	require.Regexp(t, `^[0-9.]+ (kB|MB) of [0-9.]+ (kB|MB)`, files["model.safetensors"])
	pageEval(t, ctx, `document.getElementById('cache-panel').open = true; return true;`, new(bool))
	waitPage(t, ctx, `document.getElementById('cached-models').textContent.includes('/models/local')`, "the cached model in the list", 30*time.Second)
	var panel struct {
		List    string `json:"list"`
		Storage string `json:"storage"`
	}
	pageEval(t, ctx, `return {list: document.getElementById('cached-models').textContent, storage: document.getElementById('storage-line').textContent};`, &panel)
	require.Regexp(t, `/models/local/? · [0-9.]+ MB · [0-9]+ files`, panel.List)
	require.Contains(t, panel.Storage, "quota")
	pageEval(t, ctx, `
		[...document.querySelectorAll('#cached-models button')].find((b) => b.getAttribute('aria-label').includes('/models/local')).click();
		return true;
	`, new(bool))
	waitPage(t, ctx, `document.getElementById('cached-models').textContent.includes('No model is cached')`, "the model to be deleted from the cache", 30*time.Second)
	pageEval(t, ctx, `document.getElementById('cache-panel').open = false; return true;`, new(bool))
}

// checkLabels checks that every form control has an accessible name.
func checkLabels(t *testing.T, ctx context.Context) {
	t.Helper()
	var unlabelled []string
	pageEval(t, ctx, `
		return [...document.querySelectorAll('input, select, textarea, button')].filter((el) => {
			if (el.closest('[hidden]')) return false;
			const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
				(el.tagName === 'BUTTON' && el.textContent.trim());
			return !named;
		}).map((el) => el.outerHTML.slice(0, 80));
	`, &unlabelled)
	require.Empty(t, unlabelled, "form controls without a label")
}

// checkThinking renders replies with Qwen3's thinking through a
// conversation's reply renderer (the fixture model does not think): the
// thinking is folded in a closed <details>, marked as in progress until
// </think> arrives, and model output holding HTML stays text.
func checkThinking(t *testing.T, ctx context.Context) {
	t.Helper()
	var got struct {
		Open, Done struct {
			Summary string `json:"summary"`
			Thought string `json:"thought"`
			Answer  string `json:"answer"`
			Folded  bool   `json:"folded"`
		}
		Imgs  int  `json:"imgs"`
		Pwned bool `json:"pwned"`
	}
	pageEval(t, ctx, `
		const c = nanovllmPage.conversations[1];
		const r = c.addAssistant();
		const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
		const read = () => {
			const d = r.el.querySelector('details.think');
			return {summary: d.querySelector('summary').textContent, thought: d.lastChild.textContent,
				answer: r.el.querySelector('.answer').textContent, folded: !d.open};
		};
		r.render('<think>\nweighing it up');
		await frame(); await frame();
		const open = read();
		const text = '<think>\nweighing it up</think>\n\nThe answer: <img src=x onerror="window.__pwned=1">';
		r.done({text, usage: null, first: 0, start: 0, chunks: 1}, 'done');
		const out = {open, done: read(), imgs: r.el.querySelectorAll('img').length, pwned: !!window.__pwned};
		r.el.remove();
		return out;
	`, &got)
	require.Equal(t, "Thinking…", got.Open.Summary)
	require.Equal(t, "weighing it up", got.Open.Thought)
	require.Empty(t, got.Open.Answer)
	require.True(t, got.Open.Folded)
	require.Equal(t, "Thought process", got.Done.Summary)
	require.Equal(t, "weighing it up", got.Done.Thought)
	require.Equal(t, `The answer: <img src=x onerror="window.__pwned=1">`, got.Done.Answer)
	require.True(t, got.Done.Folded)
	require.Zero(t, got.Imgs)
	require.False(t, got.Pwned)
}

// checkBadSettings sends with a temperature the engine refuses: the reply
// says why, the turn is dropped from the history, and the conversation can
// send again.
func checkBadSettings(t *testing.T, ctx context.Context) {
	t.Helper()
	var before int
	pageEval(t, ctx, `return nanovllmPage.conversations[1].history.length;`, &before)
	pageEval(t, ctx, `
		set(1, {temp: -1, max: 2});
		conv(1).querySelector('[data-testid="chat-input"]').value = 'Hi';
		conv(1).querySelector('[data-testid="send"]').click();
		return true;
	`, new(bool))
	waitPage(t, ctx, `conv(1).dataset.state === 'idle' && replies(1).at(-1).state === 'error'`, "the refused request to be reported", time.Minute)
	var got struct {
		Stats   string `json:"stats"`
		History int    `json:"history"`
		Send    bool   `json:"send"`
	}
	pageEval(t, ctx, `set(1, {temp: 0}); return {stats: replies(1).at(-1).stats, history: nanovllmPage.conversations[1].history.length,
		send: !conv(1).querySelector('[data-testid="send"]').disabled};`, &got)
	require.Contains(t, got.Stats, "temperature")
	require.Equal(t, before, got.History, "the failed turn is not kept")
	require.True(t, got.Send)
}

// checkInertHTML sends user text holding HTML: it must show as text, and
// nothing in it may run.
func checkInertHTML(t *testing.T, ctx context.Context) {
	t.Helper()
	evil := `<img src=x onerror="window.__pwned=1"><b>bold</b>`
	var got struct {
		Text   string `json:"text"`
		Imgs   int    `json:"imgs"`
		Bold   int    `json:"bold"`
		Pwned  bool   `json:"pwned"`
		Labels int    `json:"labels"`
	}
	pageEval(t, ctx, fmt.Sprintf(`
		set(1, {max: 2});
		conv(1).querySelector('[data-testid="chat-input"]').value = %q;
		conv(1).querySelector('[data-testid="send"]').click();
		await new Promise((r) => setTimeout(r, 300));
		const msgs = conv(1).querySelectorAll('.msg.user .body');
		return {text: msgs[msgs.length - 1].textContent, imgs: document.querySelectorAll('main img').length,
			bold: conv(1).querySelectorAll('.transcript b').length, pwned: !!window.__pwned};
	`, evil), &got)
	require.Equal(t, evil, got.Text)
	require.Zero(t, got.Imgs)
	require.Zero(t, got.Bold)
	require.False(t, got.Pwned)
	waitPage(t, ctx, `conv(1).dataset.state === 'idle'`, "the reply to the HTML message", time.Minute)
}

// checkStopAndScreenshot starts long replies in both conversations, checks
// that the engine runs them in one batch (the inside view saw two running
// requests), takes the screenshot, and stops the first: it ends at once,
// marked stopped, while the second carries on.
func checkStopAndScreenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	// The same system prompt in both: its blocks are shared.
	pageEval(t, ctx, fmt.Sprintf(`
		set(1, {system: %q});
		for (const i of [0, 1]) {
			set(i, {max: 4000, temp: 0});
			conv(i).querySelector('[data-testid="chat-input"]').value = 'Tell me a long story, please.';
			conv(i).querySelector('[data-testid="send"]').click();
		}
		return true;
	`, pageSystemPrompt), new(bool))
	waitPage(t, ctx, `nanovllmPage.inside.snap?.running.length === 2 && nanovllmPage.inside.snap.states.includes('s') &&
		replies(0).at(-1).raw.length > 0 && replies(1).at(-1).raw.length > 0`,
		"both long replies to stream in one batch, sharing the system prompt's blocks", time.Minute)
	var live struct {
		Generating int    `json:"generating"`
		Owned      int    `json:"owned"`
		Map        string `json:"map"`
	}
	pageEval(t, ctx, `
		return {generating: [...convs()].filter((c) => c.dataset.state === 'generating').length,
			owned: nanovllmPage.owners.size, map: document.getElementById('kv-caption').textContent};
	`, &live)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.Equal(t, 2, live.Generating, "the screenshot shows two live conversations")
	require.GreaterOrEqual(t, live.Owned, 2, "the inside view knows which conversation owns which request")
	require.Contains(t, live.Map, "256 blocks of 16 tokens")
	dir := artifactsDir(t)
	shot := filepath.Join(dir, "page.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	if os.Getenv("NANOVLLM_UPDATE_SCREENSHOT") == "1" {
		require.NoError(t, os.MkdirAll(filepath.Join(repoRoot, "docs", "img"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repoRoot, "docs", "img", "page.png"), png, 0o644))
	}
	t.Logf("screenshot: %s; %s", shot, live.Map)

	start := time.Now()
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="conversation"]:nth-of-type(1) [data-testid="stop"]`))))
	waitPage(t, ctx, `conv(0).dataset.state === 'idle'`, "the stopped conversation", 10*time.Second)
	t.Logf("stopped after %v", time.Since(start))
	var after struct {
		State string `json:"state"`
		Stats string `json:"stats"`
		Other string `json:"other"`
		Error bool   `json:"error"`
	}
	pageEval(t, ctx, `
		const r = replies(0).at(-1);
		return {state: r.state, stats: r.stats, other: conv(1).dataset.state, error: !document.getElementById('error').hidden};
	`, &after)
	require.Equal(t, "stopped", after.State)
	require.Contains(t, after.Stats, "stopped")
	require.False(t, after.Error, "stopping is not an error")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="conversation"]:nth-of-type(2) [data-testid="stop"]`))))
	waitPage(t, ctx, `document.body.dataset.state === 'ready'`, "both conversations to stop", 10*time.Second)

	// New chat empties the conversation.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="conversation"]:nth-of-type(1) [data-testid="new-chat"]`))))
	var msgs int
	pageEval(t, ctx, `return conv(0).querySelectorAll('.msg').length;`, &msgs)
	require.Zero(t, msgs)
}

// checkPhone lays the page out on a phone's screen: conversations become
// tabs, one shown at a time, and nothing is wider than the screen.
func checkPhone(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))))
	defer func() { _ = chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)) }()
	time.Sleep(200 * time.Millisecond)
	var got struct {
		Visible   int  `json:"visible"`
		TabsShown bool `json:"tabsShown"`
		Overflow  int  `json:"overflow"`
		Second    int  `json:"second"`
	}
	pageEval(t, ctx, `
		const shown = () => [...convs()].filter((c) => c.offsetParent !== null).length;
		const out = {visible: shown(), tabsShown: document.getElementById('tabs').offsetParent !== null,
			overflow: document.documentElement.scrollWidth - window.innerWidth};
		document.querySelectorAll('[role="tab"]')[1].click();
		out.second = shown() === 1 && conv(1).offsetParent !== null ? 1 : 0;
		document.getElementById('chats').scrollIntoView();
		return out;
	`, &got)
	require.Equal(t, 1, got.Visible, "one conversation at a time on a phone")
	require.True(t, got.TabsShown)
	require.LessOrEqual(t, got.Overflow, 0, "no horizontal scrolling")
	require.Equal(t, 1, got.Second, "a tab shows its conversation")
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	shot := filepath.Join(artifactsDir(t), "page-phone.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("phone screenshot: %s", shot)
}

// artifactsDir is where the test leaves its screenshots: $NANOVLLM_ARTIFACTS
// (created if missing), or the test's temp dir.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NANOVLLM_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}
