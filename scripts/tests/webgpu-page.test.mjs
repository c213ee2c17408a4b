// The page's Engine choice (auto, webgpu, cpu) in real headless Chromium:
// with WebGPU on (SwiftShader here) "auto" opens the adapter and the page
// names it, while saying honestly that the training step still runs on the
// CPU; the progress line names the engine that trains; "cpu" never opens
// WebGPU and is remembered across a reload; in a browser without WebGPU
// (--disable-gpu) a "webgpu" choice trains on the CPU and says why; the JS
// API refuses an unknown engine. With the engine "webgpu" the frozen
// products of quantized, F16 and NF4 weights run on the GPU (wasm/gpu): 20
// training steps of a llama (Q8_0), a qwen2 (Q4_K), a gemma3 (F16) and a
// qwen2 model trained as QLoRA (NF4) from internal/testmodels give the CPU engine's losses within 1e-3
// relative, with every frozen product counted on the GPU and none falling
// back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, launchWebGPU, root } from "../lib/browser.mjs";

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

test("Engine choice with WebGPU on: auto names the adapter and the CPU that trains; cpu is remembered", { timeout: 300_000 }, async () => {
  const { context, page, problems } = await openPage(gpuBrowser);
  assert.deepEqual(await page.$$eval("[data-testid=engine] option", (os) => os.map((o) => o.value)), ["auto", "webgpu", "cpu"]);
  assert.equal(await page.inputValue("[data-testid=engine]"), "auto");
  const auto = await info(page);
  console.log(`engine-info (auto): ${auto}`);
  assert.match(auto, /^Training runs on the CPU \(WebAssembly SIMD\)\. WebGPU adapter: google swiftshader\. It is opened, but with Auto the training step does not run on it yet/);
  const eng = await page.evaluate(() => globalThis.webtunePage.wt.engine);
  assert.equal(eng.choice, "auto");
  assert.equal(eng.training, "cpu");
  assert.equal(eng.gpu.available, true);
  assert.equal(eng.gpu.architecture, "swiftshader");
  assert.match(await train(page), /Step 3 of 3 .* · CPU \(WebAssembly SIMD\) · /);

  // webgpu on the built-in (float32) model: the page says nothing of it runs on the GPU
  await page.selectOption("[data-testid=engine]", "webgpu");
  await train(page);
  assert.match(await info(page), /Only the products with the frozen weights run on it, when they are quantized, F16 or NF4 \(QLoRA\); .*a model with float32 weights \(the built-in one\) trained without QLoRA runs wholly on the CPU/);
  await page.click("[data-testid=train]"); // a second run: the first step's check has answered by now
  await page.waitForFunction(() => /nothing of this model on WebGPU/.test(document.querySelector("#progress-text").textContent), null, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelector("[data-testid=status]").textContent === "done", null, { timeout: 120_000 });

  await page.selectOption("[data-testid=engine]", "cpu");
  await train(page); // a new engine starts with the new choice
  assert.equal(await info(page), "Training runs on the CPU (WebAssembly SIMD).");
  assert.equal(await page.evaluate(() => globalThis.webtunePage.wt.engine.gpu.available), false);
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

test("engine webgpu: the frozen products run on the GPU and 20 steps match the CPU engine's losses (llama Q8_0, qwen2 Q4_K, gemma3 F16, qwen2 QLoRA NF4)", { timeout: 600_000 }, async () => {
  const { context, page, problems } = await openPage(gpuBrowser);
  for (const [name, qlora] of [["spm-q8-gqa", false], ["qwen2-bpe-q4k-gqa-tied", false], ["gemma3-spm-f16-gqa-tied", false], ["qwen2-spm-f32-gqa", true]]) {
    const b64 = readFileSync(path.join(models, `${name}.gguf`)).toString("base64");
    const r = await page.evaluate(async ([b64, qlora]) => {
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
          const res = await (await m.train({ text, steps: 20, batch: 1, seqLen: 16, lr: 5e-3, seed: 5, evalEvery: 0 })).done;
          out[engine] = { state: res.state, losses: res.history.losses, training: wt.engine.training, stats: await wt.gpuStats() };
        } finally {
          wt.terminate();
        }
      }
      return out;
    }, [b64, qlora]);
    const { cpu, webgpu } = r;
    let worst = 0;
    for (let i = 0; i < cpu.losses.length; i++) worst = Math.max(worst, Math.abs(webgpu.losses[i] - cpu.losses[i]) / Math.abs(cpu.losses[i]));
    console.log(`${name}${qlora ? " (QLoRA)" : ""}: losses ${cpu.losses[0].toFixed(4)} → ${cpu.losses.at(-1).toFixed(4)} (cpu), max relative difference webgpu vs cpu ${worst.toExponential(2)}; GPU stats ${JSON.stringify(webgpu.stats)}`);
    assert.equal(cpu.state, "done", name);
    assert.equal(webgpu.state, "done", name);
    assert.equal(cpu.training, "cpu");
    assert.equal(cpu.stats, null, "the cpu engine never uses the GPU");
    assert.equal(webgpu.training, "webgpu-partial");
    assert.equal(cpu.losses.length, 20);
    assert.equal(webgpu.losses.length, 20);
    assert.ok(webgpu.stats.offloaded > 20 * 2, `${name}: only ${webgpu.stats.offloaded} products ran on the GPU`);
    assert.equal(webgpu.stats.fallbacks, 0, `${name}: ${webgpu.stats.lastError}`);
    assert.ok(webgpu.stats.dispatches >= webgpu.stats.offloaded && webgpu.stats.weightBytes > 0, `${name}: GPU counters ${JSON.stringify(webgpu.stats)}`);
    assert.ok(worst < 1e-3, `${name}: losses differ by ${worst} relative`);
    assert.ok(cpu.losses.some((l, i) => l !== webgpu.losses[i]), `${name}: identical losses: was the GPU path used?`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});
