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
 * {base, hub, key} of a model: its files' base URL, {endpoint, repo,
 * revision} for a Hub repo (else null), and the key it is cached under.
 */
export function describeModel(model, { revision = 'main', hub = HUB } = {}) {
  if (typeof model !== 'string' || model.trim() === '') {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'model must be a Hugging Face repo id (e.g. "Qwen/Qwen3-0.6B") or a URL');
  }
  model = model.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(model) || model.startsWith('/') || model.startsWith('.')) {
    const base = new URL(model.replace(/\/+$/, '') + '/', globalThis.location?.href).href;
    return { base, hub: null, key: base };
  }
  if (REPO_ID.test(model)) {
    const endpoint = String(hub || HUB).replace(/\/+$/, '');
    return {
      base: `${endpoint}/${model}/resolve/${encodeURIComponent(revision)}/`,
      hub: { endpoint, repo: model, revision },
      key: `${endpoint === HUB ? '' : endpoint + ' '}${model}@${revision}`,
    };
  }
  throw new NanoVLLMError(errorCodes.BAD_REQUEST,
    `model ${JSON.stringify(model)} is neither a Hugging Face repo id like "Qwen/Qwen3-0.6B" nor a URL`);
}

