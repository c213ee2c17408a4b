// The page's Engine choice (auto, webgpu, cpu) and the whole training step
// on WebGPU, in real headless Chromium (SwiftShader's adapter here):
// - "auto" leaves a software fallback adapter (SwiftShader here) alone and
//   says so (on a real GPU it takes the path "webgpu" takes here); "webgpu"
//   trains whole steps on the adapter (the page's engine and progress lines
//   say "WebGPU (<adapter>): whole step"); a run the GPU step cannot take
//   (LoRA dropout) trains on the CPU and the page says why; "cpu" never opens WebGPU and is remembered across
//   a reload; in a browser without WebGPU (--disable-gpu) a "webgpu" choice
//   trains on the CPU and says why; the JS API refuses an unknown engine.
// - With the engine "webgpu", 20 training steps of a llama (Q8_0), a qwen2
//   (Q4_K), a qwen3 (Q8_0), a gemma3 (F16, sliding window 8 < seq-len 16)
//   and a qwen2 model trained as QLoRA (NF4) from internal/testmodels run
//   whole on the GPU (web/gpu/model.js: the step's dispatches counted per
//   layer, no frozen product sent through the per-product path) and give
//   the CPU engine's losses within 1e-3 relative; per step after the first,
//   exactly the LoRA parameters, the token ids and the targets go up and the
//   losses and the LoRA gradients come back (a per-step weight upload would
//   fail it).
// - With two workers a run whose steps run on the GPU trains the whole batch
//   there alone (CPU replicas would hold it back) and its losses match two
//   CPU workers'.
// - An adapter trained whole-step on the GPU (qwen3, float32 weights) loads
//   in llama.cpp (node-llama-cpp) and its next-token log-probs equal
//   `webtune generate`'s with it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, launchWebGPU, root } from "../lib/browser.mjs";
import { nextLogprobs, close as closeLlama } from "../lib/llamacpp.mjs";

let server, gpuBrowser, plainBrowser;
const models = mkdtempSync(path.join(tmpdir(), "webtune-webgpu-models-"));
const FAST = { steps: "3", batch: "1", seqlen: "16" };

before(async () => {
  buildAll();
  execFileSync(process.env.GO ?? "go", ["run", "./internal/testmodels", models], { cwd: root, stdio: "inherit" });
  server = await startServer();
  gpuBrowser = await launchWebGPU();
  plainBrowser = await launch();
});

after(async () => {
  await gpuBrowser?.close();
  await plainBrowser?.close();
  await server?.stop();
  await closeLlama();
  rmSync(models, { recursive: true, force: true });
});

async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1300 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(server.url);
  await waitReady(page);
  return { context, page, problems };
}

async function waitReady(page) {
  await page.waitForSelector("body[data-ready=true]", { timeout: 90_000 });
  await page.waitForFunction(() => globalThis.webtunePage.info !== null, null, { timeout: 90_000 });
}

async function train(page) {
  await page.fill("[data-testid=steps]", FAST.steps);
  await page.fill("[data-testid=batch]", FAST.batch);
  await page.fill("[data-testid=seq-len]", FAST.seqlen);
  // the progress line of an earlier run is cleared, so that only this run's last step matches
  await page.evaluate(() => (document.querySelector("#progress-text").textContent = ""));
  await page.click("[data-testid=train]");
  await page.waitForFunction(
    () => /^Step 3 of 3/.test(document.querySelector("#progress-text").textContent) && document.querySelector("[data-testid=status]").textContent === "done",
    null,
    { timeout: 120_000 },
  );
  return page.textContent("#progress-text");
}

const info = (page) => page.textContent("[data-testid=engine-info]");

const gpuLine = /^Training runs on WebGPU \(google swiftshader\): the whole step \(forward, loss and backward\) runs on the GPU; only the optimizer \(AdamW\) runs on the CPU \(WebAssembly SIMD\)\.$/;

