// engine.js: loading a model into a Go instance, and the Engine that runs
// requests on it, in whatever thread this module runs in: the page's main
// thread (createEngine({worker: false})) or the worker (worker.js).
//
// Division of labour: JavaScript does what the browser is good at and Go's
// wasm port is bad at (fetching, storage, streaming weights straight into GPU
// buffers, progress events); Go does everything else (parsing, the
// tokenizer, the scheduler, the model). The two sides talk through a handful
// of calls per request and one callback per engine step, never per kernel.

import { errorCodes } from '../errors.js';
import { NanoVLLMError, fromGo } from './error.js';
import { startGo, goCrash, unwrap, callGo } from './go.js';
import { Downloader } from './fetch.js';
import { ModelStore } from './store.js';
import { streamShard, validShardName } from './checkpoint.js';
import { describeModel } from './model.js';
import { isGGUF, selectGGUF, streamGGUF } from './gguf.js';
import { buildRequest, promptOf, chatRequest, completionBase, chatCompletion, chunker, iterate } from './openai.js';

// Files every model repository may provide, fetched before the weights.
// Without tokenizer files the engine runs on prompt_ids only.
const CONFIG_FILES = [
  { name: 'config.json', required: true },
  { name: 'generation_config.json', required: false },
  { name: 'tokenizer.json', required: false },
  { name: 'tokenizer_config.json', required: false },
];

// Files a GGUF model's repository may have next to the .gguf: a
// tokenizer.json wins over the GGUF's own tokenizer.
const GGUF_SIDE_FILES = CONFIG_FILES.filter((f) => f.name !== 'config.json');

/**
 * The GGUF file a model names, or null for a safetensors checkpoint: the
 * file of a .gguf URL; the one a repo id's selector picks (core/hub's
 * rules); or, for a repository without config.json, its only .gguf file.
 */
function ggufFileOf(desc, downloader) {
  if (desc.gguf?.file) return desc.gguf.file;
  const names = downloader.list ? downloader.listed(() => true) : Object.keys(downloader.store?.manifest.files || {});
  if (desc.gguf) return selectGGUF(names, desc.gguf.selector);
  if (downloader.list && !downloader.has('config.json') && names.some(isGGUF)) return selectGGUF(names, '');
  return null;
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

// The GPUDevices the Go side asked for, most recent last, so that an engine
// can watch its device's `lost` promise (Go creates the device itself).
const devices = [];
function watchDevices() {
  const A = globalThis.GPUAdapter;
  if (!A || A.prototype.requestDevice.__nanovllm) return;
  const orig = A.prototype.requestDevice;
  const wrapped = async function (...args) {
    const d = await orig.apply(this, args);
    if (d) devices.push(d);
    if (devices.length > 8) devices.shift();
    return d;
  };
  wrapped.__nanovllm = true;
  A.prototype.requestDevice = wrapped;
}

/**
 * Loads a model into a Go instance in this thread and returns an Engine.
 * createEngine (client.js) documents the options.
 */
export async function createLocalEngine(options = {}) {
  const { model, signal, revision = 'main', hub, kvCacheBytes, kvCacheDType, quantize } = options;
  const device = options.device || 'auto';
  if (!['webgpu', 'cpu', 'auto'].includes(device)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `device must be 'webgpu', 'cpu' or 'auto', not ${JSON.stringify(device)}`);
  }
  if (kvCacheBytes !== undefined && !(Number.isFinite(kvCacheBytes) && kvCacheBytes > 0)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `kvCacheBytes must be a positive number of bytes, not ${kvCacheBytes}`);
  }
  if (kvCacheDType !== undefined && !['f32', 'bf16', 'f16'].includes(kvCacheDType)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `kvCacheDType must be 'f32', 'bf16' or 'f16', not ${JSON.stringify(kvCacheDType)}`);
  }
  if (quantize !== undefined && quantize !== null && !['q8_0', 'q4_0'].includes(quantize)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `quantize must be 'q8_0' or 'q4_0' (or left out for the weights as stored), not ${JSON.stringify(quantize)}`);
  }
  const desc = describeModel(model, { revision, hub });
  // A cached file that turns out changed is discarded mid-load; the
  // load then starts over once and fetches it.
  for (let attempt = 0; ; attempt++) {
    try {
      return await loadOnce(options, desc);
    } catch (err) {
      if (!err.retryLoad || attempt > 0 || signal?.aborted) throw err;
      console.warn(`nanovllm: ${err.message}; loading again`);
    }
  }
}

