// run.mjs runs a Go test binary compiled to WebAssembly (GOOS=js
// GOARCH=wasm go test -c) in Node, with WebGPU from Dawn (npm's `webgpu`
// package) as navigator.gpu: the WebGPU device's tests and benchmarks on
// a machine with a GPU and no browser. It serves the repository's
// testdata/ over HTTP on 127.0.0.1, as internal/browsertest does, and
// passes its URL in NANOVLLM_TESTDATA_URL.
//
//   node run.mjs --wasm webgpu.test.wasm --wasm-exec wasm_exec.js \
//     --webgpu node_modules/webgpu --testdata ../../testdata -- -test.v ...
//
// It exits with the test binary's status. scripts/gpu-bench.sh drives it.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

function parseArgs(argv) {
  const opts = { dawn: [] };
  const i = argv.indexOf('--');
  const own = i < 0 ? argv : argv.slice(0, i);
  opts.testArgs = i < 0 ? [] : argv.slice(i + 1);
  for (let k = 0; k < own.length; k += 2) {
    const [name, value] = [own[k], own[k + 1]];
    if (value === undefined) throw new Error(`run.mjs: ${name} needs a value`);
    switch (name) {
      case '--wasm': opts.wasm = value; break;
      case '--wasm-exec': opts.wasmExec = value; break;
      case '--webgpu': opts.webgpu = value; break;
      case '--testdata': opts.testdata = value; break;
      case '--dawn': opts.dawn.push(value); break; // a Dawn toggle, e.g. backend=vulkan
      default: throw new Error(`run.mjs: unknown flag ${name}`);
    }
  }
  for (const f of ['wasm', 'wasmExec', 'webgpu', 'testdata']) {
    if (!opts[f]) throw new Error(`run.mjs: --${f.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  }
  return opts;
}

// serve answers GET /<file> under root, refusing paths that leave it.
function serve(root) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.resolve(base, '.' + rel);
    if (!file.startsWith(base + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Length': data.length }).end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { create, globals } = await import(pathToFileURL(path.join(path.resolve(opts.webgpu), 'index.js')).href);
  Object.assign(globalThis, globals);
  const gpu = create(opts.dawn);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });

  // Go's net/http sends requests through fetch, except under a Node whose
  // process.argv0 starts with "node": there it uses a fake in-process
  // network, and the fixtures could not be fetched. argv0 is read-only;
  // start node by its path, or with bash's exec -a (gpu-bench.sh does).
  if (process.argv0.startsWith('node')) {
    throw new Error(`run.mjs: process.argv0 is ${JSON.stringify(process.argv0)}: start node by its full path or with exec -a NAME, so that Go's net/http uses fetch`);
  }

  globalThis.require = require;
  globalThis.fs = fs;
  globalThis.path = path;
  globalThis.crypto ??= crypto.webcrypto;
  require(path.resolve(opts.wasmExec));

  const server = await serve(opts.testdata);
  const url = `http://127.0.0.1:${server.address().port}`;
  const go = new globalThis.Go();
  go.argv = [path.basename(opts.wasm), ...opts.testArgs];
  go.env = { ...process.env, TMPDIR: process.env.TMPDIR || '/tmp', NANOVLLM_TESTDATA_URL: url };
  let code = null;
  go.exit = (c) => { code = c; };
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(opts.wasm), go.importObject);
  process.on('exit', (c) => {
    if (c === 0 && !go.exited) {
      // Node exits when nothing is pending: a Go deadlock. Make Go say so.
      go._pendingEvent = { id: 0 };
      go._resume();
    }
  });
  await go.run(instance);
  server.close();
  process.exit(code ?? 1);
}

main().catch((err) => {
  console.error(err?.stack || String(err));
  process.exit(2);
});
