// worker.js: the worker side of createEngine({worker: true}).
//
// The page (client.js) starts this module as a dedicated Web Worker; it
// loads the engine here (engine.js), so that downloads, hashing, the Go
// engine's steps and its WebGPU calls never hold up the page's main thread.
// Messages carry plain data only: requests without their AbortSignal (an
// abort message stands in for it), progress events, stream items and errors
// as {code, message}. client.js documents the protocol.

import { createLocalEngine } from './engine.js';
import { toWire } from './error.js';
import { errorCodes } from '../errors.js';

let engine = null;
let loading = null; // AbortController of the load in progress
const requests = new Map(); // id -> AbortController

const post = (m) => self.postMessage(m);

async function create(options) {
  loading = new AbortController();
  try {
    engine = await createLocalEngine({
      ...options,
      signal: loading.signal,
      onProgress: (p) => post({ type: 'progress', progress: p }),
    });
    engine.onlost = (err) => post({ type: 'lost', error: toWire(err) });
    post({ type: 'ready', info: engine.info, model: engine.model });
  } catch (err) {
    post({ type: 'load-error', error: toWire(err) });
  } finally {
    loading = null;
  }
}

async function submit({ id, kind, req }) {
  const ac = new AbortController();
  requests.set(id, ac);
  try {
    req = { ...req, signal: ac.signal };
    if (kind === 'generate') {
      post({ type: 'done', id, value: await engine.generate(req) });
      return;
    }
    if (kind === 'chat' && !req.stream) {
      post({ type: 'done', id, value: await engine.chat.completions.create(req) });
      return;
    }
    const it = kind === 'stream' ? engine.generateStream(req) : await engine.chat.completions.create(req);
    for await (const value of it) post({ type: 'item', id, value });
    post({ type: 'done', id });
  } catch (err) {
    post({ type: 'error', id, error: toWire(err) });
  } finally {
    requests.delete(id);
  }
}

async function call({ id, method, args }) {
  try {
    if (!engine) throw new Error('no engine is loaded');
    const allowed = ['tokenize', 'detokenize', 'stats', 'snapshot', 'close', 'loseDeviceForTesting'];
    if (!allowed.includes(method)) throw new Error(`unknown method ${method}`);
    post({ type: 'reply', id, value: await engine[method](...args) });
  } catch (err) {
    post({ type: 'reply', id, error: toWire(err) });
  }
}

self.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'create': create(m.options); break;
    case 'abort-load': loading?.abort(); break;
    case 'submit':
      if (!engine) post({ type: 'error', id: m.id, error: { code: errorCodes.INTERNAL, message: 'no engine is loaded' } });
      else submit(m);
      break;
    case 'abort': requests.get(m.id)?.abort(); break;
    case 'call': call(m); break;
  }
};
