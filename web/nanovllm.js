// nanovllm.js: nano-vllm-go in the browser.
//
// This ES module starts the Go engine compiled to WebAssembly (web/nanovllm.wasm,
// run by Go's own web/wasm_exec.js) and exposes it as a small JavaScript API:
//
//   import { createEngine } from './web/nanovllm.js';
//   const engine = await createEngine({ model: 'Qwen/Qwen3-0.6B', device: 'webgpu' });
//   const { text } = await engine.generate({ prompt: 'Hello', max_tokens: 32 });
//   for await (const d of engine.generateStream({ prompt: 'Hi' })) console.log(d.text);
//   const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] });
//
// Division of labour: JavaScript does what the browser is good at and Go's
// wasm port is bad at (fetching, the Cache API, streaming weights straight into
// GPU buffers, progress events); Go does everything else (parsing, the
// tokenizer, the scheduler, the model). The two sides talk through a handful of
// calls per request and one callback per engine step, never per kernel. See
// docs/browser.md for the full story.

import { errorCodes } from './errors.js';

export { errorCodes };

const CACHE_NAME = 'nanovllm-models-v1';
const HUB = 'https://huggingface.co';

// Files every model repository must (or may) provide, fetched before weights.
const CONFIG_FILES = [
  { name: 'config.json', required: true },
  { name: 'generation_config.json', required: false },
  { name: 'tokenizer.json', required: true },
  { name: 'tokenizer_config.json', required: true },
];

/**
 * An error from nano-vllm-go. `code` says what kind, so a page can explain it:
 * one of errorCodes (errorCodes.NO_WEBGPU, errorCodes.NOT_FOUND, ...; see
 * web/errors.js).
 */
export class NanoVLLMError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'NanoVLLMError';
    this.code = code;
  }
}

/** Whether this browser exposes WebGPU and can give us an adapter. */
export async function detectWebGPU() {
  if (typeof navigator === 'undefined' || !navigator.gpu) {
    return { available: false, reason: 'this browser does not expose WebGPU (navigator.gpu is missing)' };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { available: false, reason: 'WebGPU is present but no GPU adapter is available' };
    const info = adapter.info || {};
    const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
    return { available: true, adapter: name || 'unknown adapter' };
  } catch (err) {
    return { available: false, reason: `requesting a WebGPU adapter failed: ${err.message}` };
  }
}

/**
 * Turns a model name into the base URL its files live under: a Hugging Face
 * repo id ("Qwen/Qwen3-0.6B") maps to the Hub's resolve URLs, anything that
 * looks like a URL or a path is used as it is.
 */
export function resolveModelURL(model, { revision = 'main', hub = HUB } = {}) {
  if (typeof model !== 'string' || model.trim() === '') {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'model must be a Hugging Face repo id (e.g. "Qwen/Qwen3-0.6B") or a URL');
  }
  model = model.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(model) || model.startsWith('/') || model.startsWith('.')) {
    return new URL(model.replace(/\/+$/, '') + '/', globalThis.location?.href).href;
  }
  if (/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(model)) {
    return `${hub}/${model}/resolve/${encodeURIComponent(revision)}/`;
  }
  throw new NanoVLLMError(errorCodes.BAD_REQUEST,
    `model ${JSON.stringify(model)} is neither a Hugging Face repo id like "Qwen/Qwen3-0.6B" nor a URL`);
}

// ---------------------------------------------------------------------------
// Starting the Go program.

let goRuntime = null; // Promise of {Go, module}: compiled once per page.
let consoleTail = ''; // recent output of Go programs, kept for crash reports
let lastFatal = ''; // the last "fatal error:" or "panic:" line Go printed

