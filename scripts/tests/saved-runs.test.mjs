// Nothing a run made is lost, in real headless Chromium: every finished or
// stopped run's adapter is kept in IndexedDB with its settings and losses,
// listed after a reload, downloads the same bytes as Download gave before
// it, can be tried in the samples and deleted. The resume offer after a
// reload: never for a run the user stopped, always the newest run, says the
// step it resumes from, and appears next to the Train controls, in view.
// Screenshots go to testout/screenshots/ (gitignored).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { buildAll, startServer, launch, root } from "../lib/browser.mjs";

const shots = path.join(root, "testout", "screenshots");
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

async function waitReady(page) {
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
}

async function settings(page, s) {
  for (const [id, v] of Object.entries(s)) await page.fill(`[data-testid=${id}]`, v);
}

const waitStatus = (page, want, timeout = 90_000) =>
  page.waitForFunction((w) => document.querySelector("[data-testid=status]").textContent === w, want, { timeout });

async function downloadBytes(page, selector) {
  const [d] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
}

test("finished and stopped runs' adapters survive a reload: listed with settings and losses, same bytes, try, delete", async () => {
  {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(server.url);
    await waitReady(page);
    // the classic attention-only choice and lr 0.002 (the page's defaults are every linear layer and 0.003)
    await settings(page, { steps: "4", batch: "2", "seq-len": "32", lr: "0.002" });
    for (const t of ["attn_k", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]) await page.uncheck(`[data-testid=target-${t}]`);
    await page.click("[data-testid=train]");
    await waitStatus(page, "done");
    const before = await downloadBytes(page, "[data-testid=download-adapter]");
    await page.waitForFunction(() => document.body.dataset.savedAdapters === "1");
    // a stopped run is kept too
    await settings(page, { steps: "2000", rank: "4", alpha: "8" });
    await page.click("[data-testid=train]");
    await page.waitForFunction(() => +document.body.dataset.step >= 2, null, { timeout: 60_000 });
    await page.click("[data-testid=stop]");
    await waitStatus(page, "idle");
    await page.waitForFunction(() => document.body.dataset.savedAdapters === "2");

    await page.reload();
    await waitReady(page);
    await page.waitForFunction(() => document.body.dataset.savedAdapters === "2");
    assert.equal(await page.isHidden("#resume-offer"), true, "a stopped run is not offered as interrupted");
    const items = page.locator("[data-testid=adapter-list] li");
    assert.equal(await items.count(), 2);
    const newest = await items.nth(0).textContent();
    const first = await items.nth(1).textContent();
    assert.match(newest, /-lora-r4\.gguf .*rank 4, alpha 8 · attn_q, attn_v · stopped at step \d+ of 2,000 · lr 0\.002 · batch 2 × 32 tokens · loss \d+\.\d{3}/);
    assert.match(first, /-lora-r8\.gguf .*rank 8, alpha 16 · attn_q, attn_v · 4 steps · lr 0\.002 · batch 2 × 32 tokens · loss \d+\.\d{3}/);
    await page.locator("[data-testid=adapter-list]").scrollIntoViewIfNeeded();
    for (const [w, h] of [[1280, 900], [390, 844]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.screenshot({ path: path.join(shots, `adapters-01-list-${w}.png`), fullPage: true });
      await page.locator("section:has(#adapter-list)").screenshot({ path: path.join(shots, `adapters-02-section-${w}.png`) });
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `page is ${overflow}px wider than the phone`);
    await page.setViewportSize({ width: 1280, height: 900 });
    const after = await downloadBytes(page, "[data-testid=adapter-list] li:nth-child(2) [data-testid=adapter-download]");
    assert.equal(after.name, before.name);
    assert.ok(after.bytes.equals(before.bytes), "the kept adapter is the bytes Download gave before the reload");

    // try it: the samples show base and adapted side by side
    await page.click("[data-testid=adapter-list] li:nth-child(2) [data-testid=adapter-try]");
    await page.waitForFunction(() => document.querySelector("#adapter-info").textContent.startsWith("Loaded"));
    await page.waitForFunction(() => document.querySelector("[data-testid=sample-adapted]").textContent.length > 20);
    assert.match(await page.textContent("#adapter-info"), /rank 8, alpha 16/);
    // delete
    await page.click("[data-testid=adapter-list] li:nth-child(1) [data-testid=adapter-delete]");
    await page.waitForFunction(() => document.body.dataset.savedAdapters === "1");
    assert.deepEqual(problems, []);
    await context.close();
  }
});

test("the resume offer: the newest run, the step it resumes from, next to the Train controls in view", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(server.url);
  await waitReady(page);
  // run A, interrupted by a reload after a checkpoint
  await settings(page, { steps: "2000", batch: "2", "seq-len": "32" });
  await page.click("[data-testid=train]");
  await page.waitForFunction(() => +(document.body.dataset.checkpointStep ?? 0) >= 5, null, { timeout: 90_000 });
  await page.reload();
  await waitReady(page);
  await page.waitForSelector("#resume-offer:not([hidden])");
  assert.match(await page.textContent("#resume-text"), /of 2,?000/);
  // the user ignores it and starts run B; the page reloads before B's first periodic checkpoint
  await settings(page, { steps: "3000", batch: "2", "seq-len": "32" });
  await page.click("[data-testid=train]");
  await page.waitForFunction(() => +(document.body.dataset.step ?? 0) >= 1 && document.body.dataset.checkpointStep !== undefined,
    null, { timeout: 60_000 });
  const first = +(await page.evaluate(() => document.body.dataset.checkpointStep));
  await page.reload();
  await waitReady(page);
  await page.waitForSelector("#resume-offer:not([hidden])");
  const text = await page.textContent("#resume-text");
  // run B's newest checkpoint (the run keeps going between the mark and the reload)
  const m = /interrupted at step (\d+) of 3,?000/.exec(text);
  assert.ok(m && +m[1] >= first, `offers run B from step ${first} or later: ${text}`);
  const saved = +m[1];
  assert.match(text, new RegExp(`Resume continues from step ${saved + 1}`));
  assert.match(await page.textContent("[data-testid=resume-run]"), new RegExp(`Resume from step ${saved + 1}`));
  // where the user is looking: in the viewport, next to the Train button
  const offer = await page.locator("#resume-offer").boundingBox();
  assert.ok(offer.y >= 0 && offer.y + offer.height <= 800, `offer at ${JSON.stringify(offer)}`);
  assert.equal(await page.evaluate(() => document.querySelector("#resume-offer").closest("section")?.id), "train-section");
  assert.equal(await page.evaluate(() => document.activeElement?.dataset?.testid), "resume-run");
  await page.screenshot({ path: path.join(shots, "resume-01-offer-1280.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator("#resume-offer").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, "resume-02-offer-390.png") });
  await page.click("[data-testid=resume-run]");
  await page.waitForFunction(() => document.body.dataset.resumedAt !== undefined);
  assert.equal(+(await page.evaluate(() => document.body.dataset.resumedAt)), saved);
  // stopped on purpose: no offer after the next reload
  await page.click("[data-testid=stop]");
  await waitStatus(page, "idle");
  await page.reload();
  await waitReady(page);
  await page.waitForTimeout(500);
  assert.equal(await page.isHidden("#resume-offer"), true, "a stopped run is not offered");
  await context.close();
});
