// app.js: the demo page (index.html) on top of the nanovllm.js API.
//
// Query parameters preset the form: ?model=URL-or-repo&device=cpu|webgpu&kv=MiB
// &quant=Q8_0|file.gguf|bf16|q8_0|q4_0&autoload=1&chats=N (and &hub=URL, the
// Hub's endpoint). When `nanovllm serve --model` serves a model, the page
// loads it on opening. document.body.dataset.state tells scripts (and the
// end-to-end tests) where the page is: idle, loading, ready, generating (any
// conversation) or error; each conversation element (data-testid
// "conversation") carries its own data-state: idle or generating.
//
// The page is three parts: the load panel (below), the conversations
// (ui/chat.js) and the inside view (ui/inside.js), which polls
// engine.snapshot() at most ten times a second from requestAnimationFrame.

import * as lib from './nanovllm.js';
import { Conversation } from './ui/chat.js';
import { InsideView } from './ui/inside.js';
import { QuantPicker } from './ui/quant.js';

const { createEngine, detectWebGPU, errorCodes } = lib;
const DEFAULT_MODEL = 'Qwen/Qwen3-0.6B';
const MAX_CONVERSATIONS = 8;
// Okabe and Ito's colour-blind-safe palette (and two more), one per conversation.
const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#8c564b', '#6a3d9a'];

const $ = (id) => document.getElementById(id);
const els = {
  loadForm: $('load-form'), model: $('model'), device: $('device'), deviceNote: $('device-note'),
  kv: $('kv'), quant: $('quant'), quantNote: $('quant-note'), speculative: $('speculative'), load: $('load'), progressBox: $('progress-box'),
  progressLabel: $('progress-label'), progressFiles: $('progress-files'), modelStatus: $('model-status'),
  error: $('error'), errorText: $('error-text'), retry: $('retry'), restart: $('restart'),
  cachePanel: $('cache-panel'), storageLine: $('storage-line'), cachedModels: $('cached-models'),
  persist: $('persist'), refreshCache: $('refresh-cache'),
  tabs: $('tabs'), conversations: $('conversations'), addConversation: $('add-conversation'),
};

let engine = null;
let loading = false;
let picker = null; // the choice of weights (ui/quant.js)
let hub; // ?hub=: another Hub endpoint (a mirror, or a test's fake)
const conversations = [];
let active = null;

// Which conversation each engine request belongs to. The engine numbers
// accepted requests 1, 2, 3, ... in the order they are submitted, and the
// page submits them one at a time, so the n-th accepted submission is
// request n; a snapshot's counters.requests says how many there were.
const owners = new Map();
let submissions = [];
let assigned = 0;

function setState() {
  let s;
  if (loading) s = 'loading';
  else if (!engine) s = els.error.hidden ? 'idle' : 'error';
  else s = conversations.some((c) => c.state === 'generating') ? 'generating' : 'ready';
  document.body.dataset.state = s;
}

// Messages for the errors a person can do something about.
function explain(err) {
  const msg = err && err.message ? err.message : String(err);
  switch (err && err.code) {
    case errorCodes.NO_WEBGPU:
      return `WebGPU is not available here. Choose the CPU device (slower), or use a browser with WebGPU (recent Chrome or Edge). Details: ${msg}`;
    case errorCodes.NOT_FOUND:
      return `A file was not found, or needs a login (a gated or private repository). Check the model name or URL. Details: ${msg}`;
    case errorCodes.NETWORK:
      return `The download failed. Check your connection (and, for a URL on another site, that it allows cross-origin requests), then Retry: finished files are not downloaded again. Details: ${msg}`;
    case errorCodes.QUOTA:
      return `Not enough storage for this model. Delete cached models below, free disk space, or ask for persistent storage. Details: ${msg}`;
    case errorCodes.OUT_OF_MEMORY:
      return `Out of memory. Try a smaller KV cache, a smaller model, or close other tabs. Details: ${msg}`;
    case errorCodes.BAD_MODEL:
      return `This model cannot be loaded: ${msg}`;
    case errorCodes.GPU_LOST:
      return `The GPU device was lost (a driver reset, or another program took the GPU). Restart the engine to go on; the conversations are kept. Details: ${msg}`;
    case errorCodes.CRASHED:
      return `The engine crashed; restart it to go on. Details: ${msg}`;
    case errorCodes.ABORTED:
      return 'Stopped.';
    default:
      return msg;
  }
}