test("Engine choice with WebGPU on: auto leaves a software fallback adapter alone and says so; webgpu trains whole steps on it; a step it cannot take says why; cpu is remembered", { timeout: 300_000 }, async () => {
  const { context, page, problems } = await openPage(gpuBrowser);
  assert.deepEqual(await page.$$eval("[data-testid=engine] option", (os) => os.map((o) => o.value)), ["auto", "webgpu", "cpu"]);
  assert.equal(await page.inputValue("[data-testid=engine]"), "auto");
  // SwiftShader is a CPU rasterizer: "auto" trains on the WebAssembly engine, tens of times faster there
  const auto = await info(page);
  console.log(`engine-info (auto, SwiftShader): ${auto}`);
  assert.match(auto, /^Training runs on the CPU \(WebAssembly SIMD\)\. Not WebGPU: the only WebGPU adapter \(google swiftshader\) is a software fallback on the CPU, slower than the CPU engine; choose WebGPU to use it anyway\.$/);
  let eng = await page.evaluate(() => globalThis.webtunePage.wt.engine);
  assert.equal(eng.choice, "auto");
  assert.equal(eng.training, "cpu");
  assert.equal(eng.gpu.available, false);
  assert.equal(eng.gpu.fallback, true);
  assert.match(await train(page), / · CPU \(WebAssembly SIMD\) · /);

  // "webgpu" takes the adapter anyway: whole steps on it
  await page.selectOption("[data-testid=engine]", "webgpu");
  assert.match(await train(page), /Step 3 of 3 .* · WebGPU \(google swiftshader\): whole step · /);
  eng = await page.evaluate(() => globalThis.webtunePage.wt.engine);
  assert.equal(eng.choice, "webgpu");
  assert.equal(eng.training, "webgpu");
  assert.equal(eng.gpu.available, true);
  assert.equal(eng.gpu.wholeStep, true);
  assert.equal(eng.gpu.architecture, "swiftshader");
  assert.match(await info(page), gpuLine);
  const step = await page.evaluate(() => globalThis.webtunePage.model.gpuStep());
  assert.equal(step.on, true);
  assert.equal(step.steps, 3);

  // a run the GPU step does not take (LoRA dropout): the CPU trains it, and the page's lines say why
  const refused = await page.evaluate(async () => {
    const E = await import("./page/engine.js");
    const m = await globalThis.webtunePage.wt.loadModel("builtin");
    await m.injectLoRA({ rank: 4, alpha: 8, dropout: 0.1 });
    const run = await m.train({ text: "a b c d e f g h i j k l m n o p ".repeat(8), steps: 2, batch: 1, seqLen: 16, evalEvery: 0 });
    await run.done;
    const s = await m.gpuStep();
    await E.checkGPUUse(m);
    const out = { step: s, label: E.engineLabel(), info: document.querySelector("[data-testid=engine-info]").textContent };
    await E.checkGPUUse(); // the page's own model again
    await m.dispose();
    return out;
  });
  console.log(`engine-info (auto, dropout): ${refused.info}`);
  assert.equal(refused.step.on, false);
  assert.match(refused.step.reason, /dropout/);
  assert.match(refused.label, /^CPU \(WebAssembly SIMD\).*: WebGPU cannot run this step \(.*dropout.*\)$/);
  assert.match(refused.info, /^Training runs on the CPU \(WebAssembly SIMD\).*: WebGPU \(google swiftshader\) cannot run this step: .*dropout/);
  assert.match(await info(page), gpuLine);

  await page.selectOption("[data-testid=engine]", "cpu");
  assert.match(await train(page), / · CPU \(WebAssembly SIMD\) · /); // a new engine starts with the new choice
  assert.equal(await info(page), "Training runs on the CPU (WebAssembly SIMD).");
  assert.equal(await page.evaluate(() => globalThis.webtunePage.wt.engine.gpu.available), false);
  assert.deepEqual(await page.evaluate(() => globalThis.webtunePage.model.gpuStep().then((s) => [s.on, s.reason])), [false, ""]);
  await page.reload();
  await waitReady(page);
  assert.equal(await page.inputValue("[data-testid=engine]"), "cpu", "the choice survives a reload");
  assert.equal(await info(page), "Training runs on the CPU (WebAssembly SIMD).");

  const bad = await page.evaluate(async () => {
    const { WebTune } = await import("./webtune.js");
    try {
      await WebTune.load({ engine: "tpu" });
      return "loaded";
    } catch (e) {
      return `${e.name}: ${e.message}`;
    }
  });
  assert.equal(bad, 'TypeError: webtune: engine must be one of auto, webgpu, cpu, not "tpu"');
  assert.deepEqual(problems, []);
  await context.close();
});