function loadGoRuntime(wasmURL) {
  if (goRuntime) return goRuntime;
  goRuntime = (async () => {
    if (!globalThis.Go) {
      // wasm_exec.js is a classic script that defines globalThis.Go; importing
      // it as a module runs it just the same.
      try {
        await import(new URL('./wasm_exec.js', import.meta.url).href);
      } catch (err) {
        throw new NanoVLLMError(errorCodes.NOT_FOUND,
          `could not load web/wasm_exec.js (${err.message}): build the engine with 'make wasm'`, { cause: err });
      }
    }
    captureGoOutput();
    let resp;
    try {
      resp = await fetch(wasmURL);
    } catch (err) {
      throw new NanoVLLMError(errorCodes.NETWORK, `could not fetch ${wasmURL}: ${err.message}`, { cause: err });
    }
    if (!resp.ok) {
      throw new NanoVLLMError(errorCodes.NOT_FOUND, `could not fetch ${wasmURL} (HTTP ${resp.status}): build the engine with 'make wasm'`);
    }
    let module;
    if (WebAssembly.compileStreaming && (resp.headers.get('Content-Type') || '').startsWith('application/wasm')) {
      module = await WebAssembly.compileStreaming(resp);
    } else {
      module = await WebAssembly.compile(await resp.arrayBuffer());
    }
    return { Go: globalThis.Go, module };
  })();
  goRuntime.catch(() => { goRuntime = null; }); // let a later call retry
  return goRuntime;
}

// Go writes panics and runtime errors to stderr, which wasm_exec.js turns into
// console output. Keep the tail of it so a crash can be reported with its cause.
function captureGoOutput() {
  const fs = globalThis.fs;
  if (!fs || fs.__nanovllmCaptured) return;
  const writeSync = fs.writeSync.bind(fs);
  const decoder = new TextDecoder();
  let line = ''; // the runtime prints a line in several writes
  fs.writeSync = (fd, buf) => {
    const text = decoder.decode(buf);
    consoleTail = (consoleTail + text).slice(-4096);
    // A crash prints its cause first and then every goroutine's stack,
    // which would push the cause out of the tail: keep it apart.
    const lines = (line + text).split('\n');
    line = lines.pop().slice(-1024);
    for (const l of lines) if (/^(fatal error|panic): /.test(l)) lastFatal = l;
    return writeSync(fd, buf);
  };
  fs.__nanovllmCaptured = true;
}

let instanceCounter = 0;

// startGo runs a fresh Go instance and resolves with the API object its main
// function hands back. Each engine gets its own instance, so disposing an
// engine gives its whole wasm memory back to the browser.
async function startGo(wasmURL) {
  const { Go, module } = await loadGoRuntime(wasmURL);
  const go = new Go();
  const key = `__nanovllm_ready_${Date.now()}_${instanceCounter++}`;
  const ready = new Promise((resolve) => { globalThis[key] = resolve; });
  go.argv = ['nanovllm', key];
  const instance = await WebAssembly.instantiate(module, go.importObject);
  const state = { exited: false, exitCode: 0 };
  const exited = go.run(instance).then(() => { state.exited = true; });
  const api = await Promise.race([
    ready,
    exited.then(() => { throw goCrash('the engine exited while starting'); }),
  ]);
  delete globalThis[key];
  return { api, instance, state, exited };
}

function goCrash(what) {
  const cause = lastFatal || consoleTail.trim().split('\n').slice(-1)[0] || '';
  const oom = /out of memory|cannot allocate memory/i.test(cause);
  return new NanoVLLMError(oom ? errorCodes.OUT_OF_MEMORY : errorCodes.CRASHED, cause ? `${what}: ${cause}` : what);
}

// Errors from Go arrive as JavaScript Errors whose `code` the Go side sets.
function fromGo(err) {
  if (err instanceof NanoVLLMError) return err;
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    return new NanoVLLMError(err.code, err.message);
  }
  return new NanoVLLMError(errorCodes.INTERNAL, String(err && err.message || err));
}

// ---------------------------------------------------------------------------
// Fetching model files, through the Cache API when the browser has it.

class Fetcher {
  constructor(baseURL, { useCache, onProgress, signal }) {
    this.baseURL = baseURL;
    this.useCache = useCache && typeof caches !== 'undefined';
    this.onProgress = onProgress;
    this.signal = signal;
    this.cache = null;
  }

  url(name) { return new URL(name, this.baseURL).href; }

  async openCache() {
    if (!this.useCache) return null;
    if (!this.cache) {
      try {
        this.cache = await caches.open(CACHE_NAME);
      } catch {
        this.useCache = false; // e.g. an insecure context or a private window
      }
    }
    return this.cache;
  }

