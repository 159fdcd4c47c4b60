# nano-vllm-go: the two commands that matter are `make test` and `make serve`.
GO      ?= go
PORT    ?= 8080
GOROOT  := $(shell $(GO) env GOROOT)

.PHONY: test test-go test-browser chromium wasm serve bench bench-browser bench-gpu lint fuzz

## test: every test, native and in headless Chromium with WebGPU.
test: test-go test-browser

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

## test-browser: the page, the JavaScript API and the engine on both devices
## in headless Chromium with WebGPU on SwiftShader (installs Chromium if missing),
## and the WebGPU kernels and fixture models against the CPU device.
test-browser: wasm chromium
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/... ./shaders/...
	NANOVLLM_BROWSER=1 $(GO) test -count=1 -timeout 60m -run '^TestBrowser' ./cmd/nanovllm
	NANOVLLM_BROWSER=1 $(GO) test -count=1 -timeout 20m ./internal/browsertest

# chromium installs Chromium through apt when no Chromium is on the PATH.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		command -v google-chrome >/dev/null 2>&1 || \
		(echo "installing chromium for the browser tests" && apt-get update -qq && apt-get install -y -qq chromium)

## wasm: the browser build, written into web/ (nanovllm.wasm, wasm_exec.js).
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -o web/nanovllm.wasm ./wasm
	cp "$(GOROOT)/lib/wasm/wasm_exec.js" web/wasm_exec.js

## serve: build the wasm and serve the demo page on localhost, with MODEL
## (a directory or a Hub repo id) loaded by the page on opening and served
## behind the OpenAI-compatible API. The default is the repository's tiny
## fixture with Qwen3's real tokenizer: it works offline on a fresh clone
## (its replies are noise: its weights are random); try MODEL=Qwen/Qwen3-0.6B.
MODEL   ?= testdata/qwen3-tiny-vocab
serve: wasm
	$(GO) run ./cmd/nanovllm serve --addr 127.0.0.1:$(PORT) --model $(MODEL)

## bench: kernel and scheduler benchmarks plus the end-to-end CLI benchmark.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./core/...
	$(GO) run ./cmd/nanovllm bench --model random:qwen3-0.6b

## bench-browser: the demo page with 1 and then 8 conversations at once (tokens/s
## on WebGPU and the wasm CPU device, main-thread long tasks), in headless Chromium.
bench-browser: wasm chromium
	NANOVLLM_BROWSER=1 NANOVLLM_BENCH_BROWSER=1 $(GO) test -count=1 -timeout 30m -v -run '^TestBrowserPageBench$$' ./cmd/nanovllm

## bench-gpu: the prepared GPU benchmark (scripts/gpu-bench.sh; docs/webgpu.md):
## the WebGPU device's wasm tests in Node with Dawn, no browser. Here it runs
## on SwiftShader at small sizes (GEMV weight bandwidth, prefill and batch-1/8
## decode tokens/s, the fixture tests) and writes .gpubench/out/gpu-bench.{json,md};
## on a machine with a GPU: scripts/gpu-bench.sh run --weights bf16,q4_0.
GPU_WEIGHTS ?= bf16,q4_0
bench-gpu: chromium
	scripts/gpu-bench.sh all --quick --swiftshader --weights $(GPU_WEIGHTS)

## fuzz: run every fuzz target for FUZZTIME each (their seed corpora also run in `make test`).
FUZZTIME ?= 10s
fuzz:
	@for f in FuzzParse FuzzShardName; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./core/safetensors || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzManager$$' -fuzztime $(FUZZTIME) ./core/block
	$(GO) test -run '^$$' -fuzz '^FuzzDequantize$$' -fuzztime $(FUZZTIME) ./core/quant
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./core/gguf
	@for f in FuzzEncode FuzzLoadFiles FuzzBPESmallMatchesHeap FuzzBPEHeapMatchesReference FuzzAppendLossy \
		FuzzChatTemplate FuzzChatTemplateSandbox FuzzConversationJSON; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./core/tokenizer || exit 1; done

## lint: formatting, vet and staticcheck.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	GOBIN=$(CURDIR)/.bin $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	.bin/staticcheck ./...
	GOOS=js GOARCH=wasm .bin/staticcheck ./core/... ./shaders/... ./wasm/...
