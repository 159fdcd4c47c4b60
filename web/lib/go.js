// go.js: starting the Go engine (web/nanovllm.wasm, run by Go's own
// web/wasm_exec.js) and calling into it.
//
// Every function Go exports returns {v: value} or {e: Error}: Go cannot throw
// into JavaScript. unwrap turns that back into a value or a throw, and
// callGo also notices when the instance died (a panic, out of memory).

import { errorCodes } from '../errors.js';
import { NanoVLLMError, fromGo } from './error.js';

let goRuntime = null; // Promise of {Go, module}: compiled once per page or worker.
let consoleTail = ''; // recent output of Go programs, kept for crash reports
let lastFatal = ''; // the last "fatal error:" or "panic:" line Go printed

function loadGoRuntime(wasmURL) {
  if (goRuntime) return goRuntime;
  goRuntime = (async () => {
    if (!globalThis.Go) {
      // wasm_exec.js is a classic script that defines globalThis.Go; importing
      // it as a module runs it just the same.
      try {
        await import(new URL('../wasm_exec.js', import.meta.url).href);
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

/**
 * Runs a fresh Go instance and resolves with {api, instance, state, exited}:
 * the API object its main function hands back. Each engine gets its own
 * instance, so disposing an engine gives its whole wasm memory back.
 */
export async function startGo(wasmURL) {
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

/** The error for a Go instance that died, with the cause it printed. */
export function goCrash(what) {
  const cause = lastFatal || consoleTail.trim().split('\n').slice(-1)[0] || '';
  const oom = /out of memory|cannot allocate memory/i.test(cause);
  return new NanoVLLMError(oom ? errorCodes.OUT_OF_MEMORY : errorCodes.CRASHED, cause ? `${what}: ${cause}` : what);
}

/** Turns Go's {v} or {e} answer into a value or a throw. */
export function unwrap(r) {
  if (r && r.e) throw fromGo(r.e);
  return r ? r.v : undefined;
}

/**
 * Calls into the Go instance and awaits the result (Go's asynchronous
 * functions return a Promise as their value), turning failures, including
 * the instance having died (e.g. out of memory), into NanoVLLMErrors.
 */
export async function callGo(go, fn) {
  if (go.state.exited) throw goCrash('the engine is no longer running');
  try {
    const died = go.exited.then(() => { throw goCrash('the engine stopped'); });
    return await Promise.race([Promise.resolve().then(() => unwrap(fn())), died]);
  } catch (err) {
    if (go.state.exited) throw goCrash('the engine stopped');
    throw fromGo(err);
  }
}
