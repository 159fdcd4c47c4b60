#!/usr/bin/env bash
# gpu-bench.sh: the prepared GPU benchmark of the WebGPU device (issue 15),
# run by Node with WebGPU from Dawn (npm's `webgpu` package), no browser.
# docs/webgpu.md, "The prepared GPU benchmark", says what it measures.
#
#   scripts/gpu-bench.sh bundle            # here: build .gpubench/ (needs go, npm)
#   scripts/gpu-bench.sh run [flags]       # anywhere with node >= 18 and Vulkan
#   scripts/gpu-bench.sh all [flags]       # bundle, then run (make bench-gpu)
#
# run's flags:
#   --out DIR          where gpu-bench.{json,md} and the logs go (.gpubench/out)
#   --weights LIST     weight formats, comma separated: bf16,q8_0,q4_0 (bf16)
#   --kv DTYPE         the model's KV cache dtype: f32, bf16 or f16 (f32)
#   --quick            small sizes for a CPU implementation (SwiftShader):
#                      2 layers, a 4096-token vocabulary, short runs
#   --swiftshader      use Chromium's SwiftShader Vulkan driver (this machine)
#   --unpack-gl        first unpack .gl/*.deb into / (the device machine's
#                      Vulkan loader, see docs/webgpu.md); root only
#   --peak-gbps N      the GPU's memory bandwidth, for "% of peak" (H200: 4800)
#   --timeout S        seconds for all the runs together (420)
#
# The bundle holds everything the run needs but node itself: the wasm test
# binary of ./wasm/webgpu, Go's wasm_exec.js and Dawn's dawn.node (both
# compressed with xz), so that it fits next to the repository in 64 MiB.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/.gpubench
webgpu_version=0.6.2

die() { echo "gpu-bench: $*" >&2; exit 2; }

# unxz FILE.xz DEST decompresses with xz, or Python's lzma where xz is missing.
unxz_to() {
	if command -v xz >/dev/null; then
		xz -dc "$1" >"$2"
	elif command -v python3 >/dev/null; then
		python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
	else
		die "neither xz nor python3 is here to unpack $1"
	fi
}

do_bundle() {
	command -v go >/dev/null || die "bundle needs go"
	command -v npm >/dev/null || die "bundle needs npm (for the webgpu package)"
	rm -rf "$bundle.tmp" && mkdir -p "$bundle.tmp"
	echo "gpu-bench: building the wasm test binary of ./wasm/webgpu"
	(cd "$root" && GOOS=js GOARCH=wasm go test -c -trimpath -ldflags='-s -w' -o "$bundle.tmp/webgpu.test.wasm" ./wasm/webgpu)
	cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$bundle.tmp/"
	echo "gpu-bench: fetching webgpu@$webgpu_version (Dawn for Node) from npm"
	local npmdir
	npmdir=$(mktemp -d)
	(cd "$npmdir" && npm init -y >/dev/null && npm install --no-audit --no-fund --ignore-scripts "webgpu@$webgpu_version" >/dev/null)
	local pkg=$npmdir/node_modules/webgpu
	[ -f "$pkg/dist/linux-x64/dawn.node" ] || die "webgpu@$webgpu_version has no dist/linux-x64/dawn.node"
	mkdir -p "$bundle.tmp/webgpu/dist/linux-x64"
	cp "$pkg/index.js" "$pkg/package.json" "$pkg/LICENSE.md" "$bundle.tmp/webgpu/"
	cp "$pkg/dist/linux-x64/dawn.node" "$bundle.tmp/webgpu/dist/linux-x64/"
	rm -rf "$npmdir"
	xz -T2 -6 "$bundle.tmp/webgpu.test.wasm" "$bundle.tmp/webgpu/dist/linux-x64/dawn.node"
	cat >"$bundle.tmp/meta.json" <<EOF
{"commit": "$(cd "$root" && git rev-parse --short HEAD)$(cd "$root" && git diff --quiet HEAD -- wasm shaders core || echo '+changes')",
 "go": "$(go env GOVERSION)", "webgpu (npm)": "$webgpu_version", "bundled": "$(date -u +%Y-%m-%dT%H:%MZ)"}
EOF
	rm -rf "$bundle/bin" && mkdir -p "$bundle" && mv "$bundle.tmp" "$bundle/bin"
	du -sh "$bundle/bin"
}

