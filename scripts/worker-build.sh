#!/usr/bin/env bash
# worker-build.sh — build the Cloudflare Worker (wasm/worker) and its static assets into build/worker/:
#   build/worker/{worker.mjs,runtime.mjs,wasm_exec.js,app.wasm}  the Worker (syumai/workers' JS glue + Go wasm)
#   build/worker/public/                                          the page: web/ + webtune.wasm + Go's wasm_exec.js
# wrangler.toml points at both. GO overrides the go binary.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=build/worker

# The generator wipes $out; it must run without @version (the proxy refuses the version list, SPECS §F.4).
"$GO" run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o "$out"
GOOS=js GOARCH=wasm "$GO" build -trimpath -ldflags="-s -w" -o "$out/app.wasm" ./wasm/worker

mkdir -p "$out/public"
cp -R web/. "$out/public/"
# this origin serves the adapter store: the page may ask it (under `webtune serve` it does not)
sed -i 's|<meta name="webtune-store" content="none">|<meta name="webtune-store" content="same-origin">|' "$out/public/index.html"
grep -q '<meta name="webtune-store" content="same-origin">' "$out/public/index.html" || { echo "worker-build: index.html has no webtune-store meta" >&2; exit 1; }
cp "$("$GO" env GOROOT)/lib/wasm/wasm_exec.js" "$out/public/wasm_exec.js"
if compgen -G "wasm/bridge/*.go" >/dev/null; then
	GOOS=js GOARCH=wasm "$GO" build -trimpath -ldflags="-s -w" -o "$out/public/webtune.wasm" ./wasm/bridge
else
	echo "worker-build: wasm/bridge has no main package yet; the page ships without webtune.wasm" >&2
fi
# Cloudflare's asset server adds ETag and "public, max-age=0, must-revalidate" itself; add nosniff, and
# cross-origin isolation so that the page's training workers can share memory (SharedArrayBuffer).
printf '/*\n  X-Content-Type-Options: nosniff\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n' >"$out/public/_headers"
# Never publish dot files (.dev.vars and the like) as assets.
printf '.*\n**/.*\n' >"$out/public/.assetsignore"

wasm_size=$(stat -c %s "$out/app.wasm")
wasm_gz=$(gzip -9 -c "$out/app.wasm" | wc -c)
echo "worker-build: $out/app.wasm $wasm_size bytes ($wasm_gz gzipped; Workers limit 3 MB free / 10 MB paid, compressed)"
