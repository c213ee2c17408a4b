// The page as a newcomer meets it, in real headless Chromium: what the
// built-in model is for, a default run whose adapter visibly changes the
// samples, a held-out window or a plain "no held-out loss", sampling
// settings, refusals and warnings next to the control that caused them and
// inside the viewport (with technical detail behind a toggle), the page's own
// files failing to load, and the accessibility of a run (a throttled live
// region, focus kept, the chart in words). Screenshots of each state at
// desktop (1280) and phone (390) width go to testout/screenshots/page-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAll, freePort, startServer, launch, root } from "../lib/browser.mjs";

const shots = path.join(root, "testout", "screenshots");
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
let server, browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  buildAll();
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** open opens the page at viewport; route(page) may intercept requests first. */
async function open(viewport = DESKTOP, { route, ready = true } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  if (route) await route(page);
  await page.goto(server.url);
  if (ready) await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  return { context, page, requests };
}

/** inViewport reports whether the element of sel is visible and wholly inside the viewport. */
const inViewport = (page, sel) => page.$eval(sel, (el) => {
  const r = el.getBoundingClientRect();
  return !el.hidden && r.height > 0 && r.top >= -1 && r.bottom <= innerHeight + 1 && r.left >= -1 && r.right <= innerWidth + 1;
});

const shot = (page, name) => page.screenshot({ path: path.join(shots, `page-${name}.png`) });

/** shots2 takes the state at desktop width, then at phone width (the page reflowed), then goes back. */
async function shots2(page, name, sel) {
  const size = page.viewportSize();
  for (const [w, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(viewport);
    if (sel) await page.locator(sel).first().scrollIntoViewIfNeeded();
    await shot(page, `${name}-${w}`);
  }
  await page.setViewportSize(size);
}
const status = (page) => page.textContent("[data-testid=status]");
const waitStatus = (page, want, timeout = 120_000) =>
  page.waitForFunction((w) => document.querySelector("[data-testid=status]").textContent === w, want, { timeout });

/** errorShown waits for the error box next to control and checks it is in view and focused. */
async function errorShown(page, control, pattern) {
  await page.waitForFunction((c) => {
    const e = document.querySelector("[data-testid=error]");
    return !e.hidden && e.dataset.control === c;
  }, control, { timeout: 30_000 });
  const msg = await page.textContent("[data-testid=error] .error-message");
  assert.match(msg, pattern);
  // a moment for the scroll, then: in the viewport, focused, next to its control
  await page.waitForFunction(() => document.activeElement?.dataset?.testid === "error");
  assert.equal(await inViewport(page, "[data-testid=error]"), true, `the error "${msg}" is outside the viewport`);
  const near = await page.$eval("[data-testid=error]", (e, c) => {
    const ctl = document.getElementById(c);
    const a = ctl.getBoundingClientRect();
    const b = e.getBoundingClientRect();
    return Math.min(Math.abs(b.top - a.bottom), Math.abs(a.top - b.bottom));
  }, control);
  assert.ok(near < 200, `the error is ${near}px from #${control}`);
  return msg;
}

test("the default run on the built-in model: a note on what it is for, a held-out window, samples that change; a11y of the run", async () => {
  for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    const { context, page } = await open(viewport);
    assert.match(await page.textContent("[data-testid=builtin-note]"), /children.s stories.*cannot\s+learn just any text/s);
    assert.equal(await page.isVisible("[data-testid=builtin-note]"), true);
    await page.waitForFunction(() => /held out for evaluation/.test(document.querySelector("[data-testid=data-stats]").textContent));
    await shot(page, `ready-${name}`);
    await context.close();
  }

  const { context, page, requests } = await open(DESKTOP);
  // the default text holds out a window (one tenth would be less than one)
  await page.waitForFunction(() => /held out for evaluation/.test(document.querySelector("[data-testid=data-stats]").textContent));
  const stats = await page.textContent("[data-testid=data-stats]");
  const held = +/(\d+) held out for evaluation/.exec(stats)[1];
  assert.ok(held >= 1, stats);
  // a live region that hears about the run at most every 2 s
  await page.focus("[data-testid=train]");
  await page.evaluate(() => {
    globalThis.announced = [];
    new MutationObserver(() => announced.push([performance.now(), document.querySelector("[data-testid=progress-announce]").textContent]))
      .observe(document.querySelector("[data-testid=progress-announce]"), { childList: true, characterData: true, subtree: true });
    globalThis.bodyFocus = 0;
    globalThis.focusTimer = setInterval(() => { if (document.activeElement === document.body) bodyFocus++; }, 20);
  });
  assert.equal(await page.$eval("[data-testid=progress-text]", (p) => p.getAttribute("aria-live")), null, "the per-step line is not live");
  // the default settings, started from the keyboard
  await page.keyboard.press("Enter");
  await waitStatus(page, "training", 60_000);
  await shots2(page, "training", "[data-testid=progress]");
  await waitStatus(page, "done");
  await page.waitForFunction(() => document.querySelector("[data-testid=sample-adapted]").textContent.length > 40 &&
    !document.querySelector("[data-testid=sample-adapted]").textContent.startsWith("…"), null, { timeout: 60_000 });
  await page.waitForTimeout(2500); // the last announcement
  const a11y = await page.evaluate(() => {
    clearInterval(focusTimer);
    return { announced, bodyFocus, active: document.activeElement?.id };
  });
  assert.equal(a11y.bodyFocus, 0, "focus dropped to <body> during the run");
  assert.notEqual(a11y.active, undefined);
  assert.ok(a11y.announced.length >= 2, `announcements: ${JSON.stringify(a11y.announced)}`);
  for (let i = 1; i < a11y.announced.length; i++) {
    const gap = a11y.announced[i][0] - a11y.announced[i - 1][0];
    assert.ok(gap >= 1900, `announcements ${gap.toFixed(0)} ms apart: ${JSON.stringify(a11y.announced.slice(i - 1, i + 1))}`);
  }
  assert.match(a11y.announced.at(-1)[1], /Step 60 of 60 .* finished\./);
  // the chart in words
  assert.match(await page.textContent("[data-testid=loss-text]"), /^Step 60: training loss \d+\.\d{3} \(it started at \d+\.\d{3}\)\. Held-out loss \d+\.\d{3} at step \d+\./);
  // the default run visibly changes the samples
  const base = await page.textContent("[data-testid=sample-base]");
  const adapted = await page.textContent("[data-testid=sample-adapted]");
  assert.notEqual(adapted, base, "the default run left the sample unchanged");
  console.log(`# default run, same prompt and seed:\n#   base:    ${base}\n#   adapted: ${adapted}`);
  await shots2(page, "done", "[data-testid=loss-chart]");
  await shots2(page, "done-samples", "[data-testid=sample-adapted]");

  // sampling settings: another seed, other text; max tokens bounds the length
  assert.deepEqual(await Promise.all(["temperature", "top-p", "max-tokens", "seed"].map((k) => page.inputValue(`[data-testid=sample-${k}]`))),
    ["0.8", "1", "60", "7"]);
  await page.fill("[data-testid=sample-seed]", "8");
  await page.click("[data-testid=generate]");
  await page.waitForFunction((b) => { const t = document.querySelector("[data-testid=sample-base]").textContent; return t !== b && !t.startsWith("…"); }, base);
  assert.notEqual(await page.textContent("[data-testid=sample-base]"), base, "another seed gave the same text");
  await page.fill("[data-testid=sample-temperature]", "0");
  await page.fill("[data-testid=sample-max-tokens]", "3");
  await page.click("[data-testid=generate]");
  await page.waitForFunction(() => { const t = document.querySelector("[data-testid=sample-adapted]").textContent; return !t.startsWith("…") && t.length < 60; });
  const greedy = await page.textContent("[data-testid=sample-base]");
  await page.fill("[data-testid=sample-seed]", "9");
  await page.click("[data-testid=generate]");
  await page.waitForFunction(() => !document.querySelector("[data-testid=sample-adapted]").textContent.startsWith("…"));
  assert.equal(await page.textContent("[data-testid=sample-base]"), greedy, "temperature 0 does not depend on the seed");
  // a bad sampling setting is refused next to it
  await page.fill("[data-testid=sample-temperature]", "9");
  await page.click("[data-testid=generate]");
  await errorShown(page, "sample-temperature", /Temperature must be a number from 0 to 2/);

  // the plain serve page never asks for the adapter store
  assert.deepEqual(requests.filter((u) => u.includes("/api/adapters")), []);
  await context.close();
});

