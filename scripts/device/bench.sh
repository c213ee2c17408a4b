#!/usr/bin/env bash
# bench.sh writes the step plans of WEBGPU_NODE_MODELS (realsize shapes or
# GGUF files; comma-separated) with scripts/bench/gpuplan into a temp dir
# and runs scripts/bench/webgpu-node.mjs on them (its arguments: "$@").
# make bench-webgpu-node calls it with Go at hand; on a lent GPU machine
# (no Go, no npm) GPUPLAN names a prebuilt gpuplan with realsize beside it
# (scripts/device/pack.sh, scripts/device/lent.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
models=${WEBGPU_NODE_MODELS:-smollm2-135m,qwen2.5-0.5b}
seqlen=${WEBGPU_NODE_SEQLEN:-256}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/webtune-gpuplan-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gpuplan=${GPUPLAN:-}
if [ -z "$gpuplan" ]; then
	go build -o "$tmp/bin/gpuplan" ./scripts/bench/gpuplan
	go build -o "$tmp/bin/realsize" ./scripts/bench/realsize
	gpuplan=$tmp/bin/gpuplan
fi
plans=
for m in ${models//,/ }; do
	name=$(basename "$m" .gguf)
	if [[ $m == *.gguf ]]; then src=(-model "$m"); else src=(-shape "$m"); fi
	"$gpuplan" "${src[@]}" -out "$tmp/$name" -seqlen "$seqlen"
	plans+=${plans:+,}$tmp/$name
done
node scripts/bench/webgpu-node.mjs --plans="$plans" "$@"