  // response returns the file's Response (from the cache or the network), or
  // null when the server says it does not exist.
  async response(name, { required }) {
    const url = this.url(name);
    const cache = await this.openCache();
    if (cache) {
      const hit = await cache.match(url);
      if (hit) return { resp: hit, cached: true };
    }
    let resp;
    try {
      resp = await fetch(url, { signal: this.signal });
    } catch (err) {
      if (err.name === 'AbortError') throw new NanoVLLMError(errorCodes.ABORTED, 'loading was aborted', { cause: err });
      throw new NanoVLLMError(errorCodes.NETWORK, `could not fetch ${url}: ${err.message} (offline, or the server does not allow cross-origin requests?)`, { cause: err });
    }
    if (resp.status === 404 || resp.status === 401 || resp.status === 403) {
      if (!required) return null;
      const why = resp.status === 404 ? 'does not exist' : 'is not accessible without credentials (gated or private repository?)';
      throw new NanoVLLMError(errorCodes.NOT_FOUND, `${url} ${why} (HTTP ${resp.status})`);
    }
    if (!resp.ok) {
      throw new NanoVLLMError(errorCodes.NETWORK, `fetching ${url} failed: HTTP ${resp.status} ${resp.statusText}`);
    }
    return { resp, cached: false, cache, url };
  }

  // stream reads a file chunk by chunk, calling onChunk(bytes, offset) for
  // each, and caches it when it came from the network. Returns the byte count.
  async stream(name, { required = true, onChunk }) {
    const r = await this.response(name, { required });
    if (!r) return null;
    const { resp, cached, cache, url } = r;
    const total = Number(resp.headers.get('Content-Length')) || 0;
    let body = resp.body;
    let cachePut = null;
    if (!cached && cache && body) {
      // Tee the body: one branch fills the cache while we consume the other.
      const [mine, forCache] = body.tee();
      body = mine;
      const headers = new Headers(resp.headers);
      cachePut = cache.put(url, new Response(forCache, { status: resp.status, headers }))
        .catch((err) => console.warn(`nanovllm: not caching ${url}: ${err.message}`));
    }
    const report = (loaded) => this.onProgress?.({ phase: 'download', file: name, loaded, total, cached });
    let loaded = 0;
    report(0);
    const reader = body.getReader();
    let lastReport = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await onChunk(value, loaded);
        loaded += value.byteLength;
        const now = performance.now();
        if (now - lastReport > 100) { report(loaded); lastReport = now; }
      }
    } catch (err) {
      reader.cancel().catch(() => {});
      if (err instanceof NanoVLLMError) throw err;
      if (err.name === 'AbortError') throw new NanoVLLMError(errorCodes.ABORTED, 'loading was aborted', { cause: err });
      throw new NanoVLLMError(errorCodes.NETWORK, `downloading ${url || this.url(name)} failed: ${err.message}`, { cause: err });
    }
    // Content-Length counts the bytes on the wire: a compressed response
    // (JSON often is) decodes to more, so only a shortfall of an unencoded
    // body means the transfer was cut.
    const encoded = (resp.headers.get('Content-Encoding') || 'identity') !== 'identity';
    if (total && loaded < total && !encoded) {
      throw new NanoVLLMError(errorCodes.NETWORK, `${this.url(name)}: got ${loaded} bytes, expected ${total} (connection cut?)`);
    }
    report(loaded);
    if (cachePut) await cachePut;
    return loaded;
  }

  // bytes fetches a whole (small) file into one Uint8Array, or null.
  async bytes(name, { required = true } = {}) {
    const parts = [];
    const n = await this.stream(name, { required, onChunk: (c) => { parts.push(c); } });
    if (n === null) return null;
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of parts) { out.set(p, off); off += p.byteLength; }
    return out;
  }
}

// ---------------------------------------------------------------------------
// Streaming safetensors bytes to where the device wants them.

