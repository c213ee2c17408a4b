#!/usr/bin/env bash
# lent.sh runs make bench-webgpu-node's work on a lent GPU machine, which
# has no Go, npm or Node: it unpacks what scripts/device/pack.sh put in
# .devgpu/, points the Vulkan loader (unpacked from .gl beforehand, as the
# device README says) at the NVIDIA driver when no ICD is registered, and
# runs scripts/device/bench.sh with the prebuilt gpuplan ("$@" go to
# webgpu-node.mjs). The log and the JSON go to $OUT when it is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f .devgpu/node.tar.xz ] || { echo "lent.sh: no .devgpu/: run scripts/device/pack.sh first and carry .devgpu" >&2; exit 1; }
rt=$(mktemp -d /tmp/webtune-node-XXXXXX)
tar -xJf .devgpu/node.tar.xz -C "$rt"
tar -xJf .devgpu/webgpu.tar.xz -C scripts/device
export PATH="$rt:$PATH"
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
	export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
fi
ldconfig -p | grep -q 'libvulkan.so.1 ' || echo "lent.sh: no libvulkan.so.1: unpack .gl first (device README)" >&2
command -v nvidia-smi >/dev/null && nvidia-smi -L
out=${OUT:-/tmp}
GPUPLAN=$PWD/.devgpu/bin/gpuplan scripts/device/bench.sh --out="$out/webgpu-node.json" "$@" 2>&1 | tee "$out/webgpu-node.log"
exit "${PIPESTATUS[0]}"
