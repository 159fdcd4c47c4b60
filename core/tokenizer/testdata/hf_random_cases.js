// Generates hf_random_cases.json: random strings and random id sequences,
// encoded and decoded by Hugging Face's Rust tokenizer (npm package
// tokenizers@0.23.2, its Node binding). They widen the fixtures' hand-picked
// cases with combinations nobody thought of: every kind of white space,
// contractions in odd cases, letters, marks, digits of many scripts,
// emoji sequences, partial and complete special tokens; and for decoding,
// lone bytes, torn characters, added and unknown ids in any order.
//
//   (cd /tmp/hf && npm install tokenizers@0.23.2)
//   NODE_PATH=/tmp/hf/node_modules node hf_random_cases.js \
//       ../../../testdata/qwen3-tokenizer/tokenizer.json > hf_random_cases.json
const { Tokenizer } = require('tokenizers');
const tok = Tokenizer.fromFile(process.argv[2]);
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pools = [
  " ", "  ", "\t", "\n", "\r\n", "\r", "\u000b", "\u000c", "\u0085", "\u00a0", "\u1680", "\u2000", "\u2009", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u180e", "\u001c",
  "'", "'s", "'S", "'\u017f", "'re", "'RE", "'ll", "'Ll", "'d", "'m", "'t", "'ve", "\u2019s",
  "a", "Z", "é", "e\u0301", "ß", "ſ", "K", "\u212a", "İ", "ǅ", "ʰ", "你", "好", "こ", "ン", "ｶ", "한", "\u1100\u1161", "ا", "ب", "\u064e", "א", "क", "\u093c", "ก", "\u0e31", "Ж", "Ω",
  "0", "7", "٣", "५", "Ⅷ", "²", "½", "௰", "𝟘", "１",
  ".", ",", "!", "?", "-", "_", "(", ")", "{", "}", "$", "#", "@", "/", "\\", "\"", "`", "~", "+", "=", "<", ">", "|", "…", "—", "“", "。", "，",
  "😀", "👨‍👩‍👧", "🏳️‍🌈", "🇯🇵", "1️⃣", "\ufe0f", "\u200d", "\ue000", "\uffff", "\ufffd", "\u0000", "\u001b[31m",
  "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|im_", "<|", "|>", "<thi",
  "hello", " world", "The", "don", "ing", "http://x.y/z?a=1", "foo_bar", "x=1;", "    ", "\n\n\n", " \n ", "\t\t",
];
const pick = (a) => a[Math.floor(rnd() * a.length)];
const opts = { addSpecialTokens: false };
(async () => {
  const encode = [];
  for (let i = 0; i < 1000; i++) {
    let text = '';
    for (let n = 1 + Math.floor(rnd() * 24); n > 0; n--) text += pick(pools);
    const ids = (await tok.encode(text, null, opts)).getIds();
    encode.push({ text, ids });
  }
  const decode = [];
  for (let i = 0; i < 1000; i++) {
    const ids = [];
    for (let n = 1 + Math.floor(rnd() * 12); n > 0; n--) {
      const r = rnd();
      if (r < 0.5) ids.push(Math.floor(rnd() * 256)); // single-byte tokens
      else if (r < 0.75) ids.push(151643 + Math.floor(rnd() * 26)); // added tokens
      else if (r < 0.8) ids.push(151669 + Math.floor(rnd() * 267)); // not in the tokenizer
      else ids.push(Math.floor(rnd() * 151643));
    }
    decode.push({ ids, decoded: await tok.decode(ids, false), decoded_skip_special: await tok.decode(ids, true) });
  }
  const line = (o) => JSON.stringify(o);
  process.stdout.write('{"encode": [\n' + encode.map(line).join(',\n') + '\n],\n"decode": [\n' + decode.map(line).join(',\n') + '\n]}\n');
})();
