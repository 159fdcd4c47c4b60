// gguf.js: GGUF files, llama.cpp's single-file format, in the browser.
//
// A GGUF file is a header (metadata, the tokenizer, the tensor list) and
// then the tensors. The file streams once, front to back, like a
// safetensors shard (checkpoint.js): its first bytes are handed to Go until
// Go can parse the header from them (gguf.ParsePrefix; Go asks for more,
// doubling, while the header runs on), and Go answers with a plan that
// routes the rest of the stream straight into GPU buffers (WebGPU) or into
// one wasm-memory slice (the CPU device). Only the header, about 6 MB for a
// Qwen3 model, enters the Go heap on WebGPU.

import { errorCodes } from '../errors.js';
import { NanoVLLMError } from './error.js';
import { callGo, unwrap } from './go.js';
import { ShardWriter } from './checkpoint.js';

/** Whether a file name ends in .gguf, any case (core/hub.IsGGUF). */
export function isGGUF(name) {
  return typeof name === 'string' && /\.gguf$/i.test(name);
}

const SPLIT_GGUF = /-\d{5}-of-\d{5}\.gguf$/;

const basename = (p) => p.slice(p.lastIndexOf('/') + 1);

/**
 * Picks the GGUF file a selector names among a repository's files, by the
 * rules of core/hub.SelectGGUF (a Go test holds the two together): an empty
 * selector wants the only .gguf file; one ending in .gguf names a file (by
 * path or base name); anything else is a quantization, matched
 * case-insensitively against the file names, first as a whole word
 * (between '-' or '.' and the extension, so "Q4_K" is not "Q4_K_M"), then
 * as any substring. None or several matches throw NOT_FOUND or
 * BAD_REQUEST listing the candidates.
 */
export function selectGGUF(files, selector = '') {
  const ggufs = files.filter(isGGUF).sort();
  const list = ggufs.length === 0 ? 'the repository has no .gguf file' : `its .gguf files: ${ggufs.join(', ')}`;
  let matches = [];
  if (selector === '') {
    matches = ggufs;
    if (matches.length > 1) {
      throw new NanoVLLMError(errorCodes.BAD_REQUEST, `several GGUF files match: pick one with Org/Name:QUANT or Org/Name:FILE.gguf; ${list}`);
    }
  } else if (isGGUF(selector)) {
    matches = ggufs.filter((f) => f === selector || basename(f) === selector);
  } else {
    const esc = selector.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const word = new RegExp(`(^|[-.])${esc}\\.gguf$`, 'i');
    matches = ggufs.filter((f) => word.test(basename(f)));
    if (matches.length === 0) {
      matches = ggufs.filter((f) => basename(f).toLowerCase().includes(selector.toLowerCase()));
    }
  }
  if (matches.length === 0) {
    throw new NanoVLLMError(errorCodes.NOT_FOUND, selector === ''
      ? `no matching GGUF file: ${list}` : `no matching GGUF file for ${JSON.stringify(selector)}: ${list}`);
  }
  if (matches.length > 1) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, `several GGUF files match ${JSON.stringify(selector)}: ${matches.join(', ')}`);
  }
  if (SPLIT_GGUF.test(matches[0])) {
    throw new NanoVLLMError(errorCodes.BAD_MODEL, `${matches[0]} is one shard of a split GGUF, which is not supported (merge the shards with llama-gguf-split --merge)`);
  }
  return matches[0];
}

/**
 * The quantization a GGUF file name states ("Qwen3-0.6B-Q8_0.gguf" ->
 * "Q8_0"), or "" when its name does not say.
 */
export function ggufQuant(name) {
  const m = /[-.]((?:I?Q\d+_[A-Z0-9_]+)|(?:B?F(?:16|32))|(?:BF16))\.gguf$/i.exec(basename(name));
  return m ? m[1].toUpperCase() : '';
}

/**
 * Streams one GGUF file from the downloader into the loader (a Go loader
 * from newGGUFLoader). load counts {weightBytes, goCalls}. Resolves with
 * the plan's {tokenizer}: whether the engine got a tokenizer.
 */
export async function streamGGUF(go, loader, downloader, name, memory, load) {
  const size = downloader.expected(name)?.size ?? -1;
  let pending = []; // chunks that arrived before the plan, copied
  let have = 0;
  let want = size >= 0 ? Math.min(1 << 20, size) : 1 << 20;
  let writer = null;
  let plan = null;
  const prefix = (n) => {
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of pending) {
      if (off >= n) break;
      const part = p.chunk.subarray(0, Math.min(p.chunk.byteLength, n - off));
      out.set(part, off);
      off += part.byteLength;
    }
    return out;
  };
  const tryPlan = async (total) => {
    while (!writer && have >= want) {
      const p = await callGo(go, () => loader.planGGUF(name, prefix(want), total));
      if (p.need !== undefined) {
        const need = Number(p.need);
        if (!(need > want)) throw new NanoVLLMError(errorCodes.INTERNAL, `planGGUF asked for ${need} bytes after ${want}`);
        want = need;
        continue;
      }
      plan = p;
      writer = new ShardWriter(p, memory, (i, part) => { load.goCalls++; unwrap(loader.write(i, part)); });
      for (const c of pending) writer.push(c.chunk, c.offset);
      pending = null;
    }
  };
  const onChunk = async (chunk, offset) => {
    if (writer) return writer.push(chunk, offset);
    pending.push({ chunk: chunk.slice(), offset });
    have += chunk.byteLength;
    await tryPlan(size);
  };
  const n = await downloader.stream(name, { required: true, onChunk });
  load.weightBytes += n;
  if (!writer) {
    // The file ended before the header did, or before the first try: parse
    // what there is, now that its length is known.
    want = n;
    await tryPlan(n);
    if (!writer) throw new NanoVLLMError(errorCodes.BAD_MODEL, `${name} is ${n} bytes, too short for its GGUF header`);
  }
  writer.finish(name);
  await callGo(go, () => loader.ggufDone(n));
  return { tokenizer: !!plan.tokenizer };
}