// ShardWriter routes the bytes of one safetensors file, as they arrive, to the
// destinations Go planned for them. A segment is {begin, end} (absolute file
// offsets) plus either {ptr}, an address in the wasm memory where the CPU
// device wants the bytes, or {writer}, the index of a WebGPU weight writer
// that queues them into GPU buffers. Bytes no segment claims are dropped.
class ShardWriter {
  constructor(plan, memory, write) {
    this.memory = memory;
    this.write = write; // (writer, Uint8Array) => void, a call into Go
    this.segments = Array.from(plan.segments, (s) => ({
      begin: Number(s.begin), end: Number(s.end),
      ptr: s.ptr === undefined ? null : Number(s.ptr),
      writer: s.writer === undefined ? null : Number(s.writer),
      written: 0,
    })).sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < this.segments.length; i++) {
      if (this.segments[i].begin < this.segments[i - 1].end) {
        throw new NanoVLLMError(errorCodes.INTERNAL, 'weight plan has overlapping segments');
      }
    }
    this.next = 0; // first segment not yet complete
  }

  push(chunk, offset) {
    const end = offset + chunk.byteLength;
    for (let i = this.next; i < this.segments.length; i++) {
      const s = this.segments[i];
      if (s.begin >= end) break;
      const from = Math.max(s.begin, offset);
      const to = Math.min(s.end, end);
      if (from >= to) continue;
      const part = chunk.subarray(from - offset, to - offset);
      if (s.ptr !== null) {
        // Copy straight into Go's memory. Take memory.buffer afresh each
        // time: it is replaced whenever the wasm memory grows.
        new Uint8Array(this.memory.buffer, s.ptr + (from - s.begin), part.byteLength).set(part);
      } else {
        this.write(s.writer, part);
      }
      s.written += part.byteLength;
    }
    while (this.next < this.segments.length) {
      const s = this.segments[this.next];
      if (s.written !== s.end - s.begin) break;
      this.next++;
    }
  }

  finish(name) {
    const missing = this.segments.find((s) => s.written !== s.end - s.begin);
    if (missing) {
      throw new NanoVLLMError(errorCodes.BAD_MODEL, `${name} ended before byte ${missing.end} (truncated download?)`);
    }
  }
}

// ---------------------------------------------------------------------------
// The engine.

/**
 * Loads a model and returns an engine.
 *
 * @param {object} options
 * @param {string} options.model Hugging Face repo id ("Qwen/Qwen3-0.6B") or a
 *   base URL whose <base>/<file> serves config.json, tokenizer.json, ...
 * @param {'webgpu'|'cpu'|'auto'} [options.device='auto'] where the model runs;
 *   'auto' picks WebGPU when an adapter is available, else the CPU.
 * @param {number} [options.kvCacheBytes=256 MiB] memory budget of the paged KV cache
 *   (left out, the engine's default: defaultKVCacheBytes in wasm/request.go).
 * @param {(p: object) => void} [options.onProgress] called with
 *   {phase: 'engine'|'download'|'init'|'ready', file, loaded, total, cached, message}.
 * @param {boolean} [options.cache=true] keep downloaded files in the Cache API.
 * @param {string} [options.revision='main'] Hub revision for repo ids.
 * @param {AbortSignal} [options.signal] aborts the download.
 * @param {string} [options.wasmURL] where nanovllm.wasm is (default: next to this module).
 * @param {object} [options.speculative] speculative decoding, off when left out:
 *   {method: 'ngram', numTokens = 4, promptLookupMin = 1, promptLookupMax = 4}
 *   (prompt lookup; see docs/speculative.md). Greedy output is unchanged; a
 *   request's usage then counts speculative_proposed_tokens and
 *   speculative_accepted_tokens.
 * @returns {Promise<Engine>}
 */