function showError(err, { restart = false } = {}) {
  console.error(err);
  els.errorText.textContent = explain(err);
  els.restart.hidden = !restart;
  els.retry.hidden = restart;
  els.error.hidden = false;
  setState();
}

function clearError() {
  els.error.hidden = true;
  els.errorText.textContent = '';
}

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function fmtSeconds(s) {
  if (!Number.isFinite(s) || s < 0) return '';
  if (s < 60) return `${Math.ceil(s)} s left`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s left`;
}

// Download progress, one row per file: bytes, speed and time left.
function progressTracker() {
  const rows = new Map();
  els.progressFiles.replaceChildren();
  return (p) => {
    els.progressBox.hidden = false;
    if (p.phase !== 'download') {
      if (p.phase === 'ready') { els.progressBox.hidden = true; return; }
      els.progressLabel.textContent = p.message ? capitalise(p.message) + '…' : '';
      return;
    }
    let r = rows.get(p.file);
    if (!r) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = p.file;
      const bar = document.createElement('progress');
      bar.max = 1;
      bar.setAttribute('aria-label', p.file);
      const info = document.createElement('span');
      info.className = 'file-info';
      li.append(name, bar, info);
      els.progressFiles.append(li);
      r = { li, bar, info, t0: performance.now(), b0: p.loaded };
      rows.set(p.file, r);
    }
    const total = Math.max(p.total || 0, p.loaded);
    r.bar.max = Math.max(total, 1);
    r.bar.value = p.loaded;
    const secs = (performance.now() - r.t0) / 1000;
    const speed = p.bytesPerSecond ?? (secs > 0.5 ? (p.loaded - r.b0) / secs : NaN);
    const left = p.secondsLeft ?? (speed > 0 && p.total ? (p.total - p.loaded) / speed : NaN);
    const parts = [p.total ? `${fmtBytes(p.loaded)} of ${fmtBytes(p.total)}` : fmtBytes(p.loaded)];
    if (p.cached) parts.push('from the cache');
    else if (Number.isFinite(speed) && speed > 0 && p.loaded < total) parts.push(`${fmtBytes(speed)}/s`, fmtSeconds(left));
    if (p.verified) parts.push('verified');
    r.info.textContent = parts.filter(Boolean).join(' · ');
    els.progressLabel.textContent = `Downloading ${p.file}…`;
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
  if (loading) return;
  clearError();
  const typed = els.model.value.trim();
  await picker?.refresh();
  const { model, quantize } = picker ? await picker.choice(typed) : { model: typed };
  if (loading) return; // a second click while the lookup ran
  const device = els.device.value;
  const kvMiB = Number(els.kv.value) || 256;
  for (const c of conversations) c.stop();
  if (engine) {
    const old = engine;
    engine = null;
    try { await old.close(); } catch { /* already gone */ }
  }
  resetOwners();
  inside.reset();
  loading = true;
  els.load.disabled = true;
  els.modelStatus.textContent = '';
  conversations.forEach((c) => c.refreshControls());
  setState();
  const started = performance.now();
  try {
    const e = await createEngine({
      model, device, hub, quantize, kvCacheBytes: kvMiB * 1024 * 1024, onProgress: progressTracker(),
      speculative: els.speculative.checked ? { method: 'ngram', numTokens: 4 } : undefined,
    });
    e.onlost = (err) => {
      if (engine !== e) return;
      engine = null;
      conversations.forEach((c) => c.refreshControls());
      els.modelStatus.textContent = 'The engine stopped.';
      showError(err || { code: errorCodes.GPU_LOST, message: 'the GPU device was lost' }, { restart: true });
    };
    engine = e;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    const info = engine.info;
    els.modelStatus.textContent = `Model ready: ${model}${quantize ? ` (${quantize.toUpperCase()})` : ''} on ${info.device}, loaded in ${secs} s` +
      (info.kv_cache_blocks ? ` · KV cache: ${info.kv_cache_blocks.toLocaleString()} blocks of ${info.kv_block_size} tokens` : '') +
      (info.max_num_seqs ? ` · up to ${info.max_num_seqs} requests per batch` : '') + '.';
    for (const c of conversations) if (c.history.length === 0) c.empty('Ready. Ask something.');
    (active || conversations[0])?.els.input.focus();
  } catch (err) {
    engine = null;
    els.progressBox.hidden = true;
    loading = false;
    showError(err);
  } finally {
    loading = false;
    els.load.disabled = false;
    conversations.forEach((c) => c.refreshControls());
    setState();
    refreshCache();
  }
}

function resetOwners() {
  owners.clear();
  submissions = [];
  assigned = 0;
}

// ---------------------------------------------------------------------------
// Conversations.

function addConversation() {
  if (conversations.length >= MAX_CONVERSATIONS) return null;
  const i = conversations.length;
  const conv = new Conversation({
    index: i + 1,
    color: COLORS[i % COLORS.length],
    engine: () => engine,
    hooks: {
      submitting(c) {
        const t = { conv: c };
        submissions.push(t);
        return { cancel() { const k = submissions.indexOf(t); if (k >= 0) submissions.splice(k, 1); } };
      },
      changed: () => setState(),
      explain,
      error(err) {
        if (err?.code === errorCodes.GPU_LOST || err?.code === errorCodes.CRASHED) engine?.onlost?.(err);
      },
    },
  });
  conversations.push(conv);
  els.tabs.append(conv.tab);
  els.conversations.append(conv.el);
  conv.tab.addEventListener('click', () => activate(conv));
  conv.tab.addEventListener('keydown', (e) => {
    const k = conversations.indexOf(conv);
    const next = e.key === 'ArrowRight' ? k + 1 : e.key === 'ArrowLeft' ? k - 1 : null;
    if (next === null) return;
    const to = conversations[(next + conversations.length) % conversations.length];
    activate(to);
    to.tab.focus();
    e.preventDefault();
  });
  if (engine && conv.history.length === 0) conv.empty('Ready. Ask something.');
  activate(active || conv);
  els.addConversation.disabled = conversations.length >= MAX_CONVERSATIONS;
  return conv;
}

// activate picks the conversation a phone shows (on a wider screen all of
// them are side by side and the tabs are hidden).
function activate(conv) {
  active = conv;
  for (const c of conversations) {
    const on = c === conv;
    c.el.classList.toggle('active', on);
    c.tab.setAttribute('aria-selected', String(on));
    c.tab.tabIndex = on ? 0 : -1;
  }
}

function ownerOf(id) {
  const c = owners.get(id);
  return c ? { label: c.label, color: c.color } : null;
}

// ---------------------------------------------------------------------------
// The inside view: engine.snapshot() polled from requestAnimationFrame, at
// most every 100 ms while anything generates and every 500 ms otherwise,
// never two at once, and not while the tab is hidden.

const inside = new InsideView({
  map: $('kv-map'), mapCaption: $('kv-caption'), bars: $('batch-plot'), rate: $('rate-plot'),
  running: $('q-running'), waiting: $('q-waiting'), counters: $('counters'), lastStep: $('last-step'),
}, ownerOf);

let polling = false;
let lastPoll = 0;
// The page's own main-thread work for the inside view, in ms: the longest
// update and the total (the benchmark reports them).
const work = { max: 0, total: 0, count: 0 };

// snapshotOf reads the engine's snapshot: engine.snapshot() where the
// library has it, else straight from the Go handle of an in-page engine.
async function snapshotOf(e) {
  if (typeof e.snapshot === 'function') return e.snapshot();
  const r = e.handle?.snapshot?.();
  if (!r) return null;
  if (r.e) throw r.e;
  return JSON.parse(r.v);
}

function tick(now) {
  requestAnimationFrame(tick);
  if (!engine || polling || document.hidden) return;
  const busy = document.body.dataset.state === 'generating';
  if (now - lastPoll < (busy ? 100 : 500)) return;
  lastPoll = now;
  polling = true;
  const e = engine;
  Promise.resolve(snapshotOf(e)).then((s) => {
    if (!s || e !== engine) return;
    while (assigned < s.counters.requests) {
      assigned++;
      const t = submissions.shift();
      if (t) owners.set(assigned, t.conv);
    }
    const t0 = performance.now();
    inside.update(s);
    const d = performance.now() - t0;
    work.max = Math.max(work.max, d);
    work.total += d;
    work.count++;
  }).catch((err) => console.warn('nanovllm: snapshot', err)).finally(() => { polling = false; });
}

// ---------------------------------------------------------------------------
// The cache manager.

async function refreshCache() {
  if (typeof lib.listCachedModels !== 'function') {
    els.cachePanel.hidden = true;
    return;
  }
  try {
    const [models, est] = await Promise.all([
      lib.listCachedModels(),
      typeof lib.storageEstimate === 'function' ? lib.storageEstimate() : null,
    ]);
    if (est) {
      els.storageLine.textContent = `This site stores ${fmtBytes(est.usage)} of a ${fmtBytes(est.quota)} quota; ` +
        (est.persisted ? 'the storage is persistent (the browser will not clear it on its own).'
          : 'the storage is not persistent (the browser may clear it when space runs low).');
      els.persist.hidden = !!est.persisted || typeof lib.requestPersistentStorage !== 'function';
    }
    const items = (models || []).map((m) => {
      const name = m.model || m.name || String(m);
      const li = document.createElement('li');
      const label = document.createElement('span');
      const size = m.bytes ?? m.size;
      label.textContent = `${name}${Number.isFinite(size) ? ` · ${fmtBytes(size)}` : ''}${m.files ? ` · ${Array.isArray(m.files) ? m.files.length : m.files} files` : ''}`;
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'secondary small';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete ${name} from the cache`);
      del.addEventListener('click', async () => {
        del.disabled = true;
        try { await lib.deleteCachedModel(name); } catch (err) { showError(err); }
        refreshCache();
      });
      li.append(label, del);
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement('li');
      li.className = 'none';
      li.textContent = 'No model is cached yet.';
      items.push(li);
    }
    els.cachedModels.replaceChildren(...items);
  } catch (err) {
    els.storageLine.textContent = `The cache cannot be read here: ${err.message || err}`;
  }
}

