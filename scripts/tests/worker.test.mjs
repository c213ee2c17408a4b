// The Cloudflare Worker (wasm/worker, issue 9) end to end under `wrangler dev`
// 4.86.0, offline on loopback with a local R2 simulation (docs/oracles.md):
// the page's assets; publish → list → download gives identical bytes; every
// refusal returns its status and leaves the store unchanged; concurrent
// uploads of different names all land; a conditional put lets one upload of a
// name win; list and download latency (median, p99) over a bounded local load;
// the page served by the Worker trains in headless Chromium, publishes through
// web/store.js and loads the published adapter back (screenshot in
// testout/screenshots/worker-page.png). Issue 16: multi-range and malformed
// Range headers, NaN weights, foreign tensor names, oversized metadata and long
// names are answered alike by the Worker and by the memory store (the native
// debug server, go run ./wasm/worker, started here on loopback too); a soak of
// concurrent uploads, overwrites, deletes, lists and Range GETs against both
// asserts that every 200/206 body is the version its ETag names and that
// nothing is 5xx (WEBTUNE_SOAK_SECONDS per server, default 5; make soak: 30).
//
// Run from the repository root: node --test scripts/tests/worker.test.mjs
// WEBTUNE_WORKER_BUILT=1 skips scripts/worker-build.sh (build/worker must exist).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../lib/browser.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wranglerBin = path.join(root, "scripts/node_modules/.bin/wrangler");
const token = "e2e-" + createHash("sha256").update(String(process.pid)).digest("hex").slice(0, 24);
const maxBytes = 256 << 10; // MAX_ADAPTER_BYTES for the test, so "oversize" stays small
let dir, proc, base, log = "";
let nativeProc, nativeBase, nativeLog = ""; // the memory store behind go run ./wasm/worker

// ---- A GGUF v3 writer of our own (independent of package gguf) ----

const T = { UINT32: 4, FLOAT32: 6, STRING: 8 };

/** gguf writes {kvs: [[key, type, value]], tensors: [{name, dims, data: Float32Array}]} (F32 tensors, alignment 32). */
function gguf({ kvs, tensors }) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { const b = Buffer.from(s, "utf8"); u64(b.length); parts.push(b); };
  parts.push(Buffer.from("GGUF"));
  u32(3);
  u64(tensors.length);
  u64(kvs.length);
  for (const [k, t, v] of kvs) {
    str(k);
    u32(t);
    if (t === T.STRING) str(v);
    else if (t === T.UINT32) u32(v);
    else if (t === T.FLOAT32) { const b = Buffer.alloc(4); b.writeFloatLE(v); parts.push(b); }
  }
  let off = 0;
  for (const t of tensors) {
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(0); // F32
    u64(off);
    off += Math.ceil((t.data.length * 4) / 32) * 32;
  }
  let head = Buffer.concat(parts);
  head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
  const data = Buffer.alloc(off);
  off = 0;
  for (const t of tensors) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(data, off);
    off += Math.ceil((t.data.length * 4) / 32) * 32;
  }
  return Buffer.concat([head, data]);
}

function randn(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.04;
  }
  return a;
}

const adapterKVs = (alpha = 16) => [
  ["general.architecture", T.STRING, "llama"],
  ["general.type", T.STRING, "adapter"],
  ["adapter.type", T.STRING, "lora"],
  ["adapter.lora.alpha", T.FLOAT32, alpha],
];

/** adapter returns a llama.cpp-style LoRA adapter (docs/llamacpp-lora.md): attn_q, attn_v of `layers` layers, n_embd 64. */
function adapter({ rank = 8, layers = 2, seed = 1, kvs = adapterKVs(), extra = [] } = {}) {
  const tensors = [];
  for (let l = 0; l < layers; l++) {
    for (const m of ["attn_q", "attn_v"]) {
      const b = `blk.${l}.${m}.weight`;
      tensors.push({ name: `${b}.lora_a`, dims: [64, rank], data: randn(64 * rank, seed + l) });
      tensors.push({ name: `${b}.lora_b`, dims: [rank, 64], data: randn(64 * rank, seed + 100 + l) });
    }
  }
  return gguf({ kvs, tensors: [...tensors, ...extra] });
}

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