export async function createEngine(options = {}) {
  const {
    model, onProgress, signal, revision, kvCacheBytes, speculative,
    cache = true,
    wasmURL = new URL('./nanovllm.wasm', import.meta.url).href,
  } = options;
  let device = options.device || 'auto';
  const auto = device === 'auto';
  if (!['webgpu', 'cpu', 'auto'].includes(device)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `device must be 'webgpu', 'cpu' or 'auto', not ${JSON.stringify(device)}`);
  }
  if (kvCacheBytes !== undefined && !(Number.isFinite(kvCacheBytes) && kvCacheBytes > 0)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `kvCacheBytes must be a positive number of bytes, not ${kvCacheBytes}`);
  }
  const baseURL = resolveModelURL(model, { revision });
  if (device === 'auto' || device === 'webgpu') {
    const gpu = await detectWebGPU();
    if (!gpu.available) {
      if (device === 'webgpu') throw new NanoVLLMError(errorCodes.NO_WEBGPU, `WebGPU is not available: ${gpu.reason}`);
      device = 'cpu';
    } else {
      device = 'webgpu';
    }
  }

  const progress = (p) => { try { onProgress?.(p); } catch (err) { console.error(err); } };
  const started = performance.now();
  // What loading cost: weight bytes, and calls into Go to stream them.
  const load = { weightBytes: 0, goCalls: 0, seconds: 0 };
  progress({ phase: 'engine', message: 'starting the engine' });
  const go = await startGo(wasmURL);
  const memory = go.instance.exports.mem;
  const fetcher = new Fetcher(baseURL, { useCache: cache, onProgress: progress, signal });

  let loader = null;
  try {
    // Small files first: Go validates config and tokenizer before we spend
    // minutes downloading weights for a model it cannot run.
    const files = {};
    for (const f of CONFIG_FILES) {
      const bytes = await fetcher.bytes(f.name, { required: f.required });
      if (bytes) files[f.name] = bytes;
    }
    progress({ phase: 'init', message: `preparing the ${device} device` });
    const newLoader = () => callGo(go, () => go.api.newLoader(JSON.stringify({ device, kvCacheBytes, model: String(model), speculative }), files));
    try {
      loader = await newLoader();
    } catch (err) {
      // An adapter that turns out unusable (no device, missing limits) is
      // no reason to fail when the caller let us choose.
      if (!(auto && device === 'webgpu' && err.code === errorCodes.NO_WEBGPU)) throw err;
      console.warn(`nanovllm: ${err.message}; using the CPU`);
      device = 'cpu';
      progress({ phase: 'init', message: 'WebGPU failed, preparing the CPU device' });
      loader = await newLoader();
    }

    // Sharded checkpoints list their shards in an index; single-file ones
    // have model.safetensors only.
    const index = await fetcher.bytes('model.safetensors.index.json', { required: false });
    let shards = ['model.safetensors'];
    if (index) {
      const parsed = JSON.parse(new TextDecoder().decode(index));
      shards = [...new Set(Object.values(parsed.weight_map || {}))].sort();
      if (shards.length === 0) throw new NanoVLLMError(errorCodes.BAD_MODEL, 'model.safetensors.index.json lists no shards');
      for (const shard of shards) {
        if (!validShardName(shard)) {
          throw new NanoVLLMError(errorCodes.BAD_MODEL, `model.safetensors.index.json names shard ${JSON.stringify(shard)}, which is not a file name in the model's directory`);
        }
      }
      unwrap(loader.setIndex(index));
    }
    for (const shard of shards) {
      await streamShard(go, loader, fetcher, shard, memory, load);
    }
    progress({ phase: 'init', message: 'building the model' });
    const handle = await callGo(go, () => loader.finish());
    loader = null; // finish released it
    const info = JSON.parse(unwrap(handle.info()));
    progress({ phase: 'ready', message: `ready on ${info.device}` });
    load.seconds = (performance.now() - started) / 1000;
    info.load = load;
    return new Engine(go, handle, info, String(model));
  } catch (err) {
    try { if (loader) unwrap(loader.abort()); } catch { /* the instance may be gone */ }
    try { unwrap(go.api.exit()); } catch { /* already exited */ }
    throw err;
  }
}

// streamShard reads a safetensors file once, front to back: the header goes to
// Go, which answers with a plan (where each tensor's bytes must land), and the
// rest of the stream follows the plan without touching the Go heap.
async function streamShard(go, loader, fetcher, shard, memory, load) {
  let header = new Uint8Array(0);
  let headerLen = -1;
  let writer = null;
  let pending = []; // chunks that arrived before the plan
  const onChunk = async (chunk, offset) => {
    if (writer) return writer.push(chunk, offset);
    pending.push({ chunk, offset });
    header = concat(header, chunk);
    if (headerLen < 0 && header.byteLength >= 8) {
      const n = new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0, true);
      if (n > 100_000_000n) throw new NanoVLLMError(errorCodes.BAD_MODEL, `${shard}: header length ${n} is implausible (not a safetensors file?)`);
      headerLen = 8 + Number(n);
    }
    if (headerLen >= 0 && header.byteLength >= headerLen) {
      const plan = await callGo(go, () => loader.planShard(shard, header.subarray(0, headerLen)));
      writer = new ShardWriter(plan, memory, (i, part) => { load.goCalls++; unwrap(loader.write(i, part)); });
      for (const p of pending) writer.push(p.chunk, p.offset);
      pending = null;
      header = null;
    }
  };
  const n = await fetcher.stream(shard, { required: true, onChunk });
  load.weightBytes += n;
  if (!writer) throw new NanoVLLMError(errorCodes.BAD_MODEL, `${shard} is ${n} bytes, too short for its safetensors header`);
  writer.finish(shard);
  await callGo(go, () => loader.shardDone(shard, n));
}

