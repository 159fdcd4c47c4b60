// model.js: where a model's files are. A Hugging Face repo id maps to the
// Hub's URLs (its tree API for the file list, resolve URLs for the files);
// anything that looks like a URL or a path is a folder of files.

import { errorCodes } from '../errors.js';
import { NanoVLLMError } from './error.js';

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Where repo ids are looked up unless createEngine's hub option says otherwise. */
export const HUB = 'https://huggingface.co';

/**
 * Turns a model name into the base URL its files live under: a Hugging Face
 * repo id ("Qwen/Qwen3-0.6B") maps to the Hub's resolve URLs, anything that
 * looks like a URL or a path is used as it is.
 */
export function resolveModelURL(model, { revision = 'main', hub = HUB } = {}) {
  return describeModel(model, { revision, hub }).base;
}

/**
 * {base, hub, key, gguf} of a model: its files' base URL, {endpoint, repo,
 * revision} for a Hub repo (else null), the key it is cached under, and
 * what it says of a GGUF file: {file} for the URL of a .gguf file, {selector}
 * for a repo id with a quantization or file name ("Org/Name:Q8_0",
 * "Org/Name:file.gguf"), else null. A repo id may carry its revision too
 * ("Org/Name@rev:Q8_0" or "Org/Name:Q8_0@rev"), as on the command line
 * (core/hub.ParseModelRef).
 */
export function describeModel(model, { revision = 'main', hub = HUB } = {}) {
  if (typeof model !== 'string' || model.trim() === '') {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'model must be a Hugging Face repo id (e.g. "Qwen/Qwen3-0.6B") or a URL');
  }
  model = model.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(model) || model.startsWith('/') || model.startsWith('.')) {
    const url = new URL(model, globalThis.location?.href);
    if (/\.gguf$/i.test(url.pathname)) {
      // The URL of one GGUF file: its folder is the base (where a
      // server's file list would be), the file is loaded by name.
      const file = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
      const base = new URL('./', url).href;
      return { base, hub: null, key: base, gguf: { file } };
    }
    const base = new URL(model.replace(/\/+$/, '') + '/', globalThis.location?.href).href;
    return { base, hub: null, key: base, gguf: null };
  }
  const ref = parseModelRef(model);
  if (REPO_ID.test(ref.repo)) {
    const endpoint = String(hub || HUB).replace(/\/+$/, '');
    const rev = ref.revision || revision;
    return {
      base: `${endpoint}/${ref.repo}/resolve/${encodeURIComponent(rev)}/`,
      hub: { endpoint, repo: ref.repo, revision: rev },
      key: `${endpoint === HUB ? '' : endpoint + ' '}${ref.repo}@${rev}`,
      gguf: ref.selector !== '' ? { selector: ref.selector } : null,
    };
  }
  throw new NanoVLLMError(errorCodes.BAD_REQUEST,
    `model ${JSON.stringify(model)} is neither a Hugging Face repo id like "Qwen/Qwen3-0.6B" nor a URL`);
}


/**
 * Splits "Org/Name[:SELECTOR][@REVISION]" (or "Org/Name@REVISION:SELECTOR")
 * into {repo, revision, selector} ("" when absent), by the rules of
 * core/hub.ParseModelRef.
 */
export function parseModelRef(model) {
  let [left, revision] = cut(model, '@');
  let selector = '';
  const [r, s, ok] = cut(revision, ':');
  if (ok) { revision = r; selector = s; }
  const [l, s2, ok2] = cut(left, ':');
  if (ok2) { left = l; selector = s2; }
  return { repo: left, revision, selector };
}

function cut(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s, '', false] : [s.slice(0, i), s.slice(i + sep.length), true];
}
