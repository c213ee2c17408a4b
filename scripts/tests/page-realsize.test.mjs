// A real-size model in real headless Chromium: a random-weight model of the
// SmolLM2-135M shape (576 wide, 30 layers, 49152-token vocabulary, Q8_0;
// written by scripts/bench/realsize -write) trains at seq-len 256, batch 1,
// through the JS API and through the page's model-file input. A step takes
// seconds there, so the worker must stay responsive inside it: activity
// reports arrive before the first step's progress, a memory() call made
// during the first step is answered before that step ends, Stop ends the run
// within one step, the page shows tokens/s and memory. Batch 1 on two
// workers trains on one. The adapter the page's Download adapter button
// gives loads in llama.cpp (node-llama-cpp) onto the base and changes its
// output; on the base's F32 twin llama.cpp with that adapter equals
// webtune's native forward with it within 1e-4 (scripts/lib/adaptercheck.mjs
// says why the quantized base itself is only compared there). Nothing here
// is timed: the machine may be slow.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, root } from "../lib/browser.mjs";
import { checkAdapter } from "../lib/adaptercheck.mjs";
import { close as closeLlama } from "../lib/llamacpp.mjs";

const tmp = mkdtempSync(path.join(tmpdir(), "webtune-page-realsize-"));
const modelPath = path.join(tmp, "smollm2-135m.gguf");
const f32Path = path.join(tmp, "smollm2-135m.f32.gguf"); // the same values decoded to F32
const text = "the quick brown fox jumps over the lazy dog while a small cook writes her diary. ".repeat(120);
let server, browser;

before(async () => {
  buildAll();
  execFileSync(process.env.GO ?? "go", ["run", "./scripts/bench/realsize", "-shapes", "smollm2-135m", "-write", tmp, "-f32"], { cwd: root, stdio: "inherit" });
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await closeLlama();
  await browser?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function openPage() {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
  return page;
}

test("JS API: a 135M-shaped model reports inside its steps, answers during a step, stops within one step; batch 1 trains on one worker", { timeout: 900_000 }, async () => {
  const page = await openPage();
  // the file reaches the page as a user's file would (no copy through CDP)
  await page.evaluate(() => {
    const i = document.createElement("input");
    i.type = "file";
    i.id = "realsize-file";
    document.body.append(i);
  });
  await page.setInputFiles("#realsize-file", modelPath);
  const r = await page.evaluate(async (text) => {
    const { WebTune } = await import("./webtune.js");
    const wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: 2 });
    const bytes = new Uint8Array(await document.getElementById("realsize-file").files[0].arrayBuffer());
    const m = await wt.loadModel(bytes, { transfer: true, name: "smollm2-135m.gguf" });
    const info = await m.info();
    await m.injectLoRA({ rank: 8, alpha: 16, targets: ["attn_q", "attn_v"] });
    const events = [];
    let memoryDuringStep = null;
    let run;
    const stopped = new Promise((resolve) => {
      const onActivity = (a) => {
        events.push({ kind: "activity", ...a });
        if (a.step === 1 && memoryDuringStep === null) {
          memoryDuringStep = "asked";
          wt.memory().then((mem) => {
            // answered while step 1 still runs: no progress report yet
            memoryDuringStep = { wasm: mem.wasmMemory, progressBefore: events.some((e) => e.kind === "progress") };
          });
        }
      };
      const onProgress = (p) => {
        events.push({ kind: "progress", step: p.step, tokensPerSec: p.tokensPerSec, workers: p.workers });
        if (p.step === 1) run.stop().then(resolve);
      };
      m.train({ text, steps: 3, seqLen: 256, batch: 1, evalFraction: -1, onProgress, onActivity }).then((x) => {
        run = x;
      });
    });
    while (!run) await new Promise((r) => setTimeout(r, 50));
    const config = run.config;
    const stopAnswer = await stopped;
    const res = await run.done;
    return { info, config, events, memoryDuringStep, stopAnswer, state: res.state, step: res.history.step, workers: wt.workers };
  }, text);
  assert.equal(r.info.layers, 30);
  assert.equal(r.info.vocabSize, 49152);
  assert.equal(r.workers, 2, "two workers started");
  assert.equal(r.config.workers, 1, "a micro-batch of one window trains on one worker");
  const first = r.events.findIndex((e) => e.kind === "progress");
  assert.ok(first > 0, "activity reports came before the first step's progress");
  const acts = r.events.slice(0, first);
  assert.ok(acts.every((e) => e.kind === "activity" && e.step === 1 && e.layers === 30));
  assert.ok(acts.some((e) => e.pass === "forward") && acts.some((e) => e.pass === "backward"), "both passes reported");
  assert.ok(typeof r.memoryDuringStep === "object" && r.memoryDuringStep !== null, "memory() was answered");
  assert.equal(r.memoryDuringStep.progressBefore, false, "memory() answered inside the first step");
  assert.ok(r.memoryDuringStep.wasm > 144e6, `wasm memory ${r.memoryDuringStep.wasm} holds the model`);
  const progress = r.events.filter((e) => e.kind === "progress");
  assert.ok(progress.every((p) => p.tokensPerSec > 0 && p.workers === 1));
  assert.equal(r.stopAnswer, "stopped");
  assert.equal(r.state, "stopped");
  assert.ok(r.step >= 1 && r.step <= 2, `stopped after step 1 within one step: ended at step ${r.step}`);
  await page.context().close();
});

