// client.js: createEngine, and the page's side of an engine in a worker.
//
// With {worker: true} (the default where Worker exists) createEngine starts
// worker.js as a module worker and returns a WorkerEngine, which has the
// Engine's API (engine.js) and forwards every call as a message:
//
//   page -> worker                          worker -> page
//   {create, options}                       {progress, progress} ... {ready, info} or {load-error, error}
//   {abort-load}                            (the load rejects with aborted)
//   {submit, id, kind, req}                 {item, id, value}* then {done, id, value?} or {error, id, error}
//   {abort, id}                             (the request ends with aborted)
//   {call, id, method, args}                {reply, id, value | error}
//                                           {lost, error}: the GPU device is gone
//
// kind is 'generate', 'stream' (generateStream) or 'chat'. An AbortSignal
// cannot cross postMessage, so the page listens to it and sends {abort}.

import { errorCodes } from '../errors.js';
import { NanoVLLMError, fromWire } from './error.js';
import { createLocalEngine } from './engine.js';
import { describeModel } from './model.js';
import { promptOf, chatRequest, iterate } from './openai.js';

/**
 * Loads a model and returns an engine.
 *
 * @param {object} options
 * @param {string} options.model Hugging Face repo id ("Qwen/Qwen3-0.6B"), a
 *   base URL whose <base>/<file> serves config.json, tokenizer.json, ...,
 *   the URL of a .gguf file, or a GGUF repo id with a quantization or file
 *   ("Qwen/Qwen3-0.6B-GGUF:Q8_0", "Org/Name:file.gguf").
 * @param {'webgpu'|'cpu'|'auto'} [options.device='auto'] where the model runs;
 *   'auto' picks WebGPU when an adapter is available, else the CPU.
 * @param {boolean} [options.worker] run the engine in a Web Worker (default:
 *   true where Worker exists), so the page never waits on it.
 * @param {number} [options.kvCacheBytes=256 MiB] memory budget of the paged KV cache.
 * @param {'f32'|'bf16'|'f16'} [options.kvCacheDType='f32'] the type the KV
 *   cache stores keys and values in: a 16-bit one holds twice the tokens in
 *   kvCacheBytes (values rounded to nearest, as on the native CPU device).
 * @param {(p: object) => void} [options.onProgress] called with progress
 *   events; see docs/browser.md.
 * @param {boolean} [options.cache=true] keep verified files in the browser's
 *   storage (OPFS) and load them from there next time.
 * @param {string} [options.revision='main'] Hub revision for repo ids.
 * @param {string} [options.hub='https://huggingface.co'] the Hub's endpoint.
 * @param {AbortSignal} [options.signal] aborts the load.
 * @param {string} [options.wasmURL] where nanovllm.wasm is (default: next to nanovllm.js).
 * @param {object} [options.speculative] speculative decoding, off when left out:
 *   {method: 'ngram', numTokens = 4, promptLookupMin = 1, promptLookupMax = 4}.
 * @returns {Promise<Engine|WorkerEngine>}
 */
export async function createEngine(options = {}) {
  const useWorker = options.worker ?? (typeof Worker !== 'undefined');
  if (!useWorker) return createLocalEngine(options);
  const { onProgress, signal, worker: _, ...rest } = options;
  const device = rest.device || 'auto';
  if (!['webgpu', 'cpu', 'auto'].includes(device)) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `device must be 'webgpu', 'cpu' or 'auto', not ${JSON.stringify(device)}`);
  }
  // A browser without WebGPU has none in its workers either; decide here,
  // where a page (or a test) that hides navigator.gpu is heard.
  if (device !== 'cpu' && typeof navigator !== 'undefined' && !navigator.gpu) {
    if (device === 'webgpu') {
      throw new NanoVLLMError(errorCodes.NO_WEBGPU, 'WebGPU is not available: this browser does not expose WebGPU (navigator.gpu is missing)');
    }
    rest.device = 'cpu';
  }
  const desc = describeModel(rest.model, { revision: rest.revision, hub: rest.hub });
  // The worker resolves URLs against its own location: hand it absolute ones.
  if (!desc.hub) rest.model = desc.gguf?.file ? new URL(rest.model, globalThis.location?.href).href : desc.base;
  rest.wasmURL = new URL(rest.wasmURL || new URL('../nanovllm.wasm', import.meta.url).href, globalThis.location?.href).href;
  if (signal?.aborted) throw new NanoVLLMError(errorCodes.ABORTED, 'loading was aborted');

  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'nanovllm' });
  const engine = new WorkerEngine(worker, options.model);
  return new Promise((resolve, reject) => {
    const onAbort = () => worker.postMessage({ type: 'abort-load' });
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (err) => {
      signal?.removeEventListener('abort', onAbort);
      engine.terminate(err);
      reject(err);
    };
    engine.loading = {
      progress: (p) => { try { onProgress?.(p); } catch (err) { console.error(err); } },
      ready: (info) => {
        signal?.removeEventListener('abort', onAbort);
        engine.info = info;
        engine.loading = null;
        resolve(engine);
      },
      fail,
    };
    worker.postMessage({ type: 'create', options: rest });
  });
}

