// chat.js: one conversation pane. Each has its own history, settings and
// Stop button, and streams its reply through engine.chat.completions.create;
// several panes generating at once are batched together by the engine
// (continuous batching). Model output is only ever set as textContent: never
// parsed as HTML.

let uid = 0;

/** Default settings of a new conversation (Qwen3's recommended sampling for non-thinking mode). */
export const defaults = { system: '', temperature: 0.7, top_p: 0.8, top_k: 20, max_tokens: 512, thinking: false };

/** A conversation pane and its tab. */
export class Conversation {
  /**
   * @param {object} o
   * @param {number} o.index     1-based number shown as "Chat N"
   * @param {string} o.color     its colour in the inside view
   * @param {() => object|null} o.engine  the loaded engine, or null
   * @param {object} o.hooks     {submitting(conv) -> ticket{cancel()}, changed(conv), error(err), explain(err) -> string}
   */
  constructor({ index, color, engine, hooks }) {
    this.index = index;
    this.label = `Chat ${index}`;
    this.color = color;
    this.getEngine = engine;
    this.hooks = hooks;
    this.history = [];
    this.controller = null;
    this.replies = []; // raw reply texts, in order (for scripts and tests)
    this.build();
    this.setState('idle');
  }

  build() {
    const id = `c${++uid}`;
    this.id = id;
    const el = document.createElement('section');
    el.className = 'conversation';
    el.id = id;
    el.setAttribute('data-testid', 'conversation');
    el.setAttribute('role', 'tabpanel');
    el.setAttribute('aria-labelledby', `${id}-tab`);
    el.style.setProperty('--conv', this.color);
    el.innerHTML = `
      <header class="conv-head">
        <h3 id="${id}-title"><span class="swatch" aria-hidden="true"></span><span class="conv-name"></span></h3>
        <span class="conv-state" aria-live="off"></span>
        <button type="button" class="secondary small" data-testid="new-chat">New chat</button>
      </header>
      <details class="settings">
        <summary>Settings</summary>
        <div class="settings-grid">
          <div class="field wide"><label for="${id}-system">System prompt</label>
            <textarea id="${id}-system" rows="2" placeholder="(none)"></textarea></div>
          <div class="field"><label for="${id}-temp">Temperature</label>
            <input id="${id}-temp" type="number" min="0" max="2" step="0.1"></div>
          <div class="field"><label for="${id}-topp">Top-p</label>
            <input id="${id}-topp" type="number" min="0.01" max="1" step="0.05"></div>
          <div class="field"><label for="${id}-topk">Top-k</label>
            <input id="${id}-topk" type="number" min="0" max="1000" step="1"></div>
          <div class="field"><label for="${id}-max">Max tokens</label>
            <input id="${id}-max" type="number" min="1" max="8192" step="1"></div>
          <div class="field inline check"><input id="${id}-think" type="checkbox">
            <label for="${id}-think">Thinking</label></div>
        </div>
      </details>
      <div class="transcript" role="log" aria-live="polite" aria-labelledby="${id}-title"></div>
      <form class="composer">
        <label for="${id}-input" class="visually-hidden">Message to ${this.label}</label>
        <textarea id="${id}-input" data-testid="chat-input" rows="2"
          placeholder="Ask something… (Enter sends, Shift+Enter for a new line)"></textarea>
        <div class="composer-actions">
          <button type="button" class="secondary" data-testid="stop">Stop</button>
          <button type="submit" data-testid="send">Send</button>
        </div>
      </form>`;
    const q = (sel) => el.querySelector(sel);
    this.el = el;
    this.els = {
      name: q('.conv-name'), state: q('.conv-state'), newChat: q('[data-testid="new-chat"]'),
      system: q(`#${id}-system`), temp: q(`#${id}-temp`), topP: q(`#${id}-topp`), topK: q(`#${id}-topk`),
      max: q(`#${id}-max`), think: q(`#${id}-think`), transcript: q('.transcript'), form: q('.composer'),
      input: q(`#${id}-input`), send: q('[data-testid="send"]'), stop: q('[data-testid="stop"]'),
    };
    this.els.name.textContent = this.label;
    this.els.system.value = defaults.system;
    this.els.temp.value = defaults.temperature;
    this.els.topP.value = defaults.top_p;
    this.els.topK.value = defaults.top_k;
    this.els.max.value = defaults.max_tokens;
    this.els.think.checked = defaults.thinking;
    this.empty('Load a model, then ask something.');

    const tab = document.createElement('button');
    tab.type = 'button';
    tab.className = 'tab';
    tab.id = `${id}-tab`;
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', id);
    tab.style.setProperty('--conv', this.color);
    tab.innerHTML = '<span class="swatch" aria-hidden="true"></span><span class="tab-name"></span><span class="tab-busy" aria-hidden="true"></span>';
    tab.querySelector('.tab-name').textContent = this.label;
    this.tab = tab;

    this.els.form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
    this.els.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    this.els.stop.addEventListener('click', () => this.stop());
    this.els.newChat.addEventListener('click', () => this.newChat());
  }