// ---------------------------------------------------------------------------

async function init() {
  const params = new URLSearchParams(location.search);
  if (params.get('kv')) els.kv.value = params.get('kv');
  const n = Math.min(MAX_CONVERSATIONS, Math.max(1, Number(params.get('chats')) || 2));
  for (let i = 0; i < n; i++) addConversation();
  activate(conversations[0]);
  setState();

  els.loadForm.addEventListener('submit', (e) => { e.preventDefault(); loadModel(); });
  els.retry.addEventListener('click', () => loadModel());
  els.restart.addEventListener('click', () => loadModel());
  els.addConversation.addEventListener('click', () => { const c = addConversation(); c?.els.input.focus(); });
  els.persist.addEventListener('click', async () => {
    try { await lib.requestPersistentStorage(); } catch (err) { showError(err); }
    refreshCache();
  });
  els.refreshCache.addEventListener('click', () => refreshCache());
  els.cachePanel.addEventListener('toggle', () => { if (els.cachePanel.open) refreshCache(); });
  window.addEventListener('resize', () => inside.render());
  requestAnimationFrame(tick);

  // For scripts and tests: the conversations and the engine.
  window.nanovllmPage = { conversations, engine: () => engine, owners, inside, work, addConversation };

  let served = null;
  try { served = typeof lib.defaultModel === 'function' ? await lib.defaultModel() : null; } catch { served = null; }
  els.model.value = params.get('model') || served || DEFAULT_MODEL;
  hub = params.get('hub') || undefined;
  if (typeof lib.describeChoices === 'function') {
    picker = new QuantPicker({ select: els.quant, note: els.quantNote, model: els.model, kv: els.kv, device: els.device }, lib,
      { hub, preset: params.get('quant') || undefined });
    picker.refresh();
  }
  const gpu = await setupDevice();
  const want = params.get('device');
  if (want === 'cpu' || (want === 'webgpu' && gpu.available)) els.device.value = want;
  refreshCache();
  // A model the server serves loads on opening: the demo works offline.
  if (params.get('autoload') === '1' || (served && !params.get('model') && params.get('autoload') !== '0')) loadModel();
}

init();