test("page: the memory estimate before loading and the refusal of what cannot fit; the model-file input, Train shows where the step is, tokens/s and memory; Stop ends within one step; the downloaded adapter works in llama.cpp as in webtune", { timeout: 900_000 }, async (t) => {
  const page = await openPage();
  const estimate = () => page.textContent("[data-testid=memory-estimate]");
  // batch 64 of 2048 tokens cannot fit: refused from the header, before loading
  await page.fill("#seqlen", "2048");
  await page.fill("#batch", "64");
  await page.setInputFiles("[data-testid=model-file]", modelPath);
  await page.waitForFunction(() => /too large for the browser with these settings/.test(document.querySelector("[data-testid=error]").textContent),
    null, { timeout: 300_000 });
  assert.match(await estimate(), /^Too large for the browser with these settings: Training needs about [\d.]+ GB per worker/);
  assert.equal(await page.getAttribute("[data-testid=memory-estimate]", "data-fits"), "false");
  assert.ok(!(await page.textContent("#model-info")).startsWith("smollm2-135m.gguf"), "nothing was loaded");
  // settings that fit: the estimate follows them, still before loading
  await page.fill("#seqlen", "256");
  await page.fill("#batch", "1");
  await page.waitForFunction(() => /^Training will take about [\d.]+ MB of memory\./.test(document.querySelector("[data-testid=memory-estimate]").textContent),
    null, { timeout: 60_000 });
  assert.equal(await page.getAttribute("[data-testid=memory-estimate]", "data-fits"), "true");
  const mb = +(await estimate()).match(/about ([\d.]+) MB/)[1];
  assert.ok(mb > 500 && mb < 1500, `estimate ${mb} MB for the 135M shape at 256 tokens`);
  // a batch too big for this model, opened anyway: the page sets a batch of 1 on one worker
  await page.fill("#batch", "64");
  await page.waitForFunction(() => /^Too large/.test(document.querySelector("[data-testid=memory-estimate]").textContent), null, { timeout: 60_000 });
  await page.setInputFiles("[data-testid=model-file]", modelPath);
  await page.waitForFunction(() => /Set to a batch of 1 on one worker/.test(document.querySelector("[data-testid=memory-estimate]").textContent),
    null, { timeout: 120_000 });
  assert.equal(await page.inputValue("#batch"), "1");
  assert.equal(await page.inputValue("#workers"), "1");
  await page.waitForFunction(() => document.querySelector("#model-info").textContent.startsWith("smollm2-135m.gguf: llama"), null, { timeout: 300_000 });
  await page.fill("[data-testid=training-text]", text);
  await page.fill("#steps", "3");
  await page.fill("[data-testid=sample-max-tokens]", "2"); // the samples after the run: not what this test is about
  await page.click("[data-testid=train]");
  // inside the first step: the line says where the step is, the memory line moves
  await page.waitForFunction(() => /Training step 1: (forward|backward) pass, layer \d+ of 30/.test(document.querySelector("#progress-text").textContent),
    null, { timeout: 600_000 });
  await page.waitForFunction(() => /wasm \d/.test(document.querySelector("#memory").textContent), null, { timeout: 600_000 });
  await page.waitForFunction(() => +document.body.dataset.step >= 1, null, { timeout: 600_000 });
  const line = await page.textContent("#progress-text");
  assert.match(line, /^Step 1 of 3 · loss [\d.]+ · [\d,]+ tokens\/s/);
  await page.click("[data-testid=stop]");
  await page.waitForFunction(() => /^Stopped at step/.test(document.querySelector("#progress-text").textContent), null, { timeout: 600_000 });
  const stoppedAt = +(await page.textContent("#progress-text")).match(/Stopped at step (\d+)/)[1];
  assert.ok(stoppedAt >= 1 && stoppedAt <= 2, `stopped within one step of Stop: at step ${stoppedAt}`);
  assert.match(await page.textContent("#memory"), /Memory: [\d.,]+ MB in use \(wasm [\d.,]+ MB\)/);
  // the stopped run keeps its adapter: download it as a user would
  const checkStart = Date.now();
  await page.waitForSelector("[data-testid=download-adapter]:enabled", { timeout: 300_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-adapter]")]);
  assert.equal(download.suggestedFilename(), "smollm2-135m-lora-r8.gguf");
  const adapterPath = path.join(tmp, download.suggestedFilename());
  await download.saveAs(adapterPath);
  await page.context().close();
  // llama.cpp applies it (checkAdapter throws naming what differs)
  const c = await checkAdapter({ bin: path.join(root, "bin/webtune"), base: modelPath, f32base: f32Path, adapter: adapterPath, arch: "llama" });
  t.diagnostic(`quantized base: webtune vs llama.cpp ${c.quant.dAdapter.toExponential(1)} with the adapter, ${c.quant.dBase.toExponential(1)} without; ` +
    `the adapter moves llama.cpp by ${c.quant.changed.toFixed(3)}`);
  t.diagnostic(`F32 twin: webtune vs llama.cpp ${c.f32.dAdapter.toExponential(1)} with the adapter (≤ ${c.f32.limit}), ${c.f32.dBase.toExponential(1)} without; ` +
    `the adapter moves llama.cpp by ${c.f32.changed.toFixed(3)}; download and check took ${((Date.now() - checkStart) / 1000).toFixed(0)} s`);
});