  setState(state) {
    this.state = state;
    this.el.dataset.state = state;
    this.tab.dataset.state = state;
    this.els.state.textContent = { idle: '', generating: 'generating…', disabled: '' }[state] ?? '';
    this.refreshControls();
    this.hooks.changed?.(this);
  }

  refreshControls() {
    const ready = !!this.getEngine();
    const busy = this.state === 'generating';
    this.els.send.disabled = !ready || busy;
    this.els.stop.disabled = !busy;
    this.els.input.disabled = !ready;
    this.els.newChat.disabled = !ready && this.history.length === 0;
  }

  empty(text) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = text;
    this.els.transcript.replaceChildren(p);
  }

  /** The request's sampling settings, from the pane's fields. */
  settings() {
    const num = (el, d) => (el.value === '' || !Number.isFinite(Number(el.value)) ? d : Number(el.value));
    return {
      temperature: num(this.els.temp, defaults.temperature),
      top_p: num(this.els.topP, defaults.top_p),
      top_k: Math.trunc(num(this.els.topK, defaults.top_k)),
      max_tokens: Math.max(1, Math.trunc(num(this.els.max, defaults.max_tokens))),
      enable_thinking: this.els.think.checked,
    };
  }

  messages() {
    const sys = this.els.system.value.trim();
    return sys ? [{ role: 'system', content: sys }, ...this.history] : [...this.history];
  }

  /** Sends the text in the input box (or `text`). Resolves when the reply ends. */
  async send(text) {
    const engine = this.getEngine();
    const content = (text ?? this.els.input.value).trim();
    if (!engine || !content || this.state === 'generating') return;
    if (text === undefined) this.els.input.value = '';
    this.history.push({ role: 'user', content });
    this.els.transcript.querySelector('.empty')?.remove();
    this.addUser(content);
    const reply = this.addAssistant();
    this.controller = new AbortController();
    const signal = this.controller.signal;
    this.setState('generating');
    this.els.transcript.setAttribute('aria-busy', 'true');

    const m = { start: performance.now(), first: 0, last: 0, chunks: 0, text: '', usage: null, finish: null };
    const ticket = this.hooks.submitting?.(this);
    let stream;
    try {
      stream = await engine.chat.completions.create({
        messages: this.messages(), stream: true, signal, ...this.settings(),
      });
    } catch (err) {
      ticket?.cancel();
      this.failed(reply, m, err);
      return;
    }
    try {
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const now = performance.now();
        if (!m.first) m.first = now;
        m.last = now;
        m.chunks++;
        if (choice.delta.content) {
          m.text += choice.delta.content;
          reply.render(m.text);
        }
        if (choice.finish_reason) { m.finish = choice.finish_reason; m.usage = chunk.usage || null; }
        reply.stats(m, false);
      }
      this.history.push({ role: 'assistant', content: m.text });
      this.replies.push(m.text);
      reply.done(m, m.finish === 'length' ? 'length' : 'done');
    } catch (err) {
      if (signal.aborted || err?.code === 'aborted') {
        this.history.push({ role: 'assistant', content: m.text });
        this.replies.push(m.text);
        reply.done(m, 'stopped');
      } else {
        // A request the engine refused never got an id: let the next
        // request take the place this one held in the queue.
        if (m.chunks === 0 && err?.code === 'bad-request') ticket?.cancel();
        this.failed(reply, m, err);
        return;
      }
    } finally {
      this.controller = null;
    }
    this.finishTurn();
  }

  failed(reply, m, err) {
    this.history.pop(); // the turn failed: let the person retry it
    reply.error(this.hooks.explain ? this.hooks.explain(err) : String(err?.message || err));
    this.controller = null;
    this.hooks.error?.(err, this);
    this.finishTurn();
  }

  finishTurn() {
    this.els.transcript.setAttribute('aria-busy', 'false');
    this.setState('idle');
  }

  /** Aborts the reply being generated, at once. */
  stop() {
    this.controller?.abort();
  }

  /** Forgets the conversation (stopping a reply in progress). */
  newChat() {
    this.stop();
    this.history = [];
    this.replies = [];
    this.empty(this.getEngine() ? 'New conversation. Ask something.' : 'Load a model, then ask something.');
    this.refreshControls();
    this.els.input.focus();
  }

  addUser(text) {
    const div = document.createElement('div');
    div.className = 'msg user';
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = 'You';
    const body = document.createElement('div');
    body.className = 'body';
    body.textContent = text;
    div.append(who, body);
    this.els.transcript.append(div);
    this.scroll();
  }

  addAssistant() {
    const div = document.createElement('div');
    div.className = 'msg assistant streaming';
    div.dataset.state = 'streaming';
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = 'Qwen3';
    const body = document.createElement('div');
    body.className = 'body';
    body.setAttribute('data-testid', 'assistant-message');
    const stats = document.createElement('p');
    stats.className = 'reply-stats';
    stats.setAttribute('data-testid', 'reply-stats');
    div.append(who, body, stats);
    this.els.transcript.append(div);
    this.scroll();
    const conv = this;
    let pending = null;
    let think = null; // the folded <details> of Qwen3's thinking
    let answer = null;
    const paint = () => {
      pending = null;
      const { thinking, open, rest } = splitThinking(div.dataset.raw ?? '');
      if (thinking !== null) {
        if (!think) {
          think = document.createElement('details');
          think.className = 'think';
          const s = document.createElement('summary');
          think.append(s, document.createElement('div'));
          body.prepend(think);
        }
        think.firstChild.textContent = open ? 'Thinking…' : 'Thought process';
        think.lastChild.textContent = thinking.trim() || '…';
      }
      if (!answer) { answer = document.createElement('div'); answer.className = 'answer'; body.append(answer); }
      answer.textContent = rest;
      conv.scroll();
    };
    return {
      el: div,
      // Rendering is batched to one paint per frame: eight conversations
      // streaming at once cost eight small text updates a frame, never a
      // long task.
      render(text) {
        div.dataset.raw = text;
        if (!pending) pending = requestAnimationFrame(paint);
      },
      stats(m, done) { stats.textContent = describe(m, done); },
      done(m, how) {
        if (pending) { cancelAnimationFrame(pending); }
        div.dataset.raw = m.text;
        paint();
        div.classList.remove('streaming');
        div.dataset.state = how;
        const u = m.usage;
        if (u) {
          div.dataset.promptTokens = u.prompt_tokens;
          div.dataset.cachedTokens = u.prompt_tokens_details?.cached_tokens ?? 0;
          div.dataset.completionTokens = u.completion_tokens;
        }
        div.dataset.ttftMs = m.first ? Math.round(m.first - m.start) : '';
        stats.textContent = describe(m, true) + (how === 'stopped' ? ' · stopped' : how === 'length' ? ' · stopped at max tokens' : '');
      },
      error(text) {
        if (pending) cancelAnimationFrame(pending);
        div.classList.remove('streaming');
        div.dataset.state = 'error';
        div.classList.add('failed');
        stats.textContent = text;
        stats.setAttribute('role', 'alert');
      },
    };
  }

  scroll() {
    const t = this.els.transcript;
    t.scrollTop = t.scrollHeight;
  }
}

