// A newcomer's first command: `git clone` the repository, then `make run`
// in it, nothing else first (no npm install, no make test). The page it
// serves must load the built-in model in real headless Chromium and train a
// short run. The clone is of the committed HEAD, so a page that depends on
// anything not committed (an npm package, a build output) fails here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, launch, root } from "../lib/browser.mjs";

const shots = path.join(root, "testout", "screenshots");
const tmp = mkdtempSync(path.join(tmpdir(), "webtune-clone-"));
const clone = path.join(tmp, "webtune");
let make, browser, log = "";

before(() => mkdirSync(shots, { recursive: true }));

const running = () => make && make.exitCode === null && make.signalCode === null;

// signal sends sig to make and the server it started: one process group (detached).
function signal(sig) {
  try {
    process.kill(-make.pid, sig);
  } catch {
    // already gone
  }
}

after(async () => {
  await browser?.close();
  if (running()) {
    const gone = new Promise((resolve) => make.once("exit", resolve));
    signal("SIGINT");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (running()) signal("SIGKILL");
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** waitServing polls url until it answers or make exits. */
async function waitServing(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!running()) throw new Error(`make run exited (${make.exitCode ?? make.signalCode}):\n${log}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`make run did not serve ${url} within ${ms / 1000} s:\n${log}`);
}

test("make run is the first command on a fresh clone: the page loads the built-in model and trains", async () => {
  execFileSync("git", ["clone", "--quiet", root, clone], { stdio: "inherit" });
  assert.equal(existsSync(path.join(clone, "scripts", "node_modules")), false, "a fresh clone has no npm packages");
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  make = spawn("make", ["run", `ADDR=${addr}`], { cwd: clone, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  make.stdout.on("data", (d) => (log += d));
  make.stderr.on("data", (d) => (log += d));
  // building the CLI and the wasm in the clone (the Go build cache is shared)
  await waitServing(`http://${addr}/`, 300_000);
  assert.match(log, new RegExp(`serving web on http://${addr.replace(/\./g, "\\.")}/`));

  browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const failed = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on("pageerror", (e) => failed.push(`pageerror: ${e.message}`));
  await page.goto(`http://${addr}/`);
  // before the model is in, Train must not look usable
  assert.equal(await page.isDisabled("[data-testid=train]"), true, "Train is disabled until a model is loaded");
  await page.waitForFunction(() => document.body.dataset.ready === "true" || document.body.dataset.bootFailed === "true",
    null, { timeout: 90_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.bootFailed), undefined,
    `the page did not start: ${await page.textContent("[data-testid=error]")}`);
  assert.match(await page.textContent("#model-info"), /^webtune-stories-1m: llama, [\d,]+ parameters/);
  assert.equal(await page.isEnabled("[data-testid=train]"), true);
  await page.screenshot({ path: path.join(shots, "fresh-clone-ready.png") });

  await page.fill("[data-testid=steps]", "2");
  await page.fill("[data-testid=batch]", "2");
  await page.fill("[data-testid=seq-len]", "32");
  await page.click("[data-testid=train]");
  await page.waitForFunction(() => document.querySelector("[data-testid=status]").textContent === "done", null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.chartPoints), "2");
  await page.waitForFunction(() => document.querySelector("[data-testid=sample-adapted]").textContent.length > 20, null, { timeout: 60_000 });
  assert.equal(await page.isHidden("[data-testid=error]"), true);
  assert.deepEqual(failed, []);
  await context.close();
});
