#!/usr/bin/env bash
# nanovllm against llama.cpp on the very same GGUF files, in one window:
# for each round and each file, `nanovllm bench` (f16 KV cache, as
# llama.cpp's), llama.cpp through ../shared/tools/llamacpp-bench/run.sh, and
# `nanovllm bench --precision bf16`, alternated; then the medians and ratios.
#
#   scripts/bench-llamacpp.sh [OUT_DIR] [ROUNDS]
#   FORMATS="q4_k" scripts/bench-llamacpp.sh [OUT_DIR] [ROUNDS]   # default: q8_0 q4_0
#
# The files are made once with
#   ../shared/tools/llamacpp-bench/run.sh gguf q8_0 /tmp/qwen3-0.6b-random-q8_0.gguf   # and q4_0
# and the Q4_K one (all Q4_K, as llama-quantize --pure Q4_K_S) from the bf16 one:
#   ../shared/tools/llamacpp-bench/run.sh gguf bf16 /tmp/qwen3-0.6b-random-bf16.gguf
#   nanovllm quantize --model /tmp/qwen3-0.6b-random-bf16.gguf --type q4_k --out /tmp/qwen3-0.6b-random-q4_k.gguf
# llama.cpp's threads busy-wait: run it with nothing else on the machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/bench-llamacpp}
rounds=${2:-3}
formats=${FORMATS:-q8_0 q4_0}
llama=${LLAMACPP_BENCH:-$root/../shared/tools/llamacpp-bench/run.sh}
mkdir -p "$out"
go build -o "$out/nanovllm" "$root/cmd/nanovllm"
for r in $(seq 1 "$rounds"); do
  for f in $formats; do
    g=/tmp/qwen3-0.6b-random-$f.gguf
    "$out/nanovllm" bench --model "$g" --threads 2 --json --kv-cache-dtype f16 >"$out/ours-$f-$r.json" 2>/dev/null
    "$llama" bench --model "$g" --threads 2 >"$out/llama-$f-$r.json" 2>/dev/null
    "$out/nanovllm" bench --model "$g" --threads 2 --json --kv-cache-dtype f16 --precision bf16 >"$out/oursbf-$f-$r.json" 2>/dev/null
  done
done
python3 - "$out" "$rounds" $formats <<'PY'
import json, statistics, sys
out, rounds, formats = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
keys = ['1', '16', '64', 'prefill']
def get(r, k):
    return r['prefill_tokens_per_s'] if k == 'prefill' else r['decode_tokens_per_s'][k]
for f in formats:
    med = {}
    for who in ['llama', 'ours', 'oursbf']:
        runs = [json.load(open(f'{out}/{who}-{f}-{r}.json')) for r in range(1, rounds + 1)]
        for k in keys:
            med[who, k] = statistics.median(get(r, k) for r in runs)
        line = ' | '.join(f'{k} {med[who, k]:.1f} {[round(get(r, k), 1) for r in runs]}' for k in keys)
        if who != 'llama':
            line += f" | b1 fraction of bound {[r['decode_batch1_fraction_of_bound'] for r in runs]}"
            line += f" | RSS/(weights+KV) {[r['memory_over_weights_and_kv'] for r in runs]}"
        print(f, who, line)
    for who in ['ours', 'oursbf']:
        print(f, who, 'over llama.cpp:', ' '.join(f'{k} {med[who, k] / med["llama", k]:.2f}x' for k in keys))
PY