test("Engine choice webgpu in a browser without WebGPU trains on the CPU and says why", { timeout: 300_000 }, async () => {
  const { context, page, problems } = await openPage(plainBrowser);
  assert.match(await info(page), /^Training runs on the CPU \(WebAssembly SIMD\)\. No WebGPU here: /);
  await page.selectOption("[data-testid=engine]", "webgpu");
  assert.match(await train(page), / · CPU \(WebAssembly SIMD\) · /);
  const text = await info(page);
  console.log(`engine-info (webgpu refused): ${text}`);
  assert.match(text, /WebGPU was chosen, but it cannot run here: webgpu: .*\. Training runs on the CPU \(WebAssembly SIMD\)\.$/);
  assert.deepEqual(problems, []);
  await context.close();
});

// trainBoth trains the model file `name` for `steps` steps with the engines
// "cpu" and "webgpu" in the page (JS API) and returns, per engine, the
// losses, how it trained (Model.gpuStep), the GPU counters (gpuStats), the
// trainable parameter count, and with saveAdapter the webgpu run's adapter.
async function trainBoth(page, name, { qlora = false, steps = 20, seqLen = 16, saveAdapter = false } = {}) {
  const b64 = readFileSync(path.join(models, `${name}.gguf`)).toString("base64");
  return page.evaluate(async ([b64, qlora, steps, seqLen, saveAdapter]) => {
    const { WebTune } = await import("./webtune.js");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(12);
    const out = {};
    for (const engine of ["cpu", "webgpu"]) {
      const wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: 1, engine });
      try {
        const m = await wt.loadModel(bytes.slice(), { qlora });
        if ((await m.info()).qlora !== qlora) throw new Error(`qlora ${qlora} was not applied`);
        await m.injectLoRA({ rank: 4, alpha: 8, targets: ["attn_q", "attn_v", "ffn_up"], seed: 7 });
        const res = await (await m.train({ text, steps, batch: 1, seqLen, lr: 5e-3, seed: 5, evalEvery: 0 })).done;
        out[engine] = { state: res.state, error: res.error, losses: res.history.losses, training: wt.engine.training, gpuStep: await m.gpuStep(),
          stats: await wt.gpuStats(), trainable: (await m.summary()).trainable };
        if (saveAdapter && engine === "webgpu") {
          const a = await m.saveAdapter();
          let bin = "";
          for (let i = 0; i < a.length; i += 8192) bin += String.fromCharCode(...a.subarray(i, i + 8192));
          out.adapter = btoa(bin);
        }
      } finally {
        wt.terminate();
      }
    }
    return out;
  }, [b64, qlora, steps, seqLen, saveAdapter]);
}

