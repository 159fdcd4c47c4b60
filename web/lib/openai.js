// openai.js: OpenAI's shapes over the engine's requests: the request keys
// the engine takes, and chat.completions.create's replies and chunks.

import { errorCodes } from '../errors.js';
import { NanoVLLMError } from './error.js';

const SAMPLING_KEYS = ['max_tokens', 'min_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'seed', 'ignore_eos',
  'stop', 'stop_token_ids', 'include_stop_str_in_output', 'repetition_penalty', 'presence_penalty', 'frequency_penalty',
  'logprobs'];

/** The engine request for req's sampling keys plus extra (the prompt). */
export function buildRequest(req, extra) {
  if (!req || typeof req !== 'object') throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'a request object is required');
  const out = {};
  for (const k of SAMPLING_KEYS) if (req[k] !== undefined && req[k] !== null) out[k] = req[k];
  Object.assign(out, extra);
  return out;
}

/** {prompt} or {prompt_ids} of a completion request; exactly one is allowed. */
export function promptOf(req) {
  if (!req || typeof req !== 'object') throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'a request object is required');
  const hasText = typeof req.prompt === 'string';
  const hasIds = req.prompt_ids !== undefined && req.prompt_ids !== null;
  if (hasText === hasIds) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'give exactly one of prompt (text) and prompt_ids (token ids)');
  }
  return hasText ? { prompt: req.prompt } : { prompt_ids: Array.from(req.prompt_ids, Number) };
}

/** The engine request of a chat completion request. */
export function chatRequest(req) {
  if (!req || !Array.isArray(req.messages) || req.messages.length === 0) {
    throw new NanoVLLMError(errorCodes.BAD_REQUEST, 'messages must be a non-empty array of {role, content}');
  }
  const chat = { messages: req.messages };
  if (req.enable_thinking !== undefined) chat.enable_thinking = !!req.enable_thinking;
  const request = buildRequest(req, { chat });
  if (request.max_tokens === undefined && req.max_completion_tokens !== undefined) {
    request.max_tokens = req.max_completion_tokens;
  }
  return request;
}

/** The id, creation time and model every reply and chunk of one completion share. */
export function completionBase(model) {
  return { id: `chatcmpl-${Math.random().toString(36).slice(2, 14)}`, created: Math.floor(Date.now() / 1000), model };
}

/** The non-streamed reply for the engine's final result r. */
export function chatCompletion(base, r) {
  return {
    ...base,
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finish_reason }],
    usage: r.usage,
  };
}

/** A function turning the engine's step events into chat.completion.chunks. */
export function chunker(base) {
  let first = true;
  return (ev) => {
    const delta = {};
    if (first) { delta.role = 'assistant'; first = false; }
    if (ev.text || !ev.finish_reason) delta.content = ev.text || '';
    return {
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: ev.finish_reason || null }],
      ...(ev.finish_reason ? { usage: ev.usage } : {}),
    };
  };
}

/** Wraps a {next, abort} source as an async iterable; leaving the loop early aborts. */
export function iterate(next, abort, map = (x) => x) {
  return {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      const r = await next();
      return r.done ? r : { value: map(r.value), done: false };
    },
    async return() {
      abort();
      return { value: undefined, done: true };
    },
  };
}