// ---- HTTP helpers: node:http sends paths exactly as given (fetch would normalise "..") ----

function request(method, rawPath, { body, headers = {}, server = base } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(server);
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: rawPath, headers: { ...headers, ...(body ? { "content-length": body.length } : {}) }, agent },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const auth = (t = token) => ({ authorization: `Bearer ${t}` });
const json = (r) => JSON.parse(r.body.toString("utf8"));

/** snapshot lists the whole store (following cursors) with each adapter's downloaded SHA-256. */
async function snapshot() {
  const out = [];
  let cursor = "";
  for (;;) {
    const r = await request("GET", `/api/adapters?limit=7${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
    assert.equal(r.status, 200, r.body.toString());
    const page = json(r);
    for (const a of page.adapters) {
      const d = await request("GET", `/api/adapters/${a.name}`);
      out.push(`${a.name} ${a.size} ${a.sha256} ${a.created} ${sha256(d.body)}`);
    }
    if (!page.cursor) return out;
    cursor = page.cursor;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- wrangler dev lifecycle ----

before(async () => {
  if (process.env.WEBTUNE_WORKER_BUILT !== "1" || !existsSync(path.join(root, "build/worker/app.wasm"))) {
    execFileSync("bash", [path.join(root, "scripts/worker-build.sh")], { cwd: root, stdio: "inherit" });
  }
  // A private copy of wrangler.toml with absolute paths, so .wrangler/ state and .dev.vars stay in a temp dir.
  dir = mkdtempSync(path.join(tmpdir(), "webtune-worker-"));
  const conf = readFileSync(path.join(root, "wrangler.toml"), "utf8").replaceAll('"build/worker/', `"${root}/build/worker/`);
  writeFileSync(path.join(dir, "wrangler.toml"), conf);
  writeFileSync(path.join(dir, ".dev.vars"), `ADAPTER_TOKEN=${token}\n`);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(
    wranglerBin,
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", path.join(dir, "state"),
      "--var", `MAX_ADAPTER_BYTES:${maxBytes}`, "--log-level", "warn", "--show-interactive-dev-session=false"],
    {
      cwd: dir,
      detached: true, // its own process group: wrangler and workerd are killed together
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
    },
  );
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  // The native debug server (memory store), built once, on its own loopback port.
  const nativeBin = path.join(dir, "worker-native");
  execFileSync("go", ["build", "-o", nativeBin, "./wasm/worker"], { cwd: root, stdio: "inherit" });
  const nativePort = await freePort();
  nativeBase = `http://127.0.0.1:${nativePort}`;
  nativeProc = spawn(nativeBin, [], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ADDR: `127.0.0.1:${nativePort}`, ADAPTER_TOKEN: token, MAX_ADAPTER_BYTES: String(maxBytes), WEB_DIR: "web" },
  });
  nativeProc.stdout.on("data", (d) => (nativeLog += d));
  nativeProc.stderr.on("data", (d) => (nativeLog += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (nativeProc.exitCode !== null) throw new Error(`go run ./wasm/worker exited ${nativeProc.exitCode}:\n${nativeLog}`);
    try {
      if ((await request("GET", "/api/adapters", { server: nativeBase })).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the native debug server did not start in 60 s:\n${nativeLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`wrangler dev exited ${proc.exitCode}:\n${log}`);
    try {
      const r = await request("GET", "/api/adapters");
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not start in 60 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  agent.destroy();
  if (nativeProc && nativeProc.exitCode === null) {
    const exited = new Promise((r) => nativeProc.once("exit", r));
    nativeProc.kill("SIGTERM");
    await exited;
  }
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once("exit", r));
    try { process.kill(-proc.pid, "SIGTERM"); } catch { /* gone */ }
    const timer = setTimeout(() => { try { process.kill(-proc.pid, "SIGKILL"); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(timer);
    try { process.kill(-proc.pid, "SIGKILL"); } catch { /* group empty */ }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- tests ----

test("serves the page with the right types and revalidation", async () => {
  const page = await request("GET", "/");
  assert.equal(page.status, 200);
  assert.match(page.headers["content-type"], /^text\/html/);
  // cross-origin isolated (SharedArrayBuffer for the training workers)
  assert.equal(page.headers["cross-origin-opener-policy"], "same-origin");
  assert.equal(page.headers["cross-origin-embedder-policy"], "require-corp");
  for (const [p, type] of [["/wasm_exec.js", /javascript/], ["/webtune.js", /javascript/], ["/store.js", /javascript/]]) {
    const r = await request("GET", p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers["content-type"], type, p);
  }
  if (existsSync(path.join(root, "build/worker/public/webtune.wasm"))) {
    const w = await request("GET", "/webtune.wasm");
    assert.equal(w.status, 200);
    assert.equal(w.headers["content-type"], "application/wasm");
    assert.ok(w.headers.etag, "wasm without ETag");
    assert.match(w.headers["cache-control"] ?? "", /max-age=0, must-revalidate|no-cache/);
    const again = await request("GET", "/webtune.wasm", { headers: { "if-none-match": w.headers.etag } });
    assert.equal(again.status, 304);
  }
  const dot = await request("GET", "/.dev.vars");
  assert.notEqual(dot.status, 200);
});

test("publish → list → download gives identical bytes", async () => {
  const data = adapter({ rank: 8, seed: 3 });
  const put = await request("PUT", "/api/adapters/e2e-first.gguf", { body: data, headers: auth() });
  assert.equal(put.status, 201, put.body.toString());
  const meta = json(put);
  assert.deepEqual(
    { ...meta, created: undefined },
    { name: "e2e-first.gguf", size: data.length, sha256: sha256(data), architecture: "llama", rank: 8, ranks: [8], alpha: 16,
      targets: ["attn_q", "attn_v"], pairs: 4, created: undefined },
  );
  const list = json(await request("GET", "/api/adapters"));
  const entry = list.adapters.find((a) => a.name === "e2e-first.gguf");
  assert.deepEqual(entry, meta);
  const got = await request("GET", "/api/adapters/e2e-first.gguf");
  assert.equal(got.status, 200);
  assert.ok(got.body.equals(data), "downloaded bytes differ");
  assert.equal(got.headers["content-disposition"], 'attachment; filename="e2e-first.gguf"');
  assert.equal(got.headers.etag, `"${sha256(data)}"`);
  const range = await request("GET", "/api/adapters/e2e-first.gguf", { headers: { range: "bytes=100-199" } });
  assert.equal(range.status, 206);
  assert.equal(range.headers["content-range"], `bytes 100-199/${data.length}`);
  assert.ok(range.body.equals(data.subarray(100, 200)));
  const tail = await request("GET", "/api/adapters/e2e-first.gguf", { headers: { range: "bytes=-64" } });
  assert.equal(tail.status, 206);
  assert.ok(tail.body.equals(data.subarray(data.length - 64)));
  const bad = await request("GET", "/api/adapters/e2e-first.gguf", { headers: { range: `bytes=${data.length}-` } });
  assert.equal(bad.status, 416);
  const cached = await request("GET", "/api/adapters/e2e-first.gguf", { headers: { "if-none-match": got.headers.etag } });
  assert.equal(cached.status, 304);

  const data2 = adapter({ rank: 4, seed: 9 });
  const over = await request("PUT", "/api/adapters/e2e-first.gguf?overwrite=1", { body: data2, headers: auth() });
  assert.equal(over.status, 201, over.body.toString());
  assert.ok((await request("GET", "/api/adapters/e2e-first.gguf")).body.equals(data2));
  assert.equal((await request("DELETE", "/api/adapters/e2e-first.gguf", { headers: auth() })).status, 204);
  assert.equal((await request("GET", "/api/adapters/e2e-first.gguf")).status, 404);
});

test("every refusal returns its status and leaves the store unchanged", async () => {
  const existing = adapter({ rank: 4, seed: 5 });
  assert.equal((await request("PUT", "/api/adapters/existing", { body: existing, headers: auth() })).status, 201);
  const good = adapter({ rank: 2, seed: 6 });
  const model = gguf({
    kvs: [["general.architecture", T.STRING, "llama"], ["general.type", T.STRING, "model"], ["llama.block_count", T.UINT32, 1]],
    tensors: [{ name: "token_embd.weight", dims: [64, 32], data: randn(64 * 32, 1) }, { name: "blk.0.attn_q.weight", dims: [64, 64], data: randn(64 * 64, 2) }],
  });
  const unpaired = gguf({ kvs: adapterKVs(), tensors: [{ name: "blk.0.attn_q.weight.lora_a", dims: [64, 4], data: randn(256, 1) }] });
  const oddSuffix = adapter({ extra: [{ name: "rope_freqs.weight", dims: [32], data: randn(32, 1) }] });
  const big = Buffer.concat([good, Buffer.alloc(maxBytes)]);
  const cases = [
    ["no token", "PUT", "/api/adapters/new", good, {}, [401]],
    ["wrong token", "PUT", "/api/adapters/new", good, auth(token + "x"), [403]],
    ["basic auth", "PUT", "/api/adapters/new", good, { authorization: "Basic dTpw" }, [401]],
    ["delete without token", "DELETE", "/api/adapters/existing", undefined, {}, [401]],
    ["delete wrong token", "DELETE", "/api/adapters/existing", undefined, auth("nope"), [403]],
    ["oversize", "PUT", "/api/adapters/new", big, auth(), [413]],
    ["not GGUF", "PUT", "/api/adapters/new", Buffer.from("this is not a gguf file, just text"), auth(), [415]],
    ["a model", "PUT", "/api/adapters/new", model, auth(), [415]],
    ["malformed (truncated)", "PUT", "/api/adapters/new", good.subarray(0, good.length - 9), auth(), [400]],
    ["malformed (half a pair)", "PUT", "/api/adapters/new", unpaired, auth(), [400]],
    ["malformed (odd tensor)", "PUT", "/api/adapters/new", oddSuffix, auth(), [400]],
    ["empty body", "PUT", "/api/adapters/new", Buffer.alloc(0), auth(), [400]],
    ["overwrite without the flag", "PUT", "/api/adapters/existing", good, auth(), [409]],
    ["upper case", "PUT", "/api/adapters/New", good, auth(), [400]],
    ["leading dot", "PUT", "/api/adapters/.hidden", good, auth(), [400]],
    ["contains ..", "PUT", "/api/adapters/a..b", good, auth(), [400]],
    ["escaped slash", "PUT", "/api/adapters/a%2Fb", good, auth(), [400]],
    ["backslash", "PUT", "/api/adapters/a%5Cb", good, auth(), [400]],
    ["unicode é", "PUT", "/api/adapters/caf%C3%A9", good, auth(), [400]],
    ["fullwidth a", "PUT", "/api/adapters/%EF%BD%81", good, auth(), [400]],
    ["RTL override", "PUT", "/api/adapters/%E2%80%AEa", good, auth(), [400]],
    ["NUL", "PUT", "/api/adapters/a%00", good, auth(), [400]],
    ["too long", "PUT", "/api/adapters/" + "a".repeat(65), good, auth(), [400]],
    ["empty name", "PUT", "/api/adapters/", good, auth(), [400]],
    // The runtime parses the URL (WHATWG) before the Worker sees it: "." and ".." segments (also
    // %2e%2e) are resolved, so such a path arrives as another path (404 outside /api/adapters/);
    // a ".." that survives parsing is a bad name (400). Never stored.
    ["traversal out of the API", "PUT", "/api/adapters/../../etc/passwd", good, auth(), [404]],
    ["escaped traversal", "PUT", "/api/adapters/%2e%2e/x", good, auth(), [404]],
    ["dot segment", "PUT", "/api/adapters/./", good, auth(), [400]],
    ["traversal in one segment", "PUT", "/api/adapters/..%2f..%2fetc", good, auth(), [400]],
    ["traversal with backslashes", "PUT", "/api/adapters/..%5c..%5cetc", good, auth(), [400]],
  ];
  for (const [name, method, p, body, headers, statuses] of cases) {
    const before = await snapshot();
    const r = await request(method, p, { body, headers });
    assert.ok(statuses.includes(r.status), `${name}: status ${r.status}, want ${statuses} (${r.body.toString().slice(0, 200)})`);
    if (r.status !== 404 || p.startsWith("/api/adapters/")) {
      assert.equal(typeof json(r).error, "string", `${name}: no JSON error`);
    }
    assert.deepEqual(await snapshot(), before, `${name}: store changed`);
  }
  assert.ok((await request("GET", "/api/adapters/existing")).body.equals(existing));
});

test("concurrent uploads of different names all land; one name, one winner", async () => {
  const n = 16;
  const datas = Array.from({ length: n }, (_, i) => adapter({ rank: 1 + (i % 4), seed: 40 + i }));
  const res = await Promise.all(datas.map((d, i) => request("PUT", `/api/adapters/conc-${String(i).padStart(2, "0")}`, { body: d, headers: auth() })));
  assert.deepEqual(res.map((r) => r.status), Array(n).fill(201), res.map((r) => r.body.toString()).join("\n"));
  const names = json(await request("GET", "/api/adapters?prefix=conc-&limit=1000")).adapters.map((a) => a.name);
  assert.equal(names.length, n);
  for (let i = 0; i < n; i++) {
    const got = await request("GET", `/api/adapters/conc-${String(i).padStart(2, "0")}`);
    assert.ok(got.body.equals(datas[i]), `conc-${i} differs`);
  }
  // Pagination over them.
  const seen = [];
  let cursor = "";
  for (let pages = 0; ; pages++) {
    assert.ok(pages < n, "pagination does not end");
    const page = json(await request("GET", `/api/adapters?prefix=conc-&limit=5${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`));
    seen.push(...page.adapters.map((a) => a.name));
    if (!page.cursor) break;
    cursor = page.cursor;
  }
  assert.deepEqual(seen, names);
  // Same name, no ?overwrite: the conditional put lets exactly one through.
  const race = await Promise.all(datas.slice(0, 8).map((d) => request("PUT", "/api/adapters/race", { body: d, headers: auth() })));
  const codes = race.map((r) => r.status).sort();
  assert.equal(codes.filter((c) => c === 201).length, 1, `race: ${codes}`);
  assert.equal(codes.filter((c) => c === 409).length, 7, `race: ${codes}`);
});

test("latency of list and download on loopback (bounded load)", async () => {
  const data = adapter({ rank: 8, seed: 77 });
  await request("PUT", "/api/adapters/latency?overwrite=1", { body: data, headers: auth() });
  const n = 200;
  const report = [];
  for (const [label, p, check] of [
    ["list", "/api/adapters?limit=20", (r) => r.status === 200],
    ["download", "/api/adapters/latency", (r) => r.status === 200 && r.body.length === data.length],
  ]) {
    for (let i = 0; i < 10; i++) await request("GET", p); // warm up
    const ms = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const r = await request("GET", p);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.ok(check(r), `${label} failed: ${r.status}`);
    }
    ms.sort((a, b) => a - b);
    const q = (f) => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))];
    report.push(`${label}: n=${n} median ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${ms[ms.length - 1].toFixed(2)} ms`);
    assert.ok(q(0.5) < 1000, `${label} median ${q(0.5)} ms`);
  }
  const msg = `worker latency (wrangler dev, loopback, sequential, ${data.length}-byte adapter):\n  ${report.join("\n  ")}`;
  console.log(msg);
  writeFileSync(path.join(dir, "latency.txt"), msg);
  if (existsSync(path.join(root, "build"))) writeFileSync(path.join(root, "build/worker-latency.txt"), msg + "\n");
});

test("the page served by the Worker trains and publishes in headless Chromium", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const problems = [];
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    await page.goto(base + "/");
    await page.waitForSelector("body[data-ready=true]", { timeout: 90_000 }).catch((e) => {
      throw new Error(`page not ready: ${e.message}\n${problems.join("\n")}`);
    });
    await page.fill("[data-testid=steps]", "3");
    await page.fill("[data-testid=batch]", "2");
    await page.fill("[data-testid=seq-len]", "32");
    // attention-only (the page adapts every linear layer by default): the adapter stays under this test's upload cap
    for (const t of ["attn_k", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]) await page.uncheck(`[data-testid=target-${t}]`);
    // the Worker serves the page cross-origin isolated: it trains on every core
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
    await page.click("[data-testid=train]");
    await page.waitForFunction(() => document.querySelector("[data-testid=status]").textContent === "done", null, { timeout: 120_000 });
    const cores = await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency));
    if (cores > 1) assert.match(await page.textContent("#progress-text"), new RegExp(`on ${cores} workers`));
    // The page mounts the store UI itself: worker-build marks the hosted page's HTML as having a store
    // (<meta name="webtune-store" content="same-origin">); under `webtune serve` it asks nothing.
    await page.waitForSelector("[data-testid=store]", { timeout: 30_000 });
    await page.focus("[data-testid=publish-name]");
    await page.waitForFunction(() => /-lora-r8$/.test(document.querySelector("[data-testid=publish-name]")?.value ?? ""), null, { timeout: 60_000 }).catch(async (e) => {
      const v = await page.evaluate(() => ({ name: document.querySelector("[data-testid=publish-name]")?.value, store: !!document.querySelector("[data-testid=store]"), status: document.querySelector("[data-testid=status]")?.textContent }));
      throw new Error(`publish name never set: ${JSON.stringify(v)} ${problems.join("; ")}: ${e.message}`);
    });
    await page.fill("[data-testid=publish-name]", "from-the-page");
    await page.fill("[data-testid=publish-token]", token + "-wrong");
    await page.click("[data-testid=publish]");
    await page.waitForFunction(() => /refused/.test(document.querySelector("[data-testid=publish-status]").textContent));
    await page.fill("[data-testid=publish-token]", token);
    await page.click("[data-testid=publish]");
    await page.waitForFunction(() => /^Published from-the-page/.test(document.querySelector("[data-testid=publish-status]").textContent), null, { timeout: 30_000 })
      .catch(async (e) => {
        throw new Error(`not published: "${await page.textContent("[data-testid=publish-status]")}" ${problems.join("; ")}: ${e.message}`);
      });
    const meta = json(await request("GET", "/api/adapters?prefix=from-the-page")).adapters[0];
    assert.equal(meta?.name, "from-the-page");
    assert.equal(meta.architecture.length > 0, true);
    assert.ok(meta.rank >= 1 && meta.pairs >= 1, JSON.stringify(meta));
    // Browse: the list shows it, and Load puts it into the session.
    const item = page.locator("[data-testid=adapter-item][data-name=from-the-page]");
    await item.waitFor({ timeout: 15_000 });
    await item.locator("[data-testid=adapter-load]").click();
    await page.waitForFunction(() => /^Loaded from-the-page/.test(document.querySelector("[data-testid=adapters-status]").textContent), null, { timeout: 30_000 });
    mkdirSync(path.join(root, "testout", "screenshots"), { recursive: true });
    await page.screenshot({ path: path.join(root, "testout", "screenshots", "worker-page.png"), fullPage: true });
    // The only failed request is the deliberate wrong-token publish (403).
    assert.deepEqual(problems.filter((p) => !/status of 403/.test(p)), []);
  } finally {
    await browser.close();
  }
});