async function loadOnce(options, desc) {
  const {
    model, onProgress, signal, kvCacheBytes, kvCacheDType, speculative, revision = 'main', quantize,
    cache = true,
    wasmURL = new URL('../nanovllm.wasm', import.meta.url).href,
  } = options;
  let device = options.device || 'auto';
  const auto = device === 'auto';
  if (device === 'auto' || device === 'webgpu') {
    const gpu = await detectWebGPU();
    if (!gpu.available) {
      if (device === 'webgpu') throw new NanoVLLMError(errorCodes.NO_WEBGPU, `WebGPU is not available: ${gpu.reason}`);
      device = 'cpu';
    } else {
      device = 'webgpu';
      watchDevices();
    }
  }

  const progress = (p) => { try { onProgress?.(p); } catch (err) { console.error(err); } };
  const started = performance.now();
  // What loading cost: weight bytes, calls into Go to stream them, requests.
  const load = { weightBytes: 0, goCalls: 0, seconds: 0, requests: 0 };
  progress({ phase: 'engine', message: 'starting the engine' });
  const go = await startGo(wasmURL);
  const memory = go.instance.exports.mem;
  const store = cache ? await ModelStore.open(desc.key, { model: String(model), revision: desc.hub ? revision : null, url: desc.base }) : null;
  const downloader = new Downloader({ base: desc.base, hub: desc.hub, store, onProgress: progress, signal });

  let loader = null;
  try {
    progress({ phase: 'files', message: 'fetching the file list' });
    await downloader.fetchList();
    const ggufName = ggufFileOf(desc, downloader);
    const smallFiles = ggufName ? GGUF_SIDE_FILES : CONFIG_FILES;
    // Refuse, before downloading anything, a model that will not fit: only
    // the files this load reads count (one quantization of a GGUF repo).
    await downloader.checkQuota(downloader.listed((n) => smallFiles.some((f) => f.name === n) || (ggufName
      ? n === ggufName : n === 'model.safetensors.index.json' || n.endsWith('.safetensors'))), `${model}`);
    // Small files first: Go validates config and tokenizer before we spend
    // minutes downloading weights for a model it cannot run. Next to a GGUF
    // file they are looked for only where a file list says they exist.
    const files = {};
    for (const f of smallFiles) {
      if (ggufName && (!downloader.list || !downloader.has(f.name))) continue;
      const bytes = await downloader.bytes(f.name, { required: f.required });
      if (bytes) files[f.name] = bytes;
    }
    let hasTokenizer = !!files['tokenizer.json'];
    progress({ phase: 'init', message: `preparing the ${device} device` });
    // The options are read at each call: a failed WebGPU start retries
    // with device 'cpu'.
    const newLoader = () => callGo(go, () => {
      const opts = JSON.stringify({ device, kvCacheBytes, kvCacheDType, model: String(model), speculative, quantize: quantize || undefined });
      return ggufName ? go.api.newGGUFLoader(opts, files) : go.api.newLoader(opts, files);
    });
    const before = devices.length;
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
    const gpuDevice = device === 'webgpu' && devices.length > before ? devices[devices.length - 1] : null;
    devices.length = 0; // hold no device longer than its engine does

    if (ggufName) {
      const r = await streamGGUF(go, loader, downloader, ggufName, memory, load);
      hasTokenizer ||= r.tokenizer;
    }
    // Sharded checkpoints list their shards in an index; single-file ones
    // have model.safetensors only.
    const index = ggufName ? null : downloader.has('model.safetensors.index.json')
      ? await downloader.bytes('model.safetensors.index.json', { required: false }) : null;
    let shards = ['model.safetensors'];
    if (index) {
      let parsed;
      try { parsed = JSON.parse(new TextDecoder().decode(index)); } catch (err) {
        throw new NanoVLLMError(errorCodes.BAD_MODEL, `model.safetensors.index.json is not JSON: ${err.message}`);
      }
      shards = [...new Set(Object.values(parsed.weight_map || {}))].sort();
      if (shards.length === 0) throw new NanoVLLMError(errorCodes.BAD_MODEL, 'model.safetensors.index.json lists no shards');
      for (const shard of shards) {
        if (!validShardName(shard)) {
          throw new NanoVLLMError(errorCodes.BAD_MODEL, `model.safetensors.index.json names shard ${JSON.stringify(shard)}, which is not a file name in the model's directory`);
        }
      }
      unwrap(loader.setIndex(index));
    }
    for (const shard of ggufName ? [] : shards) {
      await streamShard(go, loader, downloader, shard, memory, load);
    }
    progress({ phase: 'init', message: 'building the model' });
    const handle = await callGo(go, () => loader.finish());
    loader = null; // finish released it
    const info = JSON.parse(unwrap(handle.info()));
    info.has_tokenizer = hasTokenizer;
    info.gguf = ggufName || null; // the GGUF file loaded, or null for safetensors
    info.quantize = quantize || null; // the quantization applied on load
    progress({ phase: 'ready', message: `ready on ${info.device}` });
    load.seconds = (performance.now() - started) / 1000;
    load.requests = downloader.requests;
    info.load = load;
    return new Engine(go, handle, info, String(model), gpuDevice);
  } catch (err) {
    try { if (loader) unwrap(loader.abort()); } catch { /* the instance may be gone */ }
    try { unwrap(go.api.exit()); } catch { /* already exited */ }
    throw err;
  }
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

/** A loaded model, ready to generate, running in this thread. */
export class Engine extends EventTarget {
  constructor(go, handle, info, model, gpuDevice) {
    super();
    this.go = go;
    this.handle = handle;
    /**
     * What was loaded: {device, model_type, num_layers, kv_cache_tokens, ...,
     * has_tokenizer, load: {weightBytes, goCalls, seconds, requests}}.
     */
    this.info = info;
    this.model = model;
    this.closed = false;
    this.lost = null; // the NanoVLLMError once the GPU device is lost
    /** Called with the GPU_LOST error when the GPU device is lost. */
    this.onlost = null;
    this.gpuDevice = gpuDevice;
    // Requests in flight, so that if the instance dies they fail at once
    // instead of waiting forever.
    this.streams = new Set();
    go.exited.then(() => {
      for (const s of this.streams) s.end(null, this.lost || goCrash('the engine stopped'));
      this.streams.clear();
    });
    gpuDevice?.lost.then((why) => this.lose(why));
    const engine = this;
    /** OpenAI-style chat API: engine.chat.completions.create({messages, stream}). */
    this.chat = { completions: { create: (req) => engine.createChatCompletion(req) } };
  }

  /** The device the engine runs on, e.g. "webgpu (swiftshader)" or "cpu (wasm)". */
  get device() { return this.info.device; }

  lose(why) {
    if (this.closed || this.lost) return;
    const err = new NanoVLLMError(errorCodes.GPU_LOST,
      `the GPU device was lost (${why?.reason || 'unknown'}${why?.message ? ': ' + why.message : ''}): load the model again`);
    this.lost = err;
    for (const s of this.streams) s.end(null, err);
    this.streams.clear();
    try { this.onlost?.(err); } catch (e) { console.error(e); }
    this.dispatchEvent(Object.assign(new Event('lost'), { error: err }));
    try { unwrap(this.handle.close()); } catch { /* gone */ }
    try { unwrap(this.go.api.exit()); } catch { /* gone */ }
  }

  /** Destroys the GPU device, as a driver reset would: for tests of recovery. */
  async loseDeviceForTesting() {
    if (!this.gpuDevice) throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'the engine has no GPU device');
    this.gpuDevice.destroy();
  }

  check() {
    if (this.lost) throw this.lost;
    if (this.closed) throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'the engine is closed');
    if (this.go.state.exited) throw goCrash('the engine is no longer running');
  }

  needTokenizer(what) {
    if (!this.info.has_tokenizer) {
      throw new NanoVLLMError(errorCodes.BAD_REQUEST, `${what} needs a tokenizer, and this model was loaded without tokenizer.json: give prompt_ids`);
    }
  }

  // submit starts one request in Go. Go calls back once per engine step with
  // the new tokens and text, and once at the end with the whole result.
  submit(request, signal) {
    this.check();
    if (request.prompt !== undefined) this.needTokenizer('a text prompt');
    if (request.chat !== undefined) this.needTokenizer('a chat');
    const stream = new Stream();
    const onEvent = (json) => {
      const ev = JSON.parse(json);
      if (ev.error) {
        const err = new NanoVLLMError(ev.error.code || errorCodes.INTERNAL, ev.error.message);
        if (this.gpuDevice && !this.lost) {
          // A lost device makes the step fail before its lost promise
          // settles: wait a moment, so the request reports the cause.
          Promise.race([this.gpuDevice.lost, new Promise((r) => setTimeout(r, 250))])
            .then(() => stream.end(null, this.lost || err));
        } else {
          stream.end(null, this.lost || err);
        }
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
   * that carries finish_reason and usage. Breaking out of the loop aborts.
   */
  generateStream(req) {
    const { stream, abort } = this.submit(buildRequest(req, promptOf(req)), req.signal);
    return iterate(() => stream.next(), abort);
  }

  /** chat.completions.create: a reply, or with stream: true an async iterable of chunks. */
  async createChatCompletion(req) {
    const request = chatRequest(req);
    const base = completionBase(this.model);
    const { stream, abort } = this.submit(request, req.signal);
    if (!req.stream) {
      while (!(await stream.next()).done) { /* wait for the end */ }
      return chatCompletion(base, stream.final);
    }
    return iterate(() => stream.next(), abort, chunker(base));
  }

  /** Encodes text to token ids with the model's tokenizer. */
  async tokenize(text) {
    this.needTokenizer('tokenize');
    return JSON.parse(this.call(() => this.handle.tokenize(String(text))));
  }

  /** Decodes token ids to text. */
  async detokenize(ids) {
    this.needTokenizer('detokenize');
    return this.call(() => this.handle.detokenize(JSON.stringify(Array.from(ids))));
  }

  /**
   * Engine counters: steps, tokens, calls between Go and JavaScript, the Go
   * heap in use and the size of the whole wasm memory (which never shrinks).
   */
  async stats() {
    const s = JSON.parse(this.call(() => this.handle.stats()));
    s.wasm_memory_bytes = this.go.instance.exports.mem.buffer.byteLength;
    return s;
  }

  /** The engine's state as of its last step: KV blocks, queues, the last batch (docs/browser.md). */
  async snapshot() {
    if (typeof this.handle.snapshot !== 'function') {
      throw new NanoVLLMError(errorCodes.INTERNAL, 'this nanovllm.wasm has no snapshot export: rebuild it with make wasm');
    }
    return JSON.parse(this.call(() => this.handle.snapshot()));
  }

  call(fn) {
    this.check();
    try { return unwrap(fn()); } catch (err) { throw fromGo(err); }
  }

  /** Stops every request and the Go instance; the engine cannot be used afterwards. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    if (this.lost) return;
    try { unwrap(this.handle.close()); } catch { /* already gone */ }
    try { unwrap(this.go.api.exit()); } catch { /* already gone */ }
  }
}