test("refusals and warnings appear next to the control that caused them, inside the viewport", async () => {
  for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    const { context, page } = await open(viewport);
    const ctx = await page.evaluate(() => globalThis.webtunePage.info.contextLength);
    // sequence length above the model's context: refused at Train, next to the setting
    await page.fill("[data-testid=seq-len]", String(ctx * 16));
    await page.evaluate(() => scrollTo(0, document.body.scrollHeight));
    await page.click("[data-testid=train]");
    await errorShown(page, "seqlen", new RegExp(`longer than this model's context of ${ctx} tokens`));
    assert.equal(await status(page), "idle");
    await shot(page, `error-seqlen-${name}`);
    await page.fill("[data-testid=seq-len]", "64");

    // a picture opened as training data is refused; the text stays
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2000, 0xfe)]);
    const before = await page.inputValue("[data-testid=training-text]");
    await page.evaluate(() => scrollTo(0, document.body.scrollHeight));
    await page.setInputFiles("[data-testid=data-file]", { name: "photo.png", mimeType: "image/png", buffer: png });
    await errorShown(page, "data-file", /"photo\.png" is not a text file/);
    assert.equal(await page.inputValue("[data-testid=training-text]"), before);
    // text with NUL bytes (valid UTF-8, still binary)
    await page.setInputFiles("[data-testid=data-file]", { name: "dump.txt", mimeType: "text/plain", buffer: Buffer.from("abc\u0000\u0001\u0002def".repeat(50)) });
    await errorShown(page, "data-file", /"dump\.txt" is not a text file: it holds binary data/);
    await shot(page, `error-data-${name}`);

    // a corrupt adapter file: an adapter is not "a GGUF model file"; the detail is behind a toggle
    await page.evaluate(() => scrollTo(0, 0));
    const junk = Buffer.concat([Buffer.from("GGUF"), Buffer.from([3, 0, 0, 0]), Buffer.alloc(64, 0xff)]);
    await page.setInputFiles("[data-testid=adapter-file]", { name: "my-adapter.gguf", mimeType: "application/octet-stream", buffer: junk });
    const msg = await errorShown(page, "adapter-file", /not a LoRA adapter webtune can read/);
    assert.doesNotMatch(msg, /model file|gguf:/);
    assert.equal(await page.isVisible("[data-testid=error] details pre"), false, "the detail starts folded");
    await page.click("[data-testid=error] summary");
    assert.match(await page.textContent("[data-testid=error] details pre"), /gguf/);
    await shot(page, `error-adapter-${name}`);
    await context.close();
  }

  // likely mistakes are warned about, with the reason, and do not stop a run
  const { context, page } = await open(DESKTOP);
  await page.fill("[data-testid=lr]", "1000");
  await page.waitForSelector("[data-testid=warn-lr]");
  assert.match(await page.textContent("[data-testid=warn-lr]"), /outside the usual 0\.000001 to 0\.1: training will most likely diverge/);
  await page.fill("[data-testid=lr]", "0.002");
  await page.waitForSelector("[data-testid=warn-lr]", { state: "detached" });
  // three words: one short window, fewer than the batch, repeated far too often, and no held-out loss
  await page.fill("[data-testid=training-text]", "The blue boat.");
  await page.waitForSelector("[data-testid=warn-batch]");
  assert.match(await page.textContent("[data-testid=warn-batch]"), /only 1 training window of \d+ tokens, fewer than the batch of 4/);
  assert.match(await page.textContent("[data-testid=warn-steps]"), /60 steps of 4 windows go over this text about 240 times/);
  assert.match(await page.textContent("[data-testid=data-stats]"), /no held-out \(evaluation\) loss/);
  await shots2(page, "warnings", "[data-testid=warn-steps]");
  await page.fill("[data-testid=steps]", "2");
  await page.waitForSelector("[data-testid=warn-steps]", { state: "detached" });
  await page.click("[data-testid=train]");
  await waitStatus(page, "done");
  // no eval curve promised: the legend and the chart's words say so
  assert.match(await page.textContent("#loss-legend"), /No held-out evaluation/);
  assert.match(await page.textContent("[data-testid=loss-text]"), /No held-out loss/);
  await context.close();
});