// ---- issue 16: the Worker and the memory store answer alike; soak ----

const servers = () => [["Worker", base], ["memory store", nativeBase]];

test("issue 16: ranges, refusals and long names alike on the Worker and the memory store", async () => {
  const data = adapter({ rank: 4, seed: 16 });
  const nan = adapter({ rank: 4, seed: 17 });
  // The last tensor's data ends the file: poison one of its floats.
  nan.writeFloatLE(NaN, nan.length - 64);
  const inf = Buffer.from(nan);
  inf.writeFloatLE(Infinity, inf.length - 64);
  const foreign = gguf({ kvs: adapterKVs(), tensors: [
    { name: "../../etc.lora_a", dims: [64, 4], data: randn(256, 1) }, { name: "../../etc.lora_b", dims: [4, 64], data: randn(256, 2) }] });
  const longArch = adapter({ kvs: [["general.architecture", T.STRING, "l".repeat(100 << 10)], ...adapterKVs().slice(1)] });
  const wideArch = adapter({ kvs: [["general.architecture", T.STRING, "a".repeat(2048)], ...adapterKVs().slice(1)] });
  const ranks = []; // 65 distinct ranks: more than the stored metadata holds
  for (let r = 1; r <= 65; r++) {
    const b = `blk.${r}.attn_q.weight`;
    ranks.push({ name: `${b}.lora_a`, dims: [8, r], data: randn(8 * r, r) }, { name: `${b}.lora_b`, dims: [r, 8], data: randn(8 * r, r + 1) });
  }
  const manyRanks = gguf({ kvs: adapterKVs(), tensors: ranks });
  for (const [label, server] of servers()) {
    const put = await request("PUT", "/api/adapters/i16", { body: data, headers: auth(), server });
    assert.equal(put.status, 201, `${label}: ${put.body}`);
    for (const [rangeHeader, status, from, to] of [
      ["bytes=0-1,5-6", 200, 0, data.length], // several ranges: the whole file on both
      ["bytes=+1-+2", 200, 0, data.length], // not RFC 9110 digits: ignored
      ["bytes=-+2", 200, 0, data.length],
      ["bytes=1-2", 206, 1, 3],
      ["bytes=-5", 206, data.length - 5, data.length],
    ]) {
      const r = await request("GET", "/api/adapters/i16", { headers: { range: rangeHeader }, server });
      assert.equal(r.status, status, `${label} ${rangeHeader}: ${JSON.stringify(r.headers)} ${r.body.length} bytes`);
      assert.ok(r.body.equals(data.subarray(from, to)), `${label} ${rangeHeader}: body`);
    }
    for (const [what, body] of [["NaN", nan], ["Inf", inf], ["../../etc", foreign], ["100 KiB architecture", longArch],
      ["2 KiB architecture", wideArch], ["65 ranks", manyRanks]]) {
      const r = await request("PUT", "/api/adapters/i16-bad", { body, headers: auth(), server });
      assert.equal(r.status, 400, `${label} ${what}: ${r.status} ${r.body.toString().slice(0, 300)}`);
      assert.equal((await request("GET", "/api/adapters/i16-bad", { server })).status, 404, `${label} ${what}: stored`);
    }
    const long = await request("GET", "/api/adapters/" + "n".repeat(10 << 10), { server });
    assert.equal(long.status, 400, label);
    assert.ok(long.body.length < 400 && long.body.includes("…"), `${label}: ${long.body.length}-byte error`);
    assert.equal((await request("DELETE", "/api/adapters/i16", { headers: auth(), server })).status, 204, label);
  }
});