/**
 * Splits Qwen3's output into its thinking (inside <think>…</think>, null
 * when there is none; `open` while the closing tag has not come yet) and
 * the answer after it.
 */
export function splitThinking(text) {
  const m = /^\s*<think>([\s\S]*?)(<\/think>|$)([\s\S]*)$/.exec(text);
  if (!m) return { thinking: null, open: false, rest: text };
  return { thinking: m[1], open: m[2] === '', rest: m[3].replace(/^\s+/, '') };
}

// describe is a reply's numbers: time to first token, decode speed (the
// tokens after the first, over the time since it), prompt tokens and the
// ones the prefix cache supplied.
function describe(m, done) {
  const u = m.usage;
  const tokens = u ? u.completion_tokens : m.chunks;
  const parts = [];
  if (m.first) parts.push(`${((m.first - m.start) / 1000).toFixed(2)} s to first token`);
  if (tokens > 1 && m.last > m.first) parts.push(`${((tokens - 1) / ((m.last - m.first) / 1000)).toFixed(1)} tokens/s decode`);
  parts.push(`${tokens} tokens`);
  if (done && u) {
    const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
    parts.push(`${u.prompt_tokens} prompt tokens, ${cached} reused from the prefix cache`);
    if (u.speculative_proposed_tokens) parts.push(`${u.speculative_accepted_tokens || 0} of ${u.speculative_proposed_tokens} proposed tokens accepted`);
  }
  return parts.join(' · ');
}
