// Package tokenizer turns text into Qwen3 token ids and back, in pure Go.
//
// It reads a Hugging Face tokenizer.json (byte-level BPE, the format every
// Qwen2/Qwen2.5/Qwen3 model ships) and the tokenizer_config.json next to it,
// and reproduces the Rust tokenizers library's pipeline exactly:
//
//  1. added tokens (<|im_start|>, <think>, ...) are cut out of the raw text
//     first, so a literal "<|im_end|>" in user text becomes its id;
//  2. the text between them is NFC-normalised;
//  3. a hand-written scanner splits it the way Qwen's pre-tokenizer regex
//     does (including the \s+(?!\S) lookahead Go's regexp cannot express);
//  4. each piece's UTF-8 bytes are mapped to GPT-2's printable byte alphabet
//     and merged by byte-pair encoding, lowest merge rank first.
//
// Decoding maps tokens back to bytes and turns invalid UTF-8 into U+FFFD the
// way Rust's String::from_utf8_lossy does; [StreamDecoder] yields text
// deltas during generation without ever splitting a character.
//
// [Tokenizer.ApplyChatTemplate] renders the model's Jinja chat template.
//
// Everything here compiles to GOOS=js GOARCH=wasm: the browser demo fetches
// the two JSON files and calls [LoadFiles].
package tokenizer