// checkWholeStep asserts that the webgpu run of trainBoth trained whole
// steps on the GPU, moved exactly what a step must per step, and matched
// the CPU's losses within 1e-3 relative; it returns the worst difference.
function checkWholeStep(name, r, { steps = 20, N = 16 } = {}) {
  const { cpu, webgpu } = r;
  assert.equal(cpu.state, "done", `${name}: ${cpu.error}`);
  assert.equal(webgpu.state, "done", `${name}: ${webgpu.error}`);
  assert.equal(cpu.training, "cpu");
  assert.equal(cpu.stats, null, "the cpu engine never uses the GPU");
  assert.equal(webgpu.training, "webgpu");
  const g = webgpu.gpuStep, st = webgpu.stats.step, tr = st.train;
  assert.equal(g.on, true, `${name}: not on the GPU: ${g.reason}`);
  assert.equal(g.steps, steps, `${name}: GPU steps`);
  assert.equal(g.lastError, "");
  // the whole step: every layer recorded its dispatches; no frozen product took the per-product path
  assert.equal(st.steps, steps);
  assert.ok(tr.layers.length > 0 && tr.layers.every((d) => d >= 20), `${name}: dispatches per layer ${tr.layers}`);
  assert.equal(tr.dispatches, tr.embed + tr.head + tr.layers.reduce((a, b) => a + b, 0), `${name}: the step's dispatches are its parts'`);
  assert.equal(webgpu.stats.offloaded, 0, `${name}: products went through the per-product path`);
  assert.equal(webgpu.stats.fallbacks, 0, `${name}: ${webgpu.stats.lastError}`);
  // per step: the LoRA parameters, the token ids and targets up; the losses and LoRA gradients down
  assert.equal(g.loraFloats, webgpu.trainable, `${name}: packed LoRA floats vs trainable parameters`);
  const up = 4 * (g.loraFloats + 2 * N), down = 4 * (g.loraFloats + N);
  assert.equal(tr.bytesUploaded, up, `${name}: bytes up in the last training step`);
  assert.equal(tr.bytesReadBack, down, `${name}: bytes down in the last training step`);
  assert.equal(cpu.losses.length, steps);
  assert.equal(webgpu.losses.length, steps);
  let worst = 0;
  for (let i = 0; i < steps; i++) worst = Math.max(worst, Math.abs(webgpu.losses[i] - cpu.losses[i]) / Math.abs(cpu.losses[i]));
  console.log(`${name}: losses ${cpu.losses[0].toFixed(4)} → ${cpu.losses.at(-1).toFixed(4)} (cpu), max relative difference webgpu vs cpu ${worst.toExponential(2)}; ` +
    `per step ${tr.dispatches} dispatches (${tr.layers.join(",")} per layer, ${tr.embed} embed, ${tr.head} head), ${up} B up, ${down} B down, weights ${g.weightBytes} B`);
  assert.ok(worst < 1e-3, `${name}: losses differ by ${worst} relative`);
  assert.ok(cpu.losses.some((l, i) => l !== webgpu.losses[i]), `${name}: identical losses: was the GPU path used?`);
  return worst;
}

