// gguf-choices.js: which weights to load, and what each choice costs,
// before anything large is downloaded (the page's quantization picker).
//
// For a GGUF repository the choices are its .gguf files, one per
// quantization, with their sizes from the file list. For a safetensors
// repository they are the weights as stored (bf16) and createEngine's
// quantize option (q8_0, q4_0): one download, three sizes in memory,
// computed from config.json by the formula of core/qwen3.WeightBytesFor.
// The GPU memory a choice needs is its weights plus the KV cache budget.

import { errorCodes } from '../errors.js';
import { NanoVLLMError } from './error.js';
import { describeModel } from './model.js';
import { Downloader } from './fetch.js';
import { isGGUF, ggufQuant } from './gguf.js';

// Bytes per row of `cols` values in each type (core/quant.RowBytes).
const ROW = {
  f32: (c) => 4 * c,
  bf16: (c) => 2 * c,
  q8_0: (c) => (c / 32) * 34,
  q4_0: (c) => (c / 32) * 18,
};

/**
 * The memory of a Qwen3 config's weights when every 2-D weight is stored
 * as dtype ('bf16', 'q8_0', 'q4_0' or 'f32') and the norms as float32
 * (bf16 for 'bf16'): core/qwen3.WeightBytesFor (a Go test holds the two
 * together). cfg is config.json, parsed.
 */
export function weightBytesFor(cfg, dtype) {
  const row = ROW[dtype];
  if (!row) throw new NanoVLLMError(errorCodes.BAD_REQUEST, `no weight size for dtype ${JSON.stringify(dtype)}`);
  const H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
  const heads = cfg.num_attention_heads, kvHeads = cfg.num_key_value_heads ?? heads;
  const hd = cfg.head_dim ?? H / heads;
  const L = cfg.num_hidden_layers;
  if (![H, I, V, heads, kvHeads, hd, L].every((x) => Number.isSafeInteger(x) && x > 0)) {
    throw new NanoVLLMError(errorCodes.BAD_MODEL, 'config.json lacks the sizes of a Qwen3 model');
  }
  const q = heads * hd, kv = kvHeads * hd;
  const bytes = (rows, cols) => {
    if (dtype.startsWith('q') && cols % 32 !== 0) throw new NanoVLLMError(errorCodes.BAD_MODEL, `rows of ${cols} values are not whole ${dtype} blocks`);
    return rows * row(cols);
  };
  let total = bytes(V, H) * (cfg.tie_word_embeddings === false ? 2 : 1);
  let layer = bytes(q, H) + 2 * bytes(kv, H) + bytes(H, q) + 2 * bytes(I, H) + bytes(H, I);
  const norm = dtype === 'bf16' ? 2 : 4;
  layer += norm * (2 * H + 2 * hd);
  return total + L * layer + norm * H;
}

// GGUF quantizations that keep a model's quality (see docs/browser.md):
// 8 bits or more, and Q6_K.
const KEEPS_QUALITY = ['Q8_0', 'Q6_K', 'BF16', 'F16', 'F32'];

/**
 * The choices of weights for a model and the default one:
 * {kind: 'gguf'|'safetensors', choices: [{value, label, downloadBytes,
 * weightBytes, gpuBytes}], defaultValue, why}. value is what createEngine
 * takes: a GGUF file name (load it as model `${repo}:${file}`, or the URL
 * of the file), or for safetensors '' (as stored), 'q8_0' or 'q4_0'.
 * downloadBytes is null where the server gives no file list. Resolves
 * with null for a model whose files cannot be listed.
 */
export async function describeChoices(model, { hub, revision = 'main', kvCacheBytes = 256 << 20, signal } = {}) {
  const desc = describeModel(model, { revision, hub });
  const dl = new Downloader({ base: desc.base, hub: desc.hub, store: null, signal, retryDelay: 200 });
  if (desc.gguf?.file) {
    await dl.fetchList().catch(() => {});
    const size = dl.expected(desc.gguf.file)?.size ?? null;
    const c = ggufChoice(desc.gguf.file, size, kvCacheBytes);
    return { kind: 'gguf', choices: [c], defaultValue: c.value, why: 'the file the URL names' };
  }
  await dl.fetchList();
  const names = dl.list ? [...dl.list.keys()] : [];
  const ggufs = names.filter(isGGUF);
  if (desc.gguf || (ggufs.length > 0 && !dl.has('config.json'))) {
    if (ggufs.length === 0) throw new NanoVLLMError(errorCodes.NOT_FOUND, `${model}: the repository has no .gguf file`);
    const choices = ggufs.sort().map((f) => ggufChoice(f, dl.expected(f)?.size ?? null, kvCacheBytes));
    const { value, why } = defaultGGUF(choices);
    return { kind: 'gguf', choices, defaultValue: value, why };
  }
  let cfg;
  try {
    const bytes = await dl.bytes('config.json');
    cfg = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    if (err instanceof NanoVLLMError) throw err;
    throw new NanoVLLMError(errorCodes.BAD_MODEL, `config.json is not JSON: ${err.message}`);
  }
  let download = null;
  if (dl.list) {
    download = 0;
    for (const n of names) {
      if (n.endsWith('.safetensors') || ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json'].includes(n)) {
        download += dl.expected(n)?.size ?? 0;
      }
    }
  }
  const choices = [['', 'bf16', 'bf16 (as stored)'], ['q8_0', 'q8_0', 'Q8_0, quantized on load'], ['q4_0', 'q4_0', 'Q4_0, quantized on load']]
    .map(([value, dtype, label]) => {
      const weightBytes = weightBytesFor(cfg, dtype);
      return { value, label, downloadBytes: download, weightBytes, gpuBytes: weightBytes + kvCacheBytes };
    });
  return {
    kind: 'safetensors', choices, defaultValue: 'q8_0',
    why: 'Q8_0 halves the weights\' memory and keeps the model\'s quality; Q4_0 noticeably hurts small models',
  };
}

function ggufChoice(file, size, kvCacheBytes) {
  const quant = ggufQuant(file);
  // A GGUF's tensors are nearly all of it (the header, mostly the
  // tokenizer, is a few MB): the file size stands for the weights.
  return {
    value: file, label: quant ? `${quant} (${file})` : file, quant,
    downloadBytes: size, weightBytes: size, gpuBytes: size === null ? null : size + kvCacheBytes,
  };
}

// defaultGGUF: Q8_0 when the repository has it, else the smallest file of
// a type that keeps quality, else the largest file.
function defaultGGUF(choices) {
  const q8 = choices.find((c) => c.quant === 'Q8_0');
  if (q8) return { value: q8.value, why: 'Q8_0 keeps the model\'s quality at about half the memory of bf16; Q4_0 noticeably hurts small models' };
  const size = (c) => c.downloadBytes ?? Infinity;
  const good = choices.filter((c) => KEEPS_QUALITY.includes(c.quant)).sort((a, b) => size(a) - size(b));
  if (good.length) return { value: good[0].value, why: `the smallest file of 6 bits or more (${good[0].quant}): no Q8_0 here` };
  const big = [...choices].sort((a, b) => size(b) - size(a))[0];
  return { value: big.value, why: 'the largest file: none here has 6 bits or more' };
}
