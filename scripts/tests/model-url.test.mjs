// Opening a model from a URL, in real headless Chromium: a local model
// server on another loopback port (so, cross-origin, as huggingface.co is)
// serves GGUF files with HTTP Range, ETag and CORS, behind a 302 redirect as
// Hugging Face's resolve/main links are. The header is read first and shown
// while the body still downloads; a connection dropped half-way resumes
// from the bytes received, and a file that changed on the server starts
// over; the bytes kept in the browser (OPFS) equal the server's; a second
// visit opens the model without a single request; delete removes it; what
// cannot load (a web page, no CORS, a 404, another architecture, a file too
// large) is refused in plain words before the download. Screenshots go to
// testout/screenshots/ (gitignored).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, root, freePort } from "../lib/browser.mjs";

const shots = path.join(root, "testout", "screenshots");
const tmp = mkdtempSync(path.join(tmpdir(), "webtune-model-url-"));
let page_server, browser, models;

const sha = (b) => createHash("sha256").update(b).digest("hex");

// The files: the built-in model; a second, different llama (the "changed"
// version of a file); the built-in model with another architecture name.
const builtin = readFileSync(path.join(root, "models", "webtune-stories-1m.gguf"));
let other;
const bloom = (() => {
  const b = Buffer.from(builtin);
  const key = Buffer.from("general.architecture");
  const at = b.indexOf(key);
  // key, then the value type (u32 8 = string), the length (u64 5), "llama"
  const v = at + key.length + 4 + 8;
  assert.equal(b.subarray(v, v + 5).toString(), "llama");
  b.write("bloom", v);
  return b;
})();

/**
 * modelServer serves GGUF files as a CDN does: Range (206 with
 * Content-Range), ETag, Last-Modified, CORS with the headers a resume
 * needs exposed, and Cross-Origin-Resource-Policy. Routes:
 *   /resolve/NAME        302 → /files/NAME (Hugging Face's resolve links)
 *   /files/NAME          the file
 * NAME picks the behaviour: builtin.gguf; stall.gguf (a body request sends a
 * fifth of its bytes, then waits for release()); drop.gguf (the first body
 * request is cut half-way); changed.gguf (cut half-way, then the file is
 * another one with another ETag); hidden.gguf (as drop.gguf, without
 * exposing Content-Range to the page); bloom.gguf; huge.gguf (the built-in
 * model's bytes, claiming to be 2 GB); page.html; nocors.gguf; missing.gguf.
 */
async function startModelServer() {
  const log = [];
  let gate;
  let gateOpen;
  const resetGate = () => {
    gate = new Promise((r) => (gateOpen = r));
  };
  resetGate();
  const cut = new Set(); // names already cut once
  const srv = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const entry = { path: url.pathname, range: req.headers.range ?? null, method: req.method, bytes: 0 };
    log.push(entry);
    const cors = !url.pathname.includes("nocors");
    if (cors) {
      res.setHeader("Access-Control-Allow-Origin", "*");
      // hidden.gguf: a server that does not expose Content-Range (the page then asks HEAD for the size)
      res.setHeader("Access-Control-Expose-Headers",
        url.pathname.includes("hidden") ? "ETag" : "Content-Range, Content-Length, ETag, Last-Modified, Accept-Ranges");
      res.setHeader("Cross-Origin-Resource-Policy", "cross-origin");
    }
    if (req.method === "OPTIONS") {
      res.setHeader("Access-Control-Allow-Headers", "Range, If-Range");
      res.writeHead(204).end();
      return;
    }
    if (url.pathname.startsWith("/resolve/")) {
      res.writeHead(302, { Location: `/files/${url.pathname.slice("/resolve/".length)}` }).end();
      return;
    }
    const name = url.pathname.replace(/^\/files\//, "");
    if (name === "page.html") {
      res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><html><body>A model card, not a model.</body></html>");
      return;
    }
    let body = builtin;
    let etag = '"v1"';
    let size = body.length;
    if (name === "bloom.gguf") body = bloom;
    else if (name === "changed.gguf" && cut.has(name)) {
      body = other;
      etag = '"v2"';
    } else if (name === "missing.gguf") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("Entry not found");
      return;
    }
    size = name === "huge.gguf" ? 2_000_000_000 : body.length;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    let start = 0;
    let end = size - 1;
    if (m) {
      start = +m[1];
      if (m[2]) end = Math.min(+m[2], size - 1);
    }
    if (start >= size) {
      res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
      return;
    }
    const head = {
      "Content-Type": "application/octet-stream",
      "Accept-Ranges": "bytes",
      ETag: etag,
      "Last-Modified": name === "changed.gguf" && cut.has(name) ? "Sun, 06 Dec 2026 01:00:00 GMT" : "Sat, 05 Dec 2026 12:00:00 GMT",
      "Content-Length": String(end - start + 1),
    };
    if (m) head["Content-Range"] = `bytes ${start}-${end}/${size}`;
    res.writeHead(m ? 206 : 200, head);
    const slice = body.subarray(start, Math.min(end + 1, body.length));
    const bodyRequest = !m || !m[2]; // an open-ended range: the download, not the header
    if (bodyRequest && name === "stall.gguf") {
      const first = Math.floor(slice.length / 5);
      res.write(slice.subarray(0, first));
      entry.bytes += first;
      await gate;
      res.end(slice.subarray(first));
      entry.bytes += slice.length - first;
      return;
    }
    if (bodyRequest && req.method === "GET" && ["drop.gguf", "changed.gguf", "hidden.gguf"].includes(name) && !cut.has(name)) {
      cut.add(name);
      const half = Math.floor(slice.length / 2);
      // close the connection once the half is sent (FIN, so what was sent arrives)
      res.write(slice.subarray(0, half), () => setTimeout(() => res.socket.end(), 50));
      entry.bytes += half;
      entry.cut = start + half;
      return;
    }
    res.end(slice);
    entry.bytes += slice.length;
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    release: () => gateOpen(),
    resetGate,
    stop: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }),
  };
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  buildAll();
  execFileSync(process.env.GO ?? "go", ["run", "./internal/testmodels", tmp], { cwd: root, stdio: "inherit" });
  other = readFileSync(path.join(tmp, "spm-f32-gqa.gguf"));
  page_server = await startServer();
  models = await startModelServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await page_server?.stop();
  await models?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function openPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(page_server.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  return { page, problems };
}