// A shard named by an index must be a plain file name next to it, by the
// rule of core/safetensors.ValidShardName (a Go test holds the two
// together): otherwise new URL() would resolve a name such as
// "http:attacker.example" or "//host/x.safetensors" to another origin.
const SHARD_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.safetensors$/;
const MAX_SHARD_NAME = 255;

function validShardName(name) {
  return typeof name === 'string' && name.length <= MAX_SHARD_NAME && SHARD_NAME.test(name);
}

function concat(a, b) {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

// Every function Go exports returns {v: value} or {e: Error}: Go cannot
// throw into JavaScript. unwrap turns that back into a value or a throw.
function unwrap(r) {
  if (r && r.e) throw fromGo(r.e);
  return r ? r.v : undefined;
}

// callGo calls into the Go instance and awaits the result (Go's
// asynchronous functions return a Promise as their value), turning failures,
// including the instance having died (e.g. out of memory), into
// NanoVLLMErrors.
async function callGo(go, fn) {
  if (go.state.exited) throw goCrash('the engine is no longer running');
  try {
    const died = go.exited.then(() => { throw goCrash('the engine stopped'); });
    return await Promise.race([Promise.resolve().then(() => unwrap(fn())), died]);
  } catch (err) {
    if (go.state.exited) throw goCrash('the engine stopped');
    throw fromGo(err);
  }
}

const SAMPLING_KEYS = ['max_tokens', 'min_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'seed', 'ignore_eos',
  'stop', 'stop_token_ids', 'include_stop_str_in_output', 'repetition_penalty', 'presence_penalty', 'frequency_penalty'];

function buildRequest(req, extra) {
  if (!req || typeof req !== 'object') throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'a request object is required');
  const out = {};
  for (const k of SAMPLING_KEYS) if (req[k] !== undefined && req[k] !== null) out[k] = req[k];
  Object.assign(out, extra);
  return out;
}

