#!/bin/sh
# Regenerates ../ggml_reference.bin with ggml itself: the prebuilt llama.cpp
# libraries of npm's node-llama-cpp 3.21.1, installed by
# ../../../../../shared/tools/llamacpp-bench/run.sh setup (or set LLAMA_CACHE).
# Not run by make test; the Go tests read the file it writes.
set -eu
cd "$(dirname "$0")"
CACHE=${LLAMA_CACHE:-$HOME/.cache/nanovllm-llamacpp-bench}
BINS=$CACHE/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
SRC=$CACHE/llama.cpp-src
VARIANT=${GGML_CPU_VARIANT:-sapphirerapids}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
gcc -O2 -std=gnu11 -Wall -o "$TMP/gen" gen.c -I"$SRC/ggml/include" \
    -L"$BINS" -l:libggml-base.so -ldl -lm -Wl,-rpath,"$BINS"
"$TMP/gen" "$BINS/libggml-cpu-$VARIANT.so" ../ggml_reference.bin
ls -l ../ggml_reference.bin