/** serveWith runs `bin/webtune serve` with extra flags on a free port: {url, stop()}. */
async function serveWith(args) {
  const port = await freePort();
  const proc = spawn(path.join(root, "bin/webtune"), ["serve", "--addr", `127.0.0.1:${port}`, ...args], { cwd: root, stdio: "ignore" });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => new Promise((resolve) => (proc.exitCode !== null ? resolve() : (proc.once("exit", resolve), proc.kill("SIGINT")))) };
}

test("the page's own files failing to load: a plain error in view, Train never looks usable", async () => {
  // a page without its worker, and a wasm file that is not one, served as they would be by mistake
  const broken = mkdtempSync(path.join(tmpdir(), "webtune-broken-"));
  cpSync(path.join(root, "web"), path.join(broken, "web"), { recursive: true });
  rmSync(path.join(broken, "web", "trainer.worker.js"));
  writeFileSync(path.join(broken, "bad.wasm"), "this is not WebAssembly");
  const cases = [
    ["a page module", [], (p) => p.route("**/page/chart.js", (r) => r.fulfill({ status: 404, body: "not found" })),
      /The page could not start: app\.js \(or a module it imports\) did not load/],
    ["the engine", ["--wasm", path.join(broken, "bad.wasm")], null, /The training engine did not start/],
    ["the worker", ["--dir", path.join(broken, "web")], null, /The training engine did not start/],
  ];
  try {
    for (const [what, args, route, pattern] of cases) {
      const srv = await serveWith(args);
      const context = await browser.newContext({ viewport: DESKTOP });
      const page = await context.newPage();
      if (route) await route(page);
      await page.goto(srv.url);
      await page.waitForFunction(() => !document.querySelector("[data-testid=error]").hidden, null, { timeout: 60_000 });
      assert.match(await page.textContent("[data-testid=error]"), pattern, what);
      assert.equal(await inViewport(page, "[data-testid=error]"), true, `${what}: the error is out of view`);
      assert.equal(await page.isDisabled("[data-testid=train]"), true, `${what}: Train looks usable`);
      assert.equal(await page.isDisabled("[data-testid=generate]"), true, `${what}: Generate looks usable`);
      assert.equal(await page.isDisabled("[data-testid=model-builtin]"), true, `${what}: loading a model looks possible`);
      assert.equal(await status(page), "error");
      assert.match(await page.textContent("#model-info"), /No model loaded/);
      await shots2(page, `boot-failed-${what.replace(/ /g, "-")}`);
      await context.close();
      await srv.stop();
    }
  } finally {
    rmSync(broken, { recursive: true, force: true });
  }
});