test("engine webgpu: whole steps on the GPU, 20 steps match the CPU engine's losses, per-step traffic is the LoRA, ids and losses only (llama Q8_0, qwen2 Q4_K, qwen3 Q8_0, gemma3 F16 windowed, qwen2 QLoRA NF4)", { timeout: 900_000 }, async () => {
  const { context, page, problems } = await openPage(gpuBrowser);
  for (const [name, qlora] of [["spm-q8-gqa", false], ["qwen2-bpe-q4k-gqa-tied", false], ["qwen3-bpe-q8-gqa-tied", false], ["gemma3-spm-f16-gqa-tied", false], ["qwen2-spm-f32-gqa", true]]) {
    const r = await trainBoth(page, name, { qlora });
    checkWholeStep(`${name}${qlora ? " (QLoRA)" : ""}`, r);
    assert.ok(r.webgpu.losses.at(-1) < r.webgpu.losses[0], `${name}: the loss did not fall on the GPU`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test("two workers with WebGPU: the GPU trains the whole batch alone, and the losses match two CPU workers", { timeout: 300_000 }, async () => {
  const { context, page, problems } = await openPage(gpuBrowser);
  const b64 = readFileSync(path.join(models, "spm-q8-gqa.gguf")).toString("base64");
  const r = await page.evaluate(async (b64) => {
    const { WebTune } = await import("./webtune.js");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(12);
    const out = {};
    for (const engine of ["cpu", "webgpu"]) {
      const wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: 2, engine });
      try {
        const m = await wt.loadModel(bytes.slice());
        await m.injectLoRA({ rank: 4, alpha: 8, targets: ["attn_q", "attn_v"], seed: 7 });
        let workers = 0;
        const res = await (await m.train({ text, steps: 6, batch: 2, seqLen: 16, lr: 5e-3, seed: 5, evalEvery: 0, onProgress: (p) => (workers = p.workers) })).done;
        out[engine] = { state: res.state, losses: res.history.losses, workers, gpuStep: await m.gpuStep(), isolated: globalThis.crossOriginIsolated };
      } finally {
        wt.terminate();
      }
    }
    return out;
  }, b64);
  assert.equal(r.cpu.isolated, true, "the test server must make the page cross-origin isolated");
  assert.equal(r.cpu.workers, 2);
  assert.equal(r.webgpu.workers, 1, "a run on the GPU trains on one worker");
  assert.equal(r.webgpu.state, "done");
  assert.equal(r.webgpu.gpuStep.on, true, r.webgpu.gpuStep.reason);
  assert.equal(r.webgpu.gpuStep.steps, 6);
  let worst = 0;
  for (let i = 0; i < 6; i++) worst = Math.max(worst, Math.abs(r.webgpu.losses[i] - r.cpu.losses[i]) / r.cpu.losses[i]);
  console.log(`1 GPU worker vs 2 CPU workers: max relative loss difference ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-3, `losses differ by ${worst}`);
  assert.deepEqual(problems, []);
  await context.close();
});

test("an adapter trained whole-step on WebGPU loads in llama.cpp, whose log-probs with it equal ours", { timeout: 600_000 }, async () => {
  const { context, page, problems } = await openPage(gpuBrowser);
  const name = "qwen3-spm-f32-gqa";
  const r = await trainBoth(page, name, { saveAdapter: true });
  checkWholeStep(name, r);
  const dir = mkdtempSync(path.join(tmpdir(), "webtune-webgpu-adapter-"));
  try {
    const adapter = path.join(dir, "gpu.adapter.gguf");
    writeFileSync(adapter, Buffer.from(r.adapter, "base64"));
    const bin = path.join(dir, "webtune");
    execFileSync(process.env.GO ?? "go", ["build", "-o", bin, "./cmd/webtune"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    const base = path.join(models, `${name}.gguf`);
    const ids = [1, 72, 105, 50, 33, 80, 90, 100, 12];
    const ours = JSON.parse(execFileSync(bin, ["generate", "--model", base, "--json", "--temperature", "0", "--max-tokens", "0",
      "--lora", `${adapter}:1`, "--tokens", ids.join(",")], { encoding: "utf8", maxBuffer: 64 << 20 })).next_logprobs;
    const theirs = await nextLogprobs(base, ids, { lora: [{ filePath: adapter, scale: 1 }] });
    const plain = await nextLogprobs(base, ids);
    let d = 0, moved = 0;
    assert.equal(ours.length, theirs.length, "vocabulary sizes differ");
    for (let i = 0; i < ours.length; i++) {
      d = Math.max(d, Math.abs(ours[i] - theirs[i]));
      moved = Math.max(moved, Math.abs(theirs[i] - plain[i]));
    }
    console.log(`${name}: the GPU-trained adapter moves llama.cpp's log-probs by up to ${moved.toFixed(4)}; ours vs llama.cpp with it ${d.toExponential(2)}`);
    assert.ok(moved > 1e-3, `the adapter barely changes llama.cpp's output (${moved})`);
    assert.ok(d <= 1e-4, `ours vs llama.cpp with the GPU-trained adapter: max |Δ log p| ${d}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems, []);
  await context.close();
});
