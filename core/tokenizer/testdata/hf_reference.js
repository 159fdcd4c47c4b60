// Encodes the benchmark text with Hugging Face's own tokenizer (the Rust
// `tokenizers` crate through its Node binding, npm package tokenizers@0.23.2)
// and times it, for TestAgainstHFDump and for a same-machine speed baseline.
//
//   (cd /tmp/hf && npm install tokenizers@0.23.2)
//   NODE_PATH=/tmp/hf/node_modules node core/tokenizer/testdata/hf_reference.js \
//       testdata/qwen3-tokenizer /tmp/hfdump
//   NANOVLLM_HF_DUMP=/tmp/hfdump go test -run AgainstHFDump -v ./core/tokenizer
//
// The text is built exactly as benchText in bench_test.go builds it: every
// case text of cases.json followed by "\n", repeated until it reaches 2 MiB.
// OUTDIR receives text.txt, ids.json (the whole text encoded at once),
// chunks.json and chunk_ids.json (the text cut after a newline into pieces
// of at least 4 KiB, each encoded on its own) and timing.json.
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const path = require('path');

const [dir, out] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e6;

let t0 = now();
const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
const loadMs = now() - t0;

const cases = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8'));
const parts = [];
let bytes = 0;
while (bytes < 2 << 20) {
  for (const c of cases) {
    parts.push(c.text, '\n');
    bytes += Buffer.byteLength(c.text) + 1;
  }
}
const text = parts.join('');
const chunks = [];
let cur = '';
for (const line of text.split(/(?<=\n)/)) {
  cur += line;
  if (Buffer.byteLength(cur) >= 4096) {
    chunks.push(cur);
    cur = '';
  }
}
if (cur) chunks.push(cur);

const opts = { addSpecialTokens: false };
(async () => {
  let whole;
  const wholeMs = [];
  for (let r = 0; r < 3; r++) {
    t0 = now();
    whole = await tok.encode(text, null, opts);
    wholeMs.push(now() - t0);
  }
  let chunkIds;
  const chunkMs = [];
  for (let r = 0; r < 3; r++) {
    t0 = now();
    chunkIds = [];
    for (const c of chunks) chunkIds.push((await tok.encode(c, null, opts)).getIds());
    chunkMs.push(now() - t0);
  }
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'text.txt'), text);
  fs.writeFileSync(path.join(out, 'ids.json'), JSON.stringify(whole.getIds()));
  fs.writeFileSync(path.join(out, 'chunks.json'), JSON.stringify(chunks));
  fs.writeFileSync(path.join(out, 'chunk_ids.json'), JSON.stringify(chunkIds));
  const timing = {
    loadMs,
    bytes: Buffer.byteLength(text),
    wholeMsMin: Math.min(...wholeMs),
    chunksMsMin: Math.min(...chunkMs),
  };
  fs.writeFileSync(path.join(out, 'timing.json'), JSON.stringify(timing));
  console.log(JSON.stringify(timing));
})();
