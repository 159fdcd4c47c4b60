// nanovllm.js: nano-vllm-go in the browser.
//
// This ES module starts the Go engine compiled to WebAssembly (web/nanovllm.wasm,
// run by Go's own web/wasm_exec.js), by default in a Web Worker, and exposes
// it as a small JavaScript API:
//
//   import { createEngine } from './web/nanovllm.js';
//   const engine = await createEngine({ model: 'Qwen/Qwen3-0.6B', device: 'webgpu' });
//   const { text } = await engine.generate({ prompt: 'Hello', max_tokens: 32 });
//   for await (const d of engine.generateStream({ prompt: 'Hi' })) console.log(d.text);
//   const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] });
//
// It is the entry point only; the library is in web/lib/, one module per
// concern:
//
//   client.js      createEngine, and the page's side of an engine in a worker
//   worker.js      the worker's side: loads and runs the engine there
//   engine.js      loading a model into Go, and the Engine class
//   model.js       repo ids and URLs: where a model's files are
//   fetch.js       downloads: file lists, retries, Range resumes, verification
//   store.js       the model cache in OPFS, and its management API
//   sha256.js      incremental SHA-256; checksum.js, the cache's fast check
//   checkpoint.js  streaming safetensors bytes into wasm memory or GPU buffers
//   gguf.js        GGUF files: picking one in a repo, streaming it likewise
//   gguf-choices.js which weights to load and what each costs (the page's picker)
//   go.js          starting the Go program and calling into it
//   openai.js      OpenAI-shaped requests, replies and chunks
//   error.js       NanoVLLMError (codes from web/errors.js, generated from Go)
//
// docs/browser.md tells the whole story; nanovllm.d.ts has the types.

import { errorCodes } from './errors.js';

export { errorCodes };
export { NanoVLLMError } from './lib/error.js';
export { createEngine, WorkerEngine } from './lib/client.js';
export { Engine, detectWebGPU } from './lib/engine.js';
export { resolveModelURL, describeModel } from './lib/model.js';
export { describeChoices, weightBytesFor } from './lib/gguf-choices.js';
export { listCachedModels, deleteCachedModel, storageEstimate, requestPersistentStorage } from './lib/store.js';

/**
 * The model the server wants the page to load, or null: the content of
 * <meta name="nanovllm-default-model">, which `nanovllm serve --model` puts
 * into index.html, as an absolute URL.
 */
export function defaultModel() {
  if (typeof document === 'undefined') return null;
  const v = document.querySelector('meta[name="nanovllm-default-model"]')?.getAttribute('content');
  if (!v) return null;
  try { return new URL(v, document.baseURI).href; } catch { return null; }
}
