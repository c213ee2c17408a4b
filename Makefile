# webtune — make run | make test (see README.md)
SHELL := /bin/bash
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
WASM_EXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec
export NODE_LLAMA_CPP_SKIP_DOWNLOAD := true
# Tests of the wasm build need a bigger stack than node's default for deep recursion in fuzz seeds.
PKGS := ./...
BENCHTIME ?= 1s

.PHONY: run test test-native test-js test-scripts deps deps-npm deps-apt bench bench-native bench-wasm bench-browser bench-realsize bench-webgpu bench-webgpu-node bench-page-realsize wasm fuzz build clean

## run: build the CLI and the wasm, then serve the page on http://$(ADDR) (needs only Go: no npm)
ADDR ?= 127.0.0.1:8080
run: build wasm
	./bin/webtune serve --addr $(ADDR)

build:
	$(GO) build -o bin/webtune ./cmd/webtune

## test: install what the tests need, then run every test (native, wasm under Node, JS-driven checks)
test: deps test-native test-js test-scripts

deps: deps-npm

deps-npm: scripts/node_modules/.installed

scripts/node_modules/.installed: scripts/package.json scripts/package-lock.json
	cd scripts && npm ci --omit=optional --no-audit --no-fund
	touch $@

deps-apt:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test-native:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m $(PKGS)

test-js:
	GOOS=js GOARCH=wasm $(GO) test -count=1 -timeout 15m -exec="$(WASM_EXEC)" $(PKGS)

test-scripts: deps deps-apt
	node --test --test-concurrency=1 scripts/tests/

## bench: benchmarks natively, in wasm under Node, and in headless Chromium vs TF.js (not part of make test)
bench: bench-native bench-wasm bench-browser bench-realsize bench-page-realsize

bench-native:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) $(PKGS)

bench-browser: deps deps-apt
	mkdir -p testout
	node scripts/bench/browser-bench.mjs --out=testout/bench.json
	node scripts/bench/page-train.mjs --out=testout/page-train.json

## bench-realsize: native LoRA training on random-weight models of the SmolLM2-135M, Gemma-3-270M,
## Qwen2.5-0.5B and Llama-3.2-1B shapes (files in a temp dir): tokens/s and peak RSS (REALSIZE_ARGS=-shapes ...)
bench-realsize:
	$(GO) run ./scripts/bench/realsize $(REALSIZE_ARGS)

## bench-page-realsize: the four real-size shapes in Chromium, through the JS API and through the page's model-file input
## and controls: load, tokens/s, memory against the estimate, and each downloaded adapter checked in llama.cpp
## (PAGE_REALSIZE_ARGS=--shapes=... --via=api,input --workers=1,2; --interleave=N: page vs native, N alternating rounds)
bench-page-realsize: deps deps-apt
	node scripts/bench/page-realsize.mjs $(PAGE_REALSIZE_ARGS)

bench-wasm:
	GOOS=js GOARCH=wasm $(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -exec="$(WASM_EXEC)" $(PKGS)

## bench-webgpu: the WebGPU engine's products (web/gpu/engine.js) in Chromium on SmolLM2-135M and Qwen2.5-0.5B
## projection shapes, with the adapter it got and a roofline estimate, then the whole training step on those shapes in
## the page, cpu vs webgpu: tokens/s, dispatches, bytes per step vs weights (WEBGPU_ARGS=--kernels=0 --step-seqlen=16;
## --step=testmodel or --step=FILE.gguf trains other models)
bench-webgpu: deps deps-apt
	node scripts/bench/webgpu.mjs $(WEBGPU_ARGS)

## bench-webgpu-node: web/gpu's kernels and whole training step under Node with Dawn (npm webgpu, scripts/device) on this
## machine's GPU, no browser: the products' GFLOP/s, attention, and the step's GPU time on the SmolLM2-135M and Qwen2.5-0.5B
## shapes, each step checked against the Go CPU step (scripts/bench/gpuplan writes plans into a temp dir). Exits non-zero
## without an adapter. Not part of make test. WEBGPU_NODE_MODELS=shape|FILE.gguf,... WEBGPU_NODE_SEQLEN=256
## WEBGPU_NODE_ARGS=--steps=5 --reps=20 --kernels=0; a lent GPU machine has no Go or npm: scripts/device/lent.sh (BENCHMARKS.md)
bench-webgpu-node: scripts/device/node_modules/.installed
	scripts/device/bench.sh $(WEBGPU_NODE_ARGS)

scripts/device/node_modules/.installed: scripts/device/package.json scripts/device/package-lock.json
	cd scripts/device && npm ci --no-audit --no-fund
	touch $@

## fuzz: long fuzzing runs (FUZZTIME each), outside make test
FUZZTIME ?= 10m
fuzz:
	$(GO) test ./gguf -run='^$$' -fuzz=FuzzOpen -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./lora -run='^$$' -fuzz=FuzzReadAdapter -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./store -run='^$$' -fuzz=FuzzValidateAdapter -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./store -run='^$$' -fuzz=FuzzRange -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./nf4 -run='^$$' -fuzz=FuzzQuantize -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./tokenizer -run='^$$' -fuzz=FuzzTokenizer -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./tokenizer -run='^$$' -fuzz=FuzzNew -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./tokenizer -run='^$$' -fuzz=FuzzEncodeSpecial -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./train -run='^$$' -fuzz=FuzzRestore -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./wasm/bridge/core -run='^$$' -fuzz=FuzzParseCheckpoint -fuzztime=$(FUZZTIME) -timeout=0
	$(GO) test ./data -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) -timeout=0

## soak: the store's soak test, 30 s against each of the memory store (go run ./wasm/worker) and the Worker
## under wrangler dev, loopback only (make test runs it for 5 s each)
.PHONY: soak
soak: deps
	WEBTUNE_SOAK_SECONDS=$${WEBTUNE_SOAK_SECONDS:-30} node --test --test-name-pattern=soak scripts/tests/worker.test.mjs

## wasm: the browser build
wasm:
	mkdir -p build
	GOOS=js GOARCH=wasm $(GO) build -o build/webtune.wasm ./wasm/bridge

clean:
	rm -rf bin build

.PHONY: worker worker-dev
## worker: build the Cloudflare Worker (wasm/worker) and the page's assets into build/worker
worker: deps-npm
	GO=$(GO) bash scripts/worker-build.sh

## worker-dev: run it locally with wrangler dev 4.86.0, offline, local R2, on 127.0.0.1:8787
worker-dev: worker
	@test -f .dev.vars || echo "worker-dev: put ADAPTER_TOKEN=<token> in .dev.vars to allow uploads"
	cd scripts && WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false npx --no-install wrangler dev --config ../wrangler.toml --ip 127.0.0.1 --port 8787
