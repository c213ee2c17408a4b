// browser-bench runs web/bench in headless Chromium (Debian's, via
// playwright-core) and prints the results as JSON (and a markdown table).
//
//   node scripts/bench/browser-bench.mjs [--quick] [--not-isolated] [--tfthreads=N] [--out=file.json]
//
// It builds scripts/bench/wasmbench to a temporary bench.wasm, serves the
// repository root (web/bench, scripts/node_modules for TF.js) with
// application/wasm, with COOP/COEP headers so that the page is
// crossOriginIsolated (SharedArrayBuffer for the workers; TF.js may start
// its threads); --not-isolated leaves them out.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync, existsSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize, extname, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), "..", ".."));
const args = new Set(process.argv.slice(2).filter((a) => !a.includes("=")));
const kv = Object.fromEntries(process.argv.slice(2).filter((a) => a.includes("=")).map((a) => a.replace(/^--/, "").split("=")));

const tmp = mkdtempSync(join(tmpdir(), "webtune-bench-"));
const wasm = join(tmp, "bench.wasm");
const goroot = execFileSync("go", ["env", "GOROOT"]).toString().trim();
execFileSync("go", ["build", "-o", wasm, "./scripts/bench/wasmbench"], {
  cwd: root, env: { ...process.env, GOOS: "js", GOARCH: "wasm" }, stdio: "inherit" });

const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css" };
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  let file;
  if (path === "/web/bench/bench.wasm") file = wasm;
  else if (path === "/web/bench/wasm_exec.js") file = join(goroot, "lib", "wasm", "wasm_exec.js");
  else file = normalize(join(root, path));
  if (!file.startsWith(root) && file !== wasm && !file.startsWith(goroot)) { res.writeHead(403); res.end(); return; }
  if (!existsSync(file) || statSync(file).isDirectory()) { res.writeHead(404); res.end(); return; }
  const headers = { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" };
  if (!args.has("--not-isolated")) {
    headers["cross-origin-opener-policy"] = "same-origin";
    headers["cross-origin-embedder-policy"] = "require-corp";
  }
  res.writeHead(200, headers);
  res.end(readFileSync(file));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu",
  "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
try {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.error("page:", m.text()); });
  page.on("pageerror", (e) => console.error("page error:", e));
  const q = new URLSearchParams();
  if (args.has("--quick")) q.set("quick", "1");
  for (const f of ["variants", "noworkers", "nollama"]) if (args.has(`--${f}`)) q.set(f, "1");
  if (kv.tfthreads) q.set("tfthreads", kv.tfthreads);
  await page.goto(`http://127.0.0.1:${port}/web/bench/index.html?${q}`);
  await page.waitForFunction(() => window.__benchResult, null, { timeout: 900_000, polling: 500 });
  const result = await page.evaluate(() => window.__benchResult);
  result.browserVersion = browser.version();
  result.wasmBytes = statSync(wasm).size;
  result.load = readFileSync("/proc/loadavg", "utf8").trim();
  const json = JSON.stringify(result, null, 1);
  if (kv.out) writeFileSync(kv.out, json);
  console.log(json);
  console.log("\n| what | median ms | best ms | GFLOP/s (median) | GFLOP/s (best) | runs |\n| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const r of result.rows ?? []) {
    const extra = r.tokensPerSec ? ` (${r.tokensPerSec.toFixed(0)} tokens/s)` : "";
    console.log(`| ${r.what}${extra} | ${r.ms.toFixed(2)} | ${r.min.toFixed(2)} | ${r.gflops.toFixed(1)} | ${r.gflopsBest.toFixed(1)} | ${r.runs} |`);
  }
  if (!result.ok) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
