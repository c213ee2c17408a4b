// The page's Engine choice (auto, webgpu, cpu) in real headless Chromium:
// with WebGPU on (SwiftShader here) "auto" opens the adapter and the page
// names it, while saying honestly that the training step still runs on the
// CPU; the progress line names the engine that trains; "cpu" never opens
// WebGPU and is remembered across a reload; in a browser without WebGPU
// (--disable-gpu) a "webgpu" choice trains on the CPU and says why; the JS
// API refuses an unknown engine.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { buildAll, startServer, launch, launchWebGPU } from "../lib/browser.mjs";

let server, gpuBrowser, plainBrowser;
const FAST = { steps: "3", batch: "1", seqlen: "16" };

before(async () => {
  buildAll();
  server = await startServer();
  gpuBrowser = await launchWebGPU();
  plainBrowser = await launch();
});

after(async () => {
  await gpuBrowser?.close();
  await plainBrowser?.close();
  await server?.stop();
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
  assert.match(auto, /^Training runs on the CPU \(WebAssembly SIMD\)\. WebGPU adapter: google swiftshader\. It is opened, but the training step does not run on it yet/);
  const eng = await page.evaluate(() => globalThis.webtunePage.wt.engine);
  assert.equal(eng.choice, "auto");
  assert.equal(eng.training, "cpu");
  assert.equal(eng.gpu.available, true);
  assert.equal(eng.gpu.architecture, "swiftshader");
  assert.match(await train(page), /Step 3 of 3 .* · CPU \(WebAssembly SIMD\) · /);

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