/** keptBytes returns the SHA-256 (hex) and size of each model file kept in the page's OPFS. */
function keptFiles(page) {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle("webtune-models", { create: true });
    const out = {};
    for await (const [name, h] of dir.entries()) {
      const f = await h.getFile();
      const d = new Uint8Array(await crypto.subtle.digest("SHA-256", await f.arrayBuffer()));
      out[name] = { size: f.size, sha: [...d].map((b) => b.toString(16).padStart(2, "0")).join("") };
    }
    return out;
  });
}

async function loadURL(page, url) {
  await page.fill("[data-testid=model-url]", url);
  await page.click("[data-testid=model-url-load]");
}

const state = (page) => page.evaluate(() => document.body.dataset.modelUrlState);

test("a model from a URL: header first, progress, kept in the browser, a second visit needs no network, delete", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, problems } = await openPage(context);
  // the suggested models, each with its size and licence, fill the field
  const suggested = await page.$$eval("#suggested-models li", (lis) => lis.map((li) => li.textContent));
  assert.equal(suggested.length, 5);
  assert.ok(suggested.every((s) => /about [\d.]+ (MB|GB) · architecture \w+ · licence: /.test(s)), suggested.join("\n"));
  assert.match(suggested.join("\n"), /Gemma Terms of Use/);
  // a Hugging Face page link becomes its download link; other links are taken as they are
  const links = await page.evaluate(async () => {
    const { checkURL } = await import("./modelcache.js");
    return [checkURL("https://huggingface.co/o/r/blob/main/m.gguf"), checkURL(" https://example.org/a/m.gguf ")];
  });
  assert.deepEqual(links, ["https://huggingface.co/o/r/resolve/main/m.gguf", "https://example.org/a/m.gguf"]);
  await page.click("#suggested summary");
  await page.click("#suggested-models li:first-child [data-testid=suggested-use]");
  assert.match(await page.inputValue("[data-testid=model-url]"), /^https:\/\/huggingface\.co\/.+\/resolve\/main\/.+\.gguf$/);
  await page.screenshot({ path: path.join(shots, "url-01-suggested-1280.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator("#suggested").screenshot({ path: path.join(shots, "url-01b-suggested-390.png") });
  await page.setViewportSize({ width: 1280, height: 900 });

  // Cancel stops a download and keeps nothing of it
  models.resetGate();
  await loadURL(page, `${models.url}/resolve/stall.gguf`);
  await page.waitForFunction(() => document.body.dataset.modelUrlState === "downloading", null, { timeout: 60_000 });
  await page.click("[data-testid=model-url-cancel]");
  await page.waitForFunction(() => document.body.dataset.modelUrlState === "cancelled");
  assert.match(await page.textContent("[data-testid=download-text]"), /Download cancelled/);
  assert.deepEqual(await keptFiles(page), {});
  assert.equal(await page.isEnabled("[data-testid=model-url-load]"), true);

  const before = models.log.length;
  await loadURL(page, `${models.url}/resolve/stall.gguf`);
  // the header is read and described while the body is still held back by the server
  await page.waitForFunction(() => document.body.dataset.modelUrlState === "downloading" && +(document.body.dataset.downloaded ?? 0) > 300_000,
    null, { timeout: 60_000 });
  const info = await page.textContent("[data-testid=model-url-info]");
  assert.match(info, /llama, [\d,]+ parameters, \d+ layers × \d+ wide, vocabulary [\d,]+, file 3\.8 MB\. Needs about [\d.]+ MB of memory/);
  const bar = await page.$eval("[data-testid=download-progress]", (p) => [p.value, p.max]);
  assert.equal(bar[1], builtin.length);
  assert.ok(bar[0] > 0 && bar[0] < builtin.length, `progress ${bar}`);
  assert.match(await page.textContent("[data-testid=download-text]"), /(kB|MB) of 3\.8 MB · .*\/s · .* left/);
  const header = models.log.slice(before).filter((r) => r.path === "/files/stall.gguf");
  assert.equal(header[0].range, "bytes=0-262143", "the header is asked for first, with a Range");
  assert.ok(header.length >= 2 && /^bytes=\d+-$/.test(header.at(-1).range), "then the rest, from where the header ended");
  await page.screenshot({ path: path.join(shots, "url-02-downloading-1280.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator("section:has(#model-url)").screenshot({ path: path.join(shots, "url-02b-downloading-390.png") });
  await page.setViewportSize({ width: 1280, height: 900 });
  models.release();
  await page.waitForFunction(() => document.body.dataset.modelUrlState === "loaded", null, { timeout: 60_000 });
  assert.match(await page.textContent("#model-info"), /^stall\.gguf: llama/);
  assert.equal(await page.evaluate(() => globalThis.webtunePage.source.kind), "cached");
  // every byte once: the header request's bytes are the start of the file
  const served = models.log.slice(before).filter((r) => r.path === "/files/stall.gguf").reduce((n, r) => n + r.bytes, 0);
  assert.equal(served, builtin.length);
  let kept = await keptFiles(page);
  const gguf = Object.entries(kept).find(([n]) => n.endsWith(".gguf"));
  assert.equal(gguf[1].sha, sha(builtin), "the kept bytes equal the server's");
  assert.equal(await page.locator("[data-testid=cached-models] li").count(), 1);
  assert.match(await page.textContent("[data-testid=cached-models] li"), /stall\.gguf 3\.8 MB · llama/);
  await page.screenshot({ path: path.join(shots, "url-03-loaded-1280.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();

  // a second visit: open it from the list, then from its URL; the server sees nothing
  const again = await openPage(context);
  const count = models.log.length;
  await again.page.waitForSelector("[data-testid=cached-models] li");
  await again.page.click("[data-testid=cached-models] li [data-testid=cached-open]");
  await again.page.waitForFunction(() => /^stall\.gguf: llama/.test(document.querySelector("#model-info").textContent));
  await loadURL(again.page, `${models.url}/resolve/stall.gguf`);
  await again.page.waitForFunction(() => /opened from this browser's storage/.test(document.querySelector("[data-testid=model-url-info]").textContent));
  assert.equal(models.log.length, count, `requests on the second visit: ${JSON.stringify(models.log.slice(count))}`);
  // it trains like any model, and a run on it interrupted by a reload resumes from the kept file
  await again.page.fill("[data-testid=steps]", "2000");
  await again.page.fill("[data-testid=batch]", "1");
  await again.page.fill("[data-testid=seq-len]", "16");
  await again.page.click("[data-testid=train]");
  await again.page.waitForFunction(() => +(document.body.dataset.checkpointStep ?? 0) >= 5, null, { timeout: 90_000 });
  await again.page.reload();
  await again.page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  await again.page.waitForSelector("#resume-offer:not([hidden])");
  assert.match(await again.page.textContent("#resume-text"), /A training run on stall\.gguf was interrupted at step \d+ of 2000/);
  await again.page.click("[data-testid=resume-run]");
  await again.page.waitForFunction(() => document.body.dataset.resumedAt !== undefined, null, { timeout: 60_000 });
  assert.equal(await again.page.evaluate(() => globalThis.webtunePage.source.kind), "cached");
  assert.match(await again.page.textContent("#model-info"), /^stall\.gguf: llama/);
  await again.page.click("[data-testid=stop]");
  await again.page.waitForFunction(() => document.querySelector("[data-testid=status]").textContent === "idle", null, { timeout: 60_000 });
  assert.equal(models.log.length, count, "nothing downloaded again to resume");
  // phone width
  await again.page.setViewportSize({ width: 390, height: 844 });
  const overflow = await again.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page is ${overflow}px wider than the phone`);
  await again.page.screenshot({ path: path.join(shots, "url-04-cached-390.png"), fullPage: true });
  await again.page.locator("section:has(#model-url)").screenshot({ path: path.join(shots, "url-04b-model-section-390.png") });

  // the model in use is not deleted from under the page; once another is open, it is
  await again.page.click("[data-testid=cached-models] li [data-testid=cached-delete]");
  await again.page.waitForFunction(() => /is the model in use; open another model/.test(document.querySelector("[data-testid=error]").textContent));
  await again.page.click("[data-testid=model-builtin]");
  await again.page.waitForFunction(() => globalThis.webtunePage.source.kind === "builtin" && !globalThis.webtunePage.busy);
  // delete: the list and the storage are empty
  await again.page.click("[data-testid=cached-models] li [data-testid=cached-delete]");
  await again.page.waitForFunction(() => document.querySelectorAll("[data-testid=cached-models] li").length === 0);
  kept = await keptFiles(again.page);
  assert.deepEqual(kept, {});
  assert.deepEqual(again.problems, []);
  await context.close();
});

test("a connection dropped half-way resumes from the bytes received; a file changed on the server starts over", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, problems } = await openPage(context);
  let from = models.log.length;
  await loadURL(page, `${models.url}/resolve/drop.gguf`);
  await page.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.modelUrlState), null, { timeout: 90_000 });
  assert.equal(await state(page), "loaded", await page.textContent("[data-testid=error]"));
  const reqs = models.log.slice(from).filter((r) => r.path === "/files/drop.gguf");
  const cutAt = reqs.find((r) => r.cut)?.cut;
  assert.ok(cutAt > 262144 && cutAt < builtin.length, `cut at ${cutAt}`);
  // the retry asks for the bytes after those received (bytes still in flight when the connection broke may be lost)
  const resumed = +/^bytes=(\d+)-$/.exec(reqs.at(-1).range)?.[1];
  assert.ok(resumed > 262144 && resumed <= cutAt, `resumed from ${reqs.at(-1).range}, cut at ${cutAt}`);
  assert.equal(reqs.length, 3, "the header, the cut body, the rest");
  assert.equal(reqs.reduce((n, r) => n + r.bytes, 0), builtin.length + (cutAt - resumed), "only lost bytes downloaded twice");
  let kept = await keptFiles(page);
  assert.ok(Object.values(kept).some((f) => f.sha === sha(builtin)), "bytes identical after the resume");
  assert.match(await page.textContent("#model-info"), /^drop\.gguf: llama/);

  // a server that hides Content-Range: the size from HEAD, the resume the same
  from = models.log.length;
  await loadURL(page, `${models.url}/resolve/hidden.gguf`);
  await page.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.modelUrlState) &&
    /hidden|model in use|error/.test(document.querySelector("#model-info").textContent + document.body.dataset.modelUrlState), null, { timeout: 90_000 });
  assert.equal(await state(page), "loaded", await page.textContent("[data-testid=error]"));
  const hreqs = models.log.slice(from).filter((r) => r.path === "/files/hidden.gguf");
  assert.ok(hreqs.some((r) => r.method === "HEAD"), "the size came from HEAD");
  assert.ok(hreqs.some((r) => r.cut) && +/^bytes=(\d+)-$/.exec(hreqs.at(-1).range)?.[1] > 262144, "resumed with a Range");
  kept = await keptFiles(page);
  assert.equal(Object.values(kept).filter((f) => f.sha === sha(builtin)).length, 2, "bytes identical");

  from = models.log.length;
  await loadURL(page, `${models.url}/resolve/changed.gguf`);
  await page.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.modelUrlState) &&
    /changed/.test(document.querySelector("#model-info").textContent), null, { timeout: 90_000 });
  const creqs = models.log.slice(from).filter((r) => r.path === "/files/changed.gguf");
  assert.ok(creqs.some((r) => r.range === null && r.method === "GET"), `after the change, the whole file: ${JSON.stringify(creqs.map((r) => r.range))}`);
  kept = await keptFiles(page);
  assert.ok(Object.values(kept).some((f) => f.sha === sha(other)), "the new version is kept, whole");
  assert.ok(!Object.values(kept).some((f) => f.size === builtin.length && f.sha !== sha(builtin)), "no mix of the two versions");
  const params = await page.evaluate(() => globalThis.webtunePage.info.params);
  assert.ok(params < 500_000, `the changed file's model is loaded (${params} parameters)`);
  assert.deepEqual(problems, []);
  await context.close();
});

test("what cannot load is refused in plain words, before the download", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const { page } = await openPage(context);
  const refuse = async (url, want, shot) => {
    const from = models.log.length;
    await loadURL(page, url);
    await page.waitForFunction(() => document.body.dataset.modelUrlState === "error", null, { timeout: 30_000 });
    const err = page.locator("[data-testid=error]");
    assert.match(await err.textContent(), want);
    // in view, next to the field
    const box = await err.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 844 + 1, `error box at ${JSON.stringify(box)}`);
    if (shot) await page.screenshot({ path: path.join(shots, shot) });
    await page.evaluate(() => { document.body.dataset.modelUrlState = ""; });
    // never more than the header range was asked for
    return models.log.slice(from);
  };
  await refuse("hello there", /is not a web address/);
  await refuse(`${models.url}/files/page.html`, /gives a web page, not a GGUF file/, "url-05-not-gguf-390.png");
  await refuse(`${models.url}/files/nocors.gguf`, /does not let web pages on other sites download its files \(it sends no CORS header/, "url-07-no-cors-390.png");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.locator("section:has(#model-url)").screenshot({ path: path.join(shots, "url-07b-no-cors-1280.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await refuse(`${models.url}/resolve/missing.gguf`, /answered 404 .*Check the link/);
  const bl = await refuse(`${models.url}/resolve/bloom.gguf`, /This model cannot be used here/, "url-06-unsupported-390.png");
  assert.ok(bl.filter((r) => r.path === "/files/bloom.gguf").every((r) => /^bytes=\d+-\d+$/.test(r.range)), "only header ranges");
  // the technical detail sits behind a toggle
  assert.match(await page.textContent("[data-testid=error] details"), /architecture "bloom"/);
  const huge = await refuse(`${models.url}/resolve/huge.gguf`, /too large for the browser\. The file is 1\.9 GB; the page accepts at most 1\.5 GB/);
  assert.ok(huge.filter((r) => r.path === "/files/huge.gguf").every((r) => /^bytes=\d+-\d+$/.test(r.range)), "only header ranges");
  assert.match(await page.textContent("[data-testid=model-url-info]"), /huge\.gguf \(webtune-stories-1m\): llama, .* file 2\.00 GB\. Cannot be loaded here/);
  // the page still works on the built-in model
  assert.equal(await page.evaluate(() => globalThis.webtunePage.source.kind), "builtin");

  // the JS API: WebTune.loadURL reports the header and the progress, keeps
  // the file, and a second call needs no network
  const from = models.log.length;
  const api = await page.evaluate(async (url) => {
    const wt = globalThis.webtunePage.wt;
    const seen = { info: null, progress: 0 };
    const m = await wt.loadURL(url, { onInfo: (i) => (seen.info = i), onProgress: (p) => (seen.progress = p.received) });
    const info = await m.info();
    await m.dispose();
    let refused = "";
    try {
      await wt.loadURL(url.replace("builtin", "huge"));
    } catch (e) {
      refused = e.message;
    }
    return { seen, info, refused };
  }, `${models.url}/resolve/builtin.gguf`);
  assert.equal(api.seen.info.architecture, "llama");
  assert.equal(api.seen.progress, builtin.length);
  assert.equal(api.info.name, "builtin.gguf");
  assert.match(api.refused, /too large for the browser\. The file is 1\.9 GB/);
  const count = models.log.length;
  assert.ok(count > from);
  const again = await page.evaluate(async (url) => {
    const m = await globalThis.webtunePage.wt.loadURL(url);
    const info = await m.info();
    await m.dispose();
    return info.params;
  }, `${models.url}/resolve/builtin.gguf`);
  assert.equal(again, api.info.params);
  assert.equal(models.log.length, count, "the second loadURL opens the kept copy");
  await context.close();
});
