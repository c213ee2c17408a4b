// webgpu measures the WebGPU engine's products (web/gpu/engine.js) in
// headless Chromium with WebGPU on, on the projection shapes of real models
// (SmolLM2-135M and Qwen2.5-0.5B): per weight type and shape, the median
// time of x·Wᵀ (forward) and dy·W (backward to the input) on a resident
// weight, and of the float32 xᵀ·dy (a weight-shaped gradient), as GFLOP/s,
// with the bytes uploaded and read back per call. It prints the adapter it
// got: run unchanged on a machine with a GPU and Chromium to get GPU
// figures (here it is SwiftShader, a CPU emulation: not a GPU figure).
// With the measured FLOPs and bytes of one LoRA step it also prints a
// roofline estimate for a GPU of --tflops TFLOP/s and --gbs GB/s.
//
// The whole training step (web/gpu/model.js, docs/webgpu.md) on the real
// shapes: random-weight GGUFs of SmolLM2-135M and Qwen2.5-0.5B (Q8_0, as
// scripts/bench/realsize -write makes them) trained in the page (webtune
// serve, JS API) with the engine "cpu" and then "webgpu", LoRA r=8 on
// attn_q,attn_v, batch 1: tokens/s of each; per training step after the
// first on the GPU, the dispatches (per layer, the head and embedding
// apart), the bytes uploaded and read back against the model's weight bytes
// (goal ≤ 5 %), and the milliseconds the CPU spent outside the GPU wait
// (recording the dispatches, and Go's work between steps). --step
// names other models: realsize shapes, "testmodel" (a small Q8_0 llama from
// internal/testmodels) or a GGUF file.
//
//   node scripts/bench/webgpu.mjs [--tokens=128] [--reps=3] [--models=smollm2-135m,qwen2.5-0.5b]
//       [--types=F16,Q8_0,Q4_K,Q6_K] [--tflops=5] [--gbs=100] [--kernels=0]
//       [--step=smollm2-135m,qwen2.5-0.5b|testmodel|FILE.gguf|none] [--step-steps=3] [--step-seqlen=64]
//       [--out=file.json] [--chromium=/usr/bin/chromium]
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { buildAll, chromiumPath, root, startServer, webgpuArgs } from "../lib/browser.mjs";

const kv = Object.fromEntries(
  process.argv.slice(2).filter((a) => a.startsWith("--") && a.includes("=")).map((a) => a.slice(2).split("=")),
);
const tokens = +(kv.tokens ?? 128);
const reps = +(kv.reps ?? 3);
const tflops = +(kv.tflops ?? 5);
const gbs = +(kv.gbs ?? 100);
const types = (kv.types ?? "F16,Q8_0,Q4_K,Q6_K").split(",");