/** An engine running in a Web Worker: the same API as Engine, every call a message. */
export class WorkerEngine extends EventTarget {
  constructor(worker, model) {
    super();
    this.worker = worker;
    this.model = model;
    /** What was loaded (see Engine.info). */
    this.info = null;
    this.closed = false;
    this.lost = null;
    /** Called with the GPU_LOST error when the GPU device is lost. */
    this.onlost = null;
    this.loading = null;
    this.nextID = 1;
    this.pending = new Map(); // id -> {item, done, error}
    worker.onmessage = ({ data }) => this.receive(data);
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      const err = new NanoVLLMError(errorCodes.CRASHED, `the engine's worker failed: ${ev.message || 'an error'}`);
      if (this.loading) this.loading.fail(err); else this.terminate(err);
    };
    const engine = this;
    /** OpenAI-style chat API: engine.chat.completions.create({messages, stream}). */
    this.chat = { completions: { create: (req) => engine.createChatCompletion(req) } };
  }

  /** The device the engine runs on, e.g. "webgpu (swiftshader)" or "cpu (wasm)". */
  get device() { return this.info?.device; }

  receive(m) {
    switch (m.type) {
      case 'progress': this.loading?.progress(m.progress); return;
      case 'ready': this.loading?.ready(m.info); return;
      case 'load-error': this.loading?.fail(fromWire(m.error)); return;
      case 'lost': this.lose(fromWire(m.error)); return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'item': p.item(m.value); break;
      case 'done': this.pending.delete(m.id); p.done(m.value); break;
      case 'error': this.pending.delete(m.id); p.error(fromWire(m.error)); break;
      case 'reply':
        this.pending.delete(m.id);
        if (m.error) p.error(fromWire(m.error)); else p.done(m.value);
        break;
    }
  }

  lose(err) {
    if (this.lost || this.closed) return;
    this.lost = err;
    this.terminate(err);
    try { this.onlost?.(err); } catch (e) { console.error(e); }
    this.dispatchEvent(Object.assign(new Event('lost'), { error: err }));
  }

  // terminate ends the worker and fails everything still waiting on it.
  terminate(err) {
    this.worker.terminate();
    for (const p of this.pending.values()) p.error(err);
    this.pending.clear();
  }

  check() {
    if (this.lost) throw this.lost;
    if (this.closed) throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'the engine is closed');
  }

  // send starts a request in the worker; its items and end go to a queue
  // that next() reads.
  send(kind, req, signal) {
    this.check();
    const id = this.nextID++;
    const items = [], waiters = [];
    let ended = false, final, failure = null;
    const settle = () => {
      for (const w of waiters.splice(0)) {
        if (items.length) w.resolve({ value: items.shift(), done: false });
        else if (failure) w.reject(failure);
        else w.resolve({ value: undefined, done: true });
      }
    };
    const abort = () => { if (!ended) this.worker.postMessage({ type: 'abort', id }); };
    this.pending.set(id, {
      item: (v) => { items.push(v); settle(); },
      done: (v) => { ended = true; final = v; signal?.removeEventListener('abort', abort); settle(); },
      error: (e) => { ended = true; failure = e; signal?.removeEventListener('abort', abort); settle(); },
    });
    const plain = { ...req };
    delete plain.signal;
    this.worker.postMessage({ type: 'submit', id, kind, req: plain });
    if (signal) {
      if (signal.aborted) abort(); else signal.addEventListener('abort', abort, { once: true });
    }
    const next = () => {
      if (items.length) return Promise.resolve({ value: items.shift(), done: false });
      if (ended) return failure ? Promise.reject(failure) : Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    };
    const result = async () => {
      while (!(await next()).done) { /* a whole result has no items */ }
      return final;
    };
    return { next, abort, result };
  }

  /** See Engine.generate. */
  async generate(req) {
    promptOf(req);
    return this.send('generate', req, req.signal).result();
  }

  /** See Engine.generateStream. */
  generateStream(req) {
    promptOf(req);
    const { next, abort } = this.send('stream', req, req.signal);
    return iterate(next, abort);
  }

  /** See Engine.createChatCompletion. */
  async createChatCompletion(req) {
    chatRequest(req);
    const { next, abort, result } = this.send('chat', req, req.signal);
    if (!req.stream) return result();
    return iterate(next, abort);
  }

  async call(method, ...args) {
    this.check();
    const id = this.nextID++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { item: () => {}, done: resolve, error: reject });
      this.worker.postMessage({ type: 'call', id, method, args });
    });
  }

  /** See Engine.tokenize. */
  tokenize(text) { return this.call('tokenize', String(text)); }

  /** See Engine.detokenize. */
  detokenize(ids) { return this.call('detokenize', Array.from(ids, Number)); }

  /** See Engine.stats. */
  stats() { return this.call('stats'); }

  /** See Engine.snapshot. */
  snapshot() { return this.call('snapshot'); }

  /** See Engine.loseDeviceForTesting. */
  loseDeviceForTesting() { return this.call('loseDeviceForTesting'); }

  /** Stops every request and the worker; the engine cannot be used afterwards. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    if (this.lost) return;
    const id = this.nextID++;
    const closed = new Promise((resolve) => this.pending.set(id, { item: () => {}, done: resolve, error: resolve }));
    this.worker.postMessage({ type: 'call', id, method: 'close', args: [] });
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
    this.terminate(new NanoVLLMError(errorCodes.ABORTED, 'the engine was closed'));
  }
}