/** soak runs concurrent uploads, overwrites, deletes, lists and (Range) GETs against server for ms milliseconds. */
async function soak(server, ms) {
  const versions = [1, 2, 4, 8].map((rank, i) => adapter({ rank, layers: 1 + (i % 2), seed: 900 + i }));
  const bySHA = new Map(versions.map((v) => [sha256(v), v]));
  const names = ["soak-a", "soak-b", "soak-c"];
  const counts = {};
  const problems = [];
  const note = (k) => (counts[k] = (counts[k] ?? 0) + 1);
  const end = Date.now() + ms;
  const pick = (a) => a[Math.floor(Math.random() * a.length)];
  const check = (what, r) => {
    note(`${what} ${r.status}`);
    if (r.status >= 500) problems.push(`${what}: ${r.status} ${r.body.toString().slice(0, 200)}`);
  };
  const checkBody = (what, r) => {
    if (r.status !== 200 && r.status !== 206) return;
    const v = bySHA.get(String(r.headers.etag).replaceAll('"', ""));
    if (!v) return problems.push(`${what}: ETag ${r.headers.etag} names no uploaded version`);
    let want = v;
    if (r.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.headers["content-range"] ?? "");
      if (!m || Number(m[3]) !== v.length) return problems.push(`${what}: Content-Range ${r.headers["content-range"]} for ${v.length} bytes`);
      want = v.subarray(Number(m[1]), Number(m[2]) + 1);
    }
    if (!r.body.equals(want)) problems.push(`${what}: ${r.status} body of ${r.body.length} bytes is not the ${want.length} of its ETag's version`);
  };
  const loops = {
    put: async () => check("PUT", await request("PUT", `/api/adapters/${pick(names)}?overwrite=1`, { body: pick(versions), headers: auth(), server })),
    del: async () => {
      await new Promise((r) => setTimeout(r, 20));
      check("DELETE", await request("DELETE", `/api/adapters/${pick(names)}`, { headers: auth(), server }));
    },
    list: async () => {
      const r = await request("GET", "/api/adapters?prefix=soak-&limit=2", { server });
      check("LIST", r);
      if (r.status === 200) for (const a of json(r).adapters) if (!bySHA.has(a.sha256)) problems.push(`LIST: ${a.name} has unknown sha ${a.sha256}`);
    },
    get: async () => {
      const rangeHeader = pick(["", "bytes=0-99", "bytes=-64", "bytes=3000-", "bytes=100-4000", "bytes=0-1,5-6"]);
      const r = await request("GET", `/api/adapters/${pick(names)}`, { headers: rangeHeader ? { range: rangeHeader } : {}, server });
      check(`GET${rangeHeader ? " range" : ""}`, r);
      checkBody(`GET ${rangeHeader}`, r);
    },
  };
  const workers = [];
  for (const [kind, n] of [["put", 3], ["del", 1], ["list", 2], ["get", 6]]) {
    for (let i = 0; i < n; i++) workers.push((async () => { while (Date.now() < end && problems.length < 20) await loops[kind](); })());
  }
  await Promise.all(workers);
  for (const n of names) await request("DELETE", `/api/adapters/${n}`, { headers: auth(), server });
  return { counts, problems };
}

test("soak: concurrent uploads, overwrites, deletes, lists and Range GETs serve one version, never 5xx", async () => {
  const seconds = Number(process.env.WEBTUNE_SOAK_SECONDS ?? 5);
  for (const [label, server] of servers()) {
    const { counts, problems } = await soak(server, seconds * 1000);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`soak ${label} (${seconds} s, loopback): ${total} requests ${JSON.stringify(counts)}`);
    assert.deepEqual(problems, [], `${label}: ${problems.join("\n")}`);
    assert.ok((counts["GET 200"] ?? 0) + (counts["GET range 206"] ?? 0) > 0, `${label}: no download succeeded: ${JSON.stringify(counts)}`);
  }
});
