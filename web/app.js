// app.js: the demo page (index.html) on top of the nanovllm.js API.
//
// Query parameters preset the form: ?model=URL-or-repo&device=cpu|webgpu&kv=MiB&autoload=1.
// document.body.dataset.state tells scripts (and the end-to-end test) where the
// page is: idle, loading, ready, generating or error.

import { createEngine, detectWebGPU, errorCodes } from './nanovllm.js';

const $ = (id) => document.getElementById(id);
const els = {
  loadForm: $('load-form'), model: $('model'), device: $('device'), deviceNote: $('device-note'),
  kv: $('kv'), speculative: $('speculative'), load: $('load'), progressBox: $('progress-box'), progress: $('progress'),
  progressLabel: $('progress-label'), modelStatus: $('model-status'), error: $('error'),
  transcript: $('transcript'), chatForm: $('chat-form'), prompt: $('prompt'), maxTokens: $('max-tokens'),
  temperature: $('temperature'), thinking: $('thinking'), send: $('send'), stop: $('stop'),
  clear: $('clear'), stats: $('stats'),
};

let engine = null;
let history = []; // {role, content} turns sent back to the model
let generation = null; // AbortController of the reply being streamed

function setState(state) { document.body.dataset.state = state; }

// Messages for the errors a person can do something about.
function explain(err) {
  const msg = err && err.message ? err.message : String(err);
  switch (err && err.code) {
    case errorCodes.NO_WEBGPU:
      return `WebGPU is not available here. Choose the CPU device (slower), or use a browser with WebGPU (recent Chrome or Edge). Details: ${msg}`;
    case errorCodes.NOT_FOUND:
      return `A file was not found. Check the model name or URL. Details: ${msg}`;
    case errorCodes.NETWORK:
      return `Download failed. Check your connection (and, for a URL on another site, that it allows cross-origin requests). Details: ${msg}`;
    case errorCodes.OUT_OF_MEMORY:
      return `Out of memory. Try a smaller KV cache, a smaller model, or close other tabs. Details: ${msg}`;
    case errorCodes.BAD_MODEL:
      return `This model cannot be loaded: ${msg}`;
    case errorCodes.CRASHED:
      return `The engine crashed; reload the page to start again. Details: ${msg}`;
    case errorCodes.ABORTED:
      return 'Stopped.';
    default:
      return msg;
  }
}

function showError(err) {
  console.error(err);
  els.error.textContent = explain(err);
  els.error.hidden = false;
}

function clearError() {
  els.error.hidden = true;
  els.error.textContent = '';
}