do_run() {
	local out=$bundle/out weights=bf16 kv=f32 quick=0 swiftshader=0 unpack_gl=0 peak=0 timeout=420
	while [ $# -gt 0 ]; do
		case "$1" in
		--out) out=$2; shift 2 ;;
		--weights) weights=$2; shift 2 ;;
		--kv) kv=$2; shift 2 ;;
		--quick) quick=1; shift ;;
		--swiftshader) swiftshader=1; shift ;;
		--unpack-gl) unpack_gl=1; shift ;;
		--peak-gbps) peak=$2; shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		*) die "unknown flag $1 (see the top of $0)" ;;
		esac
	done
	[ -f "$bundle/bin/webgpu.test.wasm.xz" ] || die "no bundle in $bundle/bin: run '$0 bundle' first (where go and npm are)"
	case ",$weights," in *,,*) die "--weights $weights: empty entry" ;; esac
	for w in ${weights//,/ }; do
		case "$w" in bf16 | q8_0 | q4_0) ;; *) die "--weights: $w is not bf16, q8_0 or q4_0" ;; esac
	done
	case "$kv" in f32 | bf16 | f16) ;; *) die "--kv $kv: want f32, bf16 or f16" ;; esac

	local node=${NODE:-$(command -v node || true)}
	[ -n "$node" ] || die "no node here (set NODE=/path/to/node; Node 18 or later)"
	node=$(readlink -f "$node")
	local major
	major=$("$node" -p 'process.versions.node.split(".")[0]')
	[ "$major" -ge 18 ] || die "node $("$node" --version) is too old: Dawn's webgpu package needs 18 or later"

	if [ "$unpack_gl" = 1 ]; then
		[ "$(id -u)" = 0 ] || die "--unpack-gl needs root"
		for f in "$root"/.gl/*.deb; do dpkg -x "$f" /; done
		ldconfig
	fi
	if [ "$swiftshader" = 1 ]; then
		local ss=${NANOVLLM_SWIFTSHADER_DIR:-/usr/lib/chromium}
		[ -f "$ss/vk_swiftshader_icd.json" ] || die "no SwiftShader in $ss (apt-get install chromium, or set NANOVLLM_SWIFTSHADER_DIR)"
		export LD_LIBRARY_PATH=$ss${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} VK_ICD_FILENAMES=$ss/vk_swiftshader_icd.json
	else
		ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || echo "gpu-bench: warning: no libvulkan.so.1 in ldconfig's cache; Dawn may find no adapter (see --unpack-gl)" >&2
		local nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
		if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && [ -f "$nv" ] &&
			! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
			export VK_DRIVER_FILES=$nv VK_ICD_FILENAMES=$nv
		fi
	fi

	# global: the EXIT trap runs after this function has returned
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/webgpu/dist/linux-x64"
	cp "$bundle/bin/wasm_exec.js" "$work/"
	cp "$bundle/bin/webgpu/index.js" "$bundle/bin/webgpu/package.json" "$work/webgpu/"
	unxz_to "$bundle/bin/webgpu.test.wasm.xz" "$work/webgpu.test.wasm"
	unxz_to "$bundle/bin/webgpu/dist/linux-x64/dawn.node.xz" "$work/webgpu/dist/linux-x64/dawn.node"

	local sizes=()
	if [ "$quick" = 1 ]; then
		sizes=(-gpubench.layers=2 -gpubench.vocab=4096 -gpubench.prompt=16 -gpubench.decode=3
			-gpubench.reps=1 -gpubench.rotate-bytes=8000000 -gpubench.rounds=1
			-gpubench.attn-ctx=256 -gpubench.attn-seqs=4)
	fi
	mkdir -p "$out"
	rm -f "$out"/gpu-bench-*.log
	local deadline=$((SECONDS + timeout)) logs=() first=1 status=0
	for w in ${weights//,/ }; do
		# The fixture tests (exact greedy tokens, kernels against the CPU
		# device) run once, with the first format's benchmark.
		local pattern='^TestGPUBench$'
		if [ "$first" = 1 ]; then
			pattern='^(TestGPUBench|TestKernels|TestModelPrefillLogits|TestModelGreedy|TestKV.*|TestQuant.*)$'
		fi
		first=0
		local left=$((deadline - SECONDS)) log=$out/gpu-bench-$w.log
		[ "$left" -gt 10 ] || { echo "gpu-bench: no time left for $w" >&2; status=1; break; }
		echo "gpu-bench: $w weights, $kv KV cache (up to ${left}s; log $log)"
		set +e
		# node by its full path: Go's net/http fetches (the fixtures) only
		# when process.argv0 does not start with "node".
		(cd "$work" && timeout "$((left - 5))" "$node" "$root/scripts/gpu-bench/run.mjs" \
			--wasm webgpu.test.wasm --wasm-exec wasm_exec.js --webgpu webgpu --testdata "$root/testdata" -- \
			-test.v -test.timeout="$((left - 10))s" -test.run="$pattern" \
			-gpubench -gpubench.weights="$w" -gpubench.kv="$kv" "${sizes[@]}") >"$log" 2>&1
		local rc=$?
		set -e
		echo "exit status $rc" >>"$log"
		grep -E '^(--- |GPUBENCH|    gpubench_test)' "$log" | cut -c1-240 || true
		[ "$rc" = 0 ] || status=1
		logs+=("$log")
	done
	"$node" "$root/scripts/gpu-bench/summarize.mjs" --out "$out" --peak-gbps "$peak" --meta "$bundle/bin/meta.json" "${logs[@]}" || status=1
	echo "gpu-bench: wrote $out/gpu-bench.json and $out/gpu-bench.md"
	return $status
}

case "${1:-}" in
bundle) do_bundle ;;
run) shift; do_run "$@" ;;
all) shift; do_bundle; do_run "$@" ;;
*) die "usage: $0 bundle | run [flags] | all [flags] (see the top of this file)" ;;
esac
