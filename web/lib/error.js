// error.js: NanoVLLMError, the one error type the library throws, and its
// trip across the worker boundary (structured clone keeps an Error's message
// but drops its own properties, so the code travels beside it).

import { errorCodes } from '../errors.js';

/**
 * An error from nano-vllm-go. `code` says what kind, so a page can explain it:
 * one of errorCodes (errorCodes.NO_WEBGPU, errorCodes.NOT_FOUND, ...; see
 * web/errors.js).
 */
export class NanoVLLMError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'NanoVLLMError';
    this.code = code;
  }
}

/** Errors from Go arrive as JavaScript Errors whose `code` the Go side sets. */
export function fromGo(err) {
  if (err instanceof NanoVLLMError) return err;
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    return new NanoVLLMError(err.code, err.message);
  }
  return new NanoVLLMError(errorCodes.INTERNAL, String((err && err.message) || err));
}

/** A plain object that survives postMessage. */
export function toWire(err) {
  const e = fromGo(err);
  return { code: e.code, message: e.message };
}

/** The NanoVLLMError a toWire object stands for. */
export function fromWire(w) {
  return new NanoVLLMError(w?.code || errorCodes.INTERNAL, w?.message || 'unknown error');
}

/** The error every aborted load or request ends with. */
export function aborted(what, cause) {
  return new NanoVLLMError(errorCodes.ABORTED, `${what} was aborted`, cause ? { cause } : undefined);
}
