#!/usr/bin/env bash
# pack.sh prepares, on a machine with Go, npm and Node (x86-64 Linux), what
# scripts/device/lent.sh needs on a lent GPU machine, which has none of
# them: .devgpu/ in the repository root (git-ignored through info/exclude)
# with gpuplan and realsize built static, this Node binary and npm
# "webgpu" (Dawn; its linux-x64 build only), xz-compressed to travel within
# the device tool's 64 MiB (carry .devgpu and .gl; BENCHMARKS.md).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude="$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")"
grep -qx '/.devgpu/' "$exclude" 2>/dev/null || echo '/.devgpu/' >>"$exclude"
d=.devgpu
rm -rf "$d"
mkdir -p "$d/bin"
for p in gpuplan realsize; do
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' -o "$d/bin/$p" "./scripts/bench/$p"
done
(cd scripts/device && npm ci --no-audit --no-fund)
tar -C scripts/device -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
	--exclude='node_modules/webgpu/dist/linux-arm64' node_modules | xz -T2 -6 >"$d/webgpu.tar.xz"
node=$(readlink -f "${NODE:-$(command -v node)}")
ldd "$node" | grep -q libnode && { echo "pack.sh: $node needs libnode.so: use a self-contained node binary (NODE=...)" >&2; exit 1; }
tar -C "$(dirname "$node")" -cf - "$(basename "$node")" | xz -T2 -6 >"$d/node.tar.xz"
du -sh "$d" "$d"/*