function fmtMB(n) { return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`; }

// Download progress over all files: each file reports its own bytes.
function progressTracker() {
  const files = new Map();
  return (p) => {
    els.progressBox.hidden = false;
    if (p.phase === 'download') {
      files.set(p.file, p);
      let loaded = 0;
      let total = 0;
      // A compressed file can decode to more than its Content-Length.
      for (const f of files.values()) { loaded += f.loaded; total += Math.max(f.total, f.loaded); }
      els.progress.max = Math.max(total, 1);
      els.progress.value = loaded;
      const src = p.cached ? ' (from cache)' : '';
      els.progressLabel.textContent = p.total && p.loaded <= p.total
        ? `Downloading ${p.file}${src}: ${fmtMB(p.loaded)} of ${fmtMB(p.total)}`
        : `Downloading ${p.file}${src}: ${fmtMB(p.loaded)}`;
    } else {
      if (p.phase === 'ready') {
        els.progressBox.hidden = true; // the status line below says it
        return;
      }
      els.progress.removeAttribute('value'); // indeterminate while Go works
      els.progressLabel.textContent = p.message ? capitalise(p.message) + '…' : '';
    }
  };
}

function capitalise(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

async function setupDevice() {
  const gpu = await detectWebGPU();
  const webgpuOption = els.device.querySelector('option[value="webgpu"]');
  if (gpu.available) {
    els.deviceNote.textContent = `WebGPU adapter: ${gpu.adapter}.`;
    els.deviceNote.classList.remove('warn');
  } else {
    webgpuOption.disabled = true;
    webgpuOption.textContent = 'WebGPU (not available)';
    els.device.value = 'cpu';
    els.deviceNote.textContent = `WebGPU is not available: ${gpu.reason}. Running on the CPU, which is much slower.`;
    els.deviceNote.classList.add('warn');
  }
  return gpu;
}

async function loadModel() {
  clearError();
  const model = els.model.value.trim();
  const device = els.device.value;
  const kvMiB = Number(els.kv.value) || 256;
  if (engine) { engine.close(); engine = null; }
  setChatEnabled(false);
  els.load.disabled = true;
  els.modelStatus.textContent = '';
  setState('loading');
  const started = performance.now();
  try {
    engine = await createEngine({
      model, device, kvCacheBytes: kvMiB * 1024 * 1024, onProgress: progressTracker(),
      speculative: els.speculative.checked ? { method: 'ngram', numTokens: 4 } : undefined,
    });
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    const info = engine.info;
    els.modelStatus.textContent = `Loaded ${model} on ${info.device} in ${secs} s` +
      (info.kv_cache_tokens ? ` · KV cache: ${info.kv_cache_tokens.toLocaleString()} tokens` : '') + '.';
    history = [];
    resetTranscript('Ready. Ask something.');
    setChatEnabled(true);
    els.prompt.focus();
    setState('ready');
  } catch (err) {
    engine = null;
    showError(err);
    els.progressBox.hidden = true;
    setState('error');
  } finally {
    els.load.disabled = false;
  }
}

function setChatEnabled(on) {
  els.prompt.disabled = !on;
  els.send.disabled = !on;
  els.clear.disabled = !on;
}

function resetTranscript(text) {
  els.transcript.replaceChildren();
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = text;
  els.transcript.append(p);
}

function addBubble(role, text) {
  els.transcript.querySelector('.empty')?.remove();
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = role === 'user' ? 'You' : 'Qwen3';
  const body = document.createElement('div');
  body.className = 'body';
  div.append(who, body);
  els.transcript.append(div);
  renderReply(body, text);
  return body;
}

// Qwen3 thinks inside <think>…</think> before answering: show that part
// muted, apart from the answer. textContent only: model output is never HTML.
function renderReply(body, text) {
  const m = /^\s*<think>([\s\S]*?)(<\/think>|$)([\s\S]*)$/.exec(text);
  body.replaceChildren();
  if (m) {
    const think = document.createElement('div');
    think.className = 'think';
    think.textContent = m[1].trim() || '…';
    body.append(think);
    text = m[3].replace(/^\s+/, '');
  }
  const answer = document.createElement('div');
  answer.className = 'answer';
  answer.textContent = text;
  body.append(answer);
  els.transcript.scrollTop = els.transcript.scrollHeight;
}

async function send() {
  const content = els.prompt.value.trim();
  if (!engine || !content || generation) return;
  clearError();
  els.prompt.value = '';
  history.push({ role: 'user', content });
  addBubble('user', content);
  const body = addBubble('assistant', '');
  body.parentElement.classList.add('streaming');
  generation = new AbortController();
  els.send.disabled = true;
  els.stop.disabled = false;
  setState('generating');

  let text = '';
  let first = 0;
  let last = 0;
  let chunks = 0;
  let usage = null;
  let finish = null;
  const start = performance.now();
  try {
    const stream = await engine.chat.completions.create({
      messages: history, stream: true,
      max_tokens: Number(els.maxTokens.value) || 512,
      temperature: Number(els.temperature.value),
      enable_thinking: els.thinking.checked,
      signal: generation.signal,
    });
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      const now = performance.now();
      if (!first) first = now;
      last = now;
      chunks++;
      if (choice.delta.content) {
        text += choice.delta.content;
        renderReply(body, text);
      }
      if (choice.finish_reason) { finish = choice.finish_reason; usage = chunk.usage; }
      showStats(start, first, last, usage, chunks, false);
    }
    history.push({ role: 'assistant', content: text });
    showStats(start, first, last, usage, chunks, true, finish);
  } catch (err) {
    if (err.code === errorCodes.ABORTED || generation.signal.aborted) {
      history.push({ role: 'assistant', content: text });
      els.stats.textContent += ' · stopped';
    } else {
      history.pop(); // the turn failed; let the person retry it
      showError(err);
    }
  } finally {
    body.parentElement.classList.remove('streaming');
    generation = null;
    els.send.disabled = false;
    els.stop.disabled = true;
    setState(engine ? 'ready' : 'error');
    els.prompt.focus();
  }
}

// Decode speed counts the tokens after the first (the first one's time is
// the prefill, shown separately as time to first token).
function showStats(start, first, last, usage, chunks, done, finish) {
  const tokens = usage ? usage.completion_tokens : chunks;
  const ttft = first ? `${((first - start) / 1000).toFixed(2)} s to first token` : '';
  let rate = '';
  if (tokens > 1 && last > first) rate = `${((tokens - 1) / ((last - first) / 1000)).toFixed(1)} tokens/s decode`;
  const parts = [ttft, rate, `${tokens} tokens`];
  if (done && usage) parts.push(`${usage.prompt_tokens} prompt tokens`);
  if (done && usage?.speculative_proposed_tokens) {
    parts.push(`${usage.speculative_accepted_tokens || 0} of ${usage.speculative_proposed_tokens} proposed tokens accepted`);
  }
  if (done && finish) parts.push(finish === 'length' ? 'stopped at max tokens' : 'finished');
  els.stats.textContent = parts.filter(Boolean).join(' · ');
}

function init() {
  setState('idle');
  const params = new URLSearchParams(location.search);
  if (params.get('model')) els.model.value = params.get('model');
  if (params.get('kv')) els.kv.value = params.get('kv');

  els.loadForm.addEventListener('submit', (e) => { e.preventDefault(); loadModel(); });
  els.chatForm.addEventListener('submit', (e) => { e.preventDefault(); send(); });
  els.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  els.stop.addEventListener('click', () => generation?.abort());
  els.clear.addEventListener('click', () => { history = []; resetTranscript('Conversation cleared.'); els.stats.textContent = ''; });

  setupDevice().then((gpu) => {
    const want = params.get('device');
    if (want === 'cpu' || (want === 'webgpu' && gpu.available)) els.device.value = want;
    if (params.get('autoload') === '1') loadModel();
  });
}

init();