// Stream is the per-request channel between Go's step callbacks and a
// JavaScript async iterator (or a promise of the whole result).
class Stream {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.done = false;
    this.error = null;
    this.final = null;
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w.resolve({ value: item, done: false }); else this.items.push(item);
  }

  end(final, error) {
    if (this.done) return;
    this.done = true;
    this.onEnd?.();
    this.final = final;
    this.error = error;
    for (const w of this.waiters.splice(0)) {
      if (error) w.reject(error); else w.resolve({ value: undefined, done: true });
    }
  }

  next() {
    if (this.items.length) return Promise.resolve({ value: this.items.shift(), done: false });
    if (this.done) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

/** A loaded model, ready to generate. Create one with createEngine. */
export class Engine {
  constructor(go, handle, info, model) {
    this.go = go;
    this.handle = handle;
    /**
   * What was loaded: {device, model_type, num_layers, kv_cache_tokens, ...,
   * load: {weightBytes, goCalls, seconds}}.
   */
    this.info = info;
    this.model = model;
    this.closed = false;
    // Requests in flight, so that if the instance dies they fail at once
    // instead of waiting forever.
    this.streams = new Set();
    go.exited.then(() => {
      for (const s of this.streams) s.end(null, goCrash('the engine stopped'));
      this.streams.clear();
    });
    const engine = this;
    /** OpenAI-style chat API: engine.chat.completions.create({messages, stream}). */
    this.chat = { completions: { create: (req) => engine.createChatCompletion(req) } };
  }

  /** The device the engine runs on, e.g. "webgpu (swiftshader)" or "cpu (wasm)". */
  get device() { return this.info.device; }

  // submit starts one request in Go. Go calls back once per engine step with
  // the new tokens and text, and once at the end with the whole result.
  submit(request, signal) {
    if (this.closed) throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'the engine is closed');
    if (this.go.state.exited) throw goCrash('the engine is no longer running');
    const stream = new Stream();
    const onEvent = (json) => {
      const ev = JSON.parse(json);
      if (ev.error) {
        stream.end(null, new NanoVLLMError(ev.error.code || errorCodes.INTERNAL, ev.error.message));
      } else if (ev.done) {
        stream.end(ev.result, null);
      } else {
        stream.push(ev);
      }
    };
    let id;
    try {
      id = unwrap(this.handle.submit(JSON.stringify(request), onEvent));
    } catch (err) {
      throw fromGo(err);
    }
    const abort = () => { if (!stream.done) { try { unwrap(this.handle.abort(id)); } catch { /* gone */ } } };
    if (signal) {
      if (signal.aborted) abort(); else signal.addEventListener('abort', abort, { once: true });
    }
    this.streams.add(stream);
    stream.onEnd = () => this.streams.delete(stream);
    return { stream, abort };
  }

  /**
   * Generates a completion. Give either `prompt` (text) or `prompt_ids`.
   * Resolves with {token_ids, text, finish_reason, usage}.
   */
  async generate(req) {
    const { stream } = this.submit(buildRequest(req, promptOf(req)), req.signal);
    while (!(await stream.next()).done) { /* deltas are not needed here */ }
    return stream.final;
  }

  /**
   * Streams a completion: an async iterator of deltas {token_ids, text} (the
   * tokens of one engine step and the text they complete), ending with one
   * that carries finish_reason. Breaking out of the loop aborts the request.
   */
  generateStream(req) {
    const { stream, abort } = this.submit(buildRequest(req, promptOf(req)), req.signal);
    return iterate(stream, abort, (ev) => ev);
  }

  async createChatCompletion(req) {
    if (!req || !Array.isArray(req.messages) || req.messages.length === 0) {
      throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'messages must be a non-empty array of {role, content}');
    }
    const chat = { messages: req.messages };
    if (req.enable_thinking !== undefined) chat.enable_thinking = !!req.enable_thinking;
    const request = buildRequest(req, { chat });
    if (request.max_tokens === undefined && req.max_completion_tokens !== undefined) {
      request.max_tokens = req.max_completion_tokens;
    }
    const id = `chatcmpl-${Math.random().toString(36).slice(2, 14)}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, created, model: this.model };
    const { stream, abort } = this.submit(request, req.signal);
    if (!req.stream) {
      while (!(await stream.next()).done) { /* wait for the end */ }
      const r = stream.final;
      return {
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finish_reason }],
        usage: r.usage,
      };
    }
    let first = true;
    return iterate(stream, abort, (ev) => {
      const delta = {};
      if (first) { delta.role = 'assistant'; first = false; }
      if (ev.text || !ev.finish_reason) delta.content = ev.text || '';
      return {
        ...base,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, finish_reason: ev.finish_reason || null }],
        ...(ev.finish_reason ? { usage: ev.usage } : {}),
      };
    });
  }

  /** Encodes text to token ids with the model's tokenizer. */
  tokenize(text) {
    return JSON.parse(this.call(() => this.handle.tokenize(String(text))));
  }

  /** Decodes token ids to text. */
  detokenize(ids) {
    return this.call(() => this.handle.detokenize(JSON.stringify(Array.from(ids))));
  }

  /**
   * Engine counters: steps, tokens, calls between Go and JavaScript, the Go
   * heap in use and the size of the whole wasm memory (which never shrinks).
   */
  stats() {
    const s = JSON.parse(this.call(() => this.handle.stats()));
    s.wasm_memory_bytes = this.go.instance.exports.mem.buffer.byteLength;
    return s;
  }

  call(fn) {
    if (this.closed) throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'the engine is closed');
    if (this.go.state.exited) throw goCrash('the engine is no longer running');
    try { return unwrap(fn()); } catch (err) { throw fromGo(err); }
  }

  /** Stops every request and the Go instance; the engine cannot be used afterwards. */
  close() {
    if (this.closed) return;
    this.closed = true;
    try { unwrap(this.handle.close()); } catch { /* already gone */ }
    try { unwrap(this.go.api.exit()); } catch { /* already gone */ }
  }
}

function promptOf(req) {
  const hasText = typeof req.prompt === 'string';
  const hasIds = req.prompt_ids !== undefined && req.prompt_ids !== null;
  if (hasText === hasIds) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'give exactly one of prompt (text) and prompt_ids (token ids)');
  }
  return hasText ? { prompt: req.prompt } : { prompt_ids: Array.from(req.prompt_ids, Number) };
}

// iterate wraps a Stream as an async iterable; leaving the loop early aborts.
function iterate(stream, abort, map) {
  return {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      const r = await stream.next();
      return r.done ? r : { value: map(r.value), done: false };
    },
    async return() {
      abort();
      return { value: undefined, done: true };
    },
  };
}