// Per-layer projections [name, rows (out), cols (in)] and layer count, from the published configs.
const MODELS = {
  "smollm2-135m": {
    layers: 30,
    params: 134.5e6,
    head: [49152, 576], // tied embedding as the output head
    mats: [["q", 576, 576], ["k", 192, 576], ["v", 192, 576], ["o", 576, 576], ["gate", 1536, 576], ["up", 1536, 576], ["down", 576, 1536]],
  },
  "qwen2.5-0.5b": {
    layers: 24,
    params: 494e6,
    head: [151936, 896],
    mats: [["q", 896, 896], ["k", 128, 896], ["v", 128, 896], ["o", 896, 896], ["gate", 4864, 896], ["up", 4864, 896], ["down", 896, 4864]],
  },
};
const models = (kv.models ?? "smollm2-135m,qwen2.5-0.5b").split(",");
for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m}: one of ${Object.keys(MODELS).join(", ")}`);
const stepModels = (kv.step ?? "smollm2-135m,qwen2.5-0.5b").split(",").filter((x) => x && x !== "none");
const results = { tokens, reps, adapter: null, rows: [] };
if (kv.kernels !== "0") await kernelBench();
if (stepModels.length) results.step = await stepBench(stepModels);
if (kv.out) writeFileSync(kv.out, JSON.stringify(results, null, 2));

// kernelBench times the engine's products on the real shapes and prints the roofline estimate.
async function kernelBench() {
  const html = `<!doctype html><meta charset="utf-8"><script type="module">
  import * as E from "/gpu/engine.js"; window.E = E; window.ready = true;
  </script>`;
  const server = createServer((req, res) => {
    if (req.url === "/") return res.writeHead(200, { "Content-Type": "text/html" }).end(html);
    if (req.url === "/favicon.ico") return res.writeHead(204).end();
    if (req.url === "/gpu/engine.js") {
      return res.writeHead(200, { "Content-Type": "text/javascript" }).end(readFileSync(path.join(root, "web/gpu/engine.js")));
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const browser = await chromium.launch({ executablePath: kv.chromium ?? chromiumPath, headless: true, args: webgpuArgs });
  try {
    const page = await browser.newPage();
    page.on("console", (m) => console.log(`page: ${m.text()}`));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.ready === true);
    results.adapter = await page.evaluate(async () => {
      window.eng = await E.requestEngine();
      return { info: window.eng.info, limits: window.eng.limits };
    });
    console.log(`adapter: ${JSON.stringify(results.adapter.info)}${results.adapter.info.architecture === "swiftshader" ? " (SwiftShader: a CPU emulation, not a GPU figure)" : ""}`);
    console.log(`tokens per call: ${tokens}, median of ${reps}`);
    console.log("| model | matrix | rows×cols | type | x·Wᵀ GFLOP/s | dy·W GFLOP/s | up/down KB per call |");
    console.log("|---|---|---|---|---:|---:|---|");
    for (const m of models) {
      const seen = new Set();
      for (const [name, rows, cols] of MODELS[m].mats) {
        const key = `${rows}x${cols}`;
        if (seen.has(key)) continue; // q/o and gate/up share a shape
        seen.add(key);
        for (const type of [...types, "F32 xᵀ·dy"]) {
          const r = await page.evaluate(
            async ([type, rows, cols, n, reps]) => {
              const eng = window.eng;
              const rnd = (len) => Float32Array.from({ length: len }, () => Math.random() * 2 - 1);
              const time = async (fn) => {
                await fn(); // warm-up: pipeline compile
                const ts = [];
                let st;
                for (let i = 0; i < reps; i++) {
                  eng.resetStats();
                  const t0 = performance.now();
                  await fn();
                  ts.push(performance.now() - t0);
                  st = { ...eng.stats };
                }
                ts.sort((a, b) => a - b);
                return { ms: ts[ts.length >> 1], up: st.bytesUploaded, down: st.bytesReadBack, dispatches: st.dispatches };
              };
              const flops = 2 * n * rows * cols;
              if (type === "F32 xᵀ·dy") {
                // The gradient of a rows×cols weight: xᵀ·dy with x [n×cols], dy [n×rows].
                const x = rnd(n * cols), dy = rnd(n * rows);
                const g = await time(() => eng.matmul(x, dy, { m: cols, k: n, n: rows, transA: true }));
                return { type, flops, fwd: g, bwd: null };
              }
              const t = E.TYPES[type];
              if (cols % t.block) return { type, skip: `${cols} columns are not a multiple of ${t.block}` };
              const bytes = new Uint8Array((rows * cols / t.block) * t.bytes);
              for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.random() * 256) & (i & 1 ? 0x3b : 0xff); // finite f16 scales
              const h = eng.uploadWeight(type, rows, cols, bytes);
              const x = rnd(n * cols), dy = rnd(n * rows);
              const fwd = await time(() => eng.linear(h, x, n));
              const bwd = await time(() => eng.linearBackward(h, dy, n));
              eng.freeWeight(h);
              return { type, flops, weightBytes: bytes.length, fwd, bwd };
            },
            [type, rows, cols, tokens, reps],
          );
          const row = { model: m, matrix: name, rows, cols, ...r };
          results.rows.push(row);
          if (r.skip) {
            console.log(`| ${m} | ${name} | ${rows}×${cols} | ${type} | n/a | n/a | ${r.skip} |`);
            continue;
          }
          const gf = (t) => (t ? (r.flops / t.ms / 1e6).toFixed(2) : "—");
          const kb = (t) => (t ? `${(t.up / 1024).toFixed(0)}/${(t.down / 1024).toFixed(0)}` : "");
          console.log(`| ${m} | ${name} | ${rows}×${cols} | ${type} | ${gf(r.fwd)} | ${gf(r.bwd)} | ${kb(r.fwd)}${r.bwd ? ", " + kb(r.bwd) : ""} |`);
        }
      }
    }
    await page.evaluate(() => window.eng.destroy());
  } finally {
    await browser.close();
    server.close();
  }

  // Roofline of one LoRA step's frozen products (forward x·Wᵀ and backward dy·W over every
  // projection of every layer, plus the tied output head): FLOPs 4·N·tokens, and those
  // weights read twice (once per direction); a GPU of `tflops` and `gbs` needs max(FLOPs/peak, bytes/bandwidth).
  console.log(`\nroofline estimate (not a measurement) for a GPU of ${tflops} TFLOP/s and ${gbs} GB/s, ${tokens} tokens per step:`);
  results.roofline = [];
  for (const m of models) {
    const M = MODELS[m];
    const proj = M.layers * M.mats.reduce((s, [, r, c]) => s + r * c, 0) + M.head[0] * M.head[1];
    for (const [type, bpw] of [["F16", 2], ["Q8_0", 34 / 32], ["Q4_K", 144 / 256]]) {
      const flops = 4 * M.params * tokens; // projections, head and attention ≈ 4·N per token (forward + backward to inputs)
      const bytes = 2 * proj * bpw;
      const tc = flops / (tflops * 1e12), tm = bytes / (gbs * 1e9);
      const t = Math.max(tc, tm);
      const e = { model: m, type, flops, bytes, ms: t * 1e3, tokensPerS: tokens / t, bound: tc >= tm ? "compute" : "memory" };
      results.roofline.push(e);
      console.log(`  ${m} ${type}: ${(flops / 1e9).toFixed(1)} GFLOP, ${(bytes / 1e6).toFixed(0)} MB of weights read → ${e.ms.toFixed(1)} ms (${e.bound}-bound), ≤ ${e.tokensPerS.toFixed(0)} tokens/s at peak`);
    }
  }
}

// stepBench trains each model with the engines cpu and webgpu in the page
// and prints the whole step's figures.
async function stepBench(names) {
  const tmp = mkdtempSync(path.join(tmpdir(), "webtune-webgpu-bench-"));
  const files = [];
  const shapes = names.filter((n) => n !== "testmodel" && !n.endsWith(".gguf"));
  if (shapes.length) {
    execFileSync(process.env.GO ?? "go", ["run", "./scripts/bench/realsize", "-shapes", shapes.join(","), "-write", tmp], { cwd: root, stdio: "ignore" });
  }
  if (names.includes("testmodel")) execFileSync(process.env.GO ?? "go", ["run", "./internal/testmodels", tmp], { cwd: root, stdio: "ignore" });
  for (const n of names) {
    files.push(n === "testmodel" ? path.join(tmp, "spm-q8-gqa.gguf") : n.endsWith(".gguf") ? n : path.join(tmp, `${n}.gguf`));
  }
  buildAll();
  const srv = await startServer();
  const br = await chromium.launch({ executablePath: kv.chromium ?? chromiumPath, headless: true, args: webgpuArgs });
  const steps = +(kv["step-steps"] ?? 3), seqLen = +(kv["step-seqlen"] ?? 64);
  const out = [];
  try {
    for (const file of files) {
      const r = {};
      for (const engine of ["cpu", "webgpu"]) {
        // a fresh page per engine: the model's bytes and the GPU's buffers of one run are gone before the next
        const page = await (await br.newContext()).newPage();
        page.on("console", (m) => m.type() === "error" && console.log(`page: ${m.text()}`));
        await page.goto(srv.url);
        await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
        await page.evaluate(() => {
          const i = document.createElement("input");
          i.type = "file";
          i.id = "bench-file";
          document.body.append(i);
        });
        await page.setInputFiles("#bench-file", file);
        r[engine] = await page.evaluate(async ([engine, steps, seqLen]) => {
          const { WebTune } = await import("./webtune.js");
          const text = "the quick brown fox jumps over the lazy dog while a small cook writes her diary about bread soup rice. ".repeat(400);
          const wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: 1, engine });
          try {
            const f = document.getElementById("bench-file").files[0];
            const m = await wt.loadModel(new Uint8Array(await f.arrayBuffer()), { transfer: true, name: f.name });
            await m.injectLoRA({ rank: 8, alpha: 16, targets: ["attn_q", "attn_v"], seed: 7 });
            const prog = [];
            const res = await (await m.train({ text, steps, batch: 1, seqLen, lr: 1e-3, seed: 5, evalFraction: -1, onProgress: (p) => prog.push(p) })).done;
            const info = await m.info();
            return { state: res.state, error: res.error ?? null, tokensPerSec: prog.at(-1)?.tokensPerSec ?? 0, layers: info.layers,
              gpuStep: await m.gpuStep(), stats: await wt.gpuStats(), adapter: wt.engine.gpu };
          } finally {
            wt.terminate();
          }
        }, [engine, steps, seqLen]);
        await page.context().close();
      }
      const g = r.webgpu, tr = g.stats?.step?.train;
      const row = { file: path.basename(file), steps, seqLen, cpu: r.cpu, webgpu: g };
      out.push(row);
      console.log(`\nwhole step: ${row.file}, ${r.cpu.layers} layers, LoRA r=8 attn_q,attn_v, ${steps} steps of ${seqLen} tokens, adapter ${JSON.stringify(g.adapter)}` +
        `${g.adapter?.architecture === "swiftshader" ? " (SwiftShader: a CPU emulation, not a GPU figure)" : ""}`);
      console.log(`  cpu: ${r.cpu.tokensPerSec.toFixed(1)} tokens/s (${r.cpu.state}); webgpu: ${g.tokensPerSec.toFixed(1)} tokens/s (${g.state}${g.error ? `: ${g.error}` : ""})` +
        `${g.gpuStep.on ? "" : `, not on the GPU: ${g.gpuStep.reason}`}`);
      if (!tr) continue;
      const moved = tr.bytesUploaded + tr.bytesReadBack;
      const perLayer = tr.layers.reduce((a, b) => a + b, 0) / tr.layers.length;
      row.perStep = { dispatches: tr.dispatches, perLayer, head: tr.head, embed: tr.embed, up: tr.bytesUploaded, down: tr.bytesReadBack,
        weightBytes: g.gpuStep.weightBytes, trafficPct: (100 * moved) / g.gpuStep.weightBytes, stepMs: tr.recordMs + tr.waitMs + tr.betweenMs,
        waitMs: tr.waitMs, recordMs: tr.recordMs, betweenMs: tr.betweenMs, cpuOutsideMs: tr.recordMs + tr.betweenMs };
      const p = row.perStep;
      console.log(`  webgpu per training step: ${p.dispatches} dispatches (${perLayer.toFixed(0)} per layer, head and loss ${p.head}, embedding ${p.embed}); ` +
        `${(p.up / 1024).toFixed(0)} KB up, ${(p.down / 1024).toFixed(0)} KB down = ${p.trafficPct.toFixed(2)} % of the ${(p.weightBytes / 1e6).toFixed(0)} MB of weights (goal ≤ 5 %)`);
      console.log(`  time per step: ${p.stepMs.toFixed(0)} ms, of which ${p.waitMs.toFixed(0)} ms from submit to read-back (the GPU) and ${p.cpuOutsideMs.toFixed(0)} ms on the CPU outside that wait ` +
        `(${p.recordMs.toFixed(0)} ms recording the dispatches, ${p.betweenMs.toFixed(0)} ms in Go between steps: AdamW, packing and copying the LoRA, the batch)`);
    }
  } finally {
    await br.close();
    await srv.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}
