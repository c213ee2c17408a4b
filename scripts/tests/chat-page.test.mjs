// Chat data in the page (issue 15): an instruct-shaped model opened through
// the model-file input, pasted JSONL conversations counted as examples
// with the first one previewed (trained tokens highlighted), a run that
// teaches the fixed answer, and the Try it chat box giving it; a mixed-format
// file is refused naming its line. Desktop and phone screenshots go to
// testout/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, root } from "../lib/browser.mjs";

const shots = path.join(root, "testout", "screenshots");
const dir = mkdtempSync(path.join(tmpdir(), "webtune-chat-page-"));
const answer = '{"answer": "ok"}'; // internal/chatmodel.Answer
let server, browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  buildAll();
  execFileSync(process.env.GO ?? "go", ["run", "./internal/chatmodel/gen", dir], { cwd: root, stdio: "inherit" });
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("conversations in the page: preview of trained tokens, training, and the chat box", { timeout: 600_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1300 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  await page.setInputFiles("[data-testid=model-file]", { name: "chat-base.gguf", mimeType: "application/octet-stream", buffer: readFileSync(path.join(dir, "chat-base.gguf")) });
  await page.waitForFunction(() => globalThis.webtunePage.source?.name === "chat-base.gguf" && globalThis.webtunePage.info?.chatTemplate === true, null, { timeout: 60_000 });
  // the Try it section became a chat box
  assert.equal(await page.isVisible("[data-testid=sample-system]"), true);

  const jsonl = readFileSync(path.join(dir, "chat.jsonl"), "utf8");
  await page.setInputFiles("[data-testid=data-file]", { name: "chat.jsonl", mimeType: "application/jsonl", buffer: Buffer.from(jsonl) });
  await page.waitForFunction(() => /50 messages examples/.test(document.querySelector("[data-testid=data-stats]").textContent), null, { timeout: 30_000 });
  const stats = await page.textContent("[data-testid=data-stats]");
  assert.match(stats, /chat template: the model's own/);
  assert.match(stats, /5 held out for evaluation/);
  assert.equal(await page.inputValue("[data-testid=training-text]"), jsonl, "the JSONL is kept as it is");
  await page.click("#data-preview-box summary");
  const marked = await page.$$eval("[data-testid=data-preview] mark", (m) => m.map((x) => x.textContent));
  assert.deepEqual(marked, [`${answer}<|im_end|>`]);
  assert.match(await page.textContent("[data-testid=data-preview]"), /<\|im_start\|>assistant\n/);
  await page.screenshot({ path: path.join(shots, "chat-preview-desktop.png"), fullPage: true });

  // train as the CLI end-to-end test does
  for (const [id, v] of [["steps", "60"], ["lr", "0.01"], ["batch", "4"], ["seq-len", "96"], ["rank", "8"], ["alpha", "16"]]) {
    await page.fill(`[data-testid=${id}]`, v);
  }
  for (const box of await page.$$("#target-boxes input")) await box.check();
  await page.click("[data-testid=train]");
  await page.waitForFunction(() => document.querySelector("[data-testid=status]").textContent === "done", null, { timeout: 300_000 });
  // the chart's text alternative: "Step 60: training loss L (it started at …)"
  const said = await page.textContent("#loss-text");
  const m = /^Step 60: training loss ([0-9.e-]+)/.exec(said);
  assert.ok(m && +m[1] < 0.1, `loss on the assistant tokens after 60 steps: ${said}`);

  await page.fill("[data-testid=sample-prompt]", "Where do penguins live?");
  await page.fill("[data-testid=sample-temperature]", "0");
  await page.click("[data-testid=generate]");
  await page.waitForFunction(() => !["", "…"].includes(document.querySelector("[data-testid=sample-adapted]").textContent), null, { timeout: 60_000 });
  assert.equal(await page.textContent("[data-testid=sample-adapted]"), answer);
  assert.notEqual(await page.textContent("[data-testid=sample-base]"), answer);
  await page.screenshot({ path: path.join(shots, "chat-answer-desktop.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 900 });
  await page.screenshot({ path: path.join(shots, "chat-answer-phone.png"), fullPage: true });

  // a file mixing formats is refused with the line that differs
  const mixed = `${jsonl.split("\n")[0]}\n{"text": "plain"}\n`;
  await page.fill("[data-testid=training-text]", mixed);
  await page.waitForFunction(() => /line 2 is a text record/.test(document.querySelector("[data-testid=data-stats]").textContent), null, { timeout: 30_000 });
  assert.deepEqual(problems, []);
  await context.close();
});
