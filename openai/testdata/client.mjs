// Drives a nano-vllm-go server with OpenAI's official JavaScript SDK and
// prints what the SDK returned as one JSON line, for jsclient_test.go to
// check against the engine. Usage: node client.mjs BASE_URL API_KEY MODEL
import OpenAI from 'openai';

const [, , baseURL, apiKey, model] = process.argv;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }];
const out = {};

out.models = (await client.models.list()).data.map((m) => m.id);

const chat = await client.chat.completions.create({
  model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2,
});
const choice = chat.choices[0];
out.chat = {
  content: choice.message.content,
  role: choice.message.role,
  finish: choice.finish_reason,
  usage: chat.usage,
  logprobs: choice.logprobs.content.map((e) => ({ token: e.token, logprob: e.logprob, top: e.top_logprobs.length })),
};

let content = '';
let finish = null;
let usage = null;
let chunks = 0;
const stream = await client.chat.completions.create({
  model, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    content += c.delta.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
}
out.stream = { content, finish, usage, chunks };

// The SDK's own stream accumulator.
const runner = client.chat.completions.stream({ model, messages, max_tokens: 8, temperature: 0 });
out.helper = (await runner.finalChatCompletion()).choices[0].message.content;

const completion = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
out.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage };

let text = '';
const cstream = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true });
for await (const chunk of cstream) text += chunk.choices[0]?.text ?? '';
out.completionStream = text;

try {
  await client.chat.completions.create({ model, messages, temperature: -1 });
} catch (e) {
  out.badRequest = { status: e.status, param: e.param, type: e.type, name: e.constructor.name };
}

try {
  await new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list();
} catch (e) {
  out.badKey = { status: e.status, code: e.code, name: e.constructor.name };
}

// A client that gives up mid-stream: the SDK ends the iteration quietly.
const ac = new AbortController();
const long = await client.chat.completions.create(
  { model, messages, max_tokens: 400, ignore_eos: true, stream: true },
  { signal: ac.signal },
);
let seen = 0;
try {
  for await (const chunk of long) {
    if (++seen === 3) ac.abort();
  }
  out.abort = { seen };
} catch (e) {
  out.abort = { seen, error: e.constructor.name };
}

console.log(JSON.stringify(out));
