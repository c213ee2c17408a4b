// Go tests of the WebAssembly SIMD kernels, run inside headless Chromium
// (Debian's, through playwright-core). Node 20 rejects relaxed SIMD, so
// under `go test -exec go_js_wasm_exec` the relaxed variants are skipped;
// Chromium runs them by default, and the page computes with them. Here the
// test binaries of wasm/simd (every sgemm variant, relaxed or not, forward
// and backward products against a float64 reference; every element-wise
// kernel against the scalar Go code) and the SIMD-engine tests of kernels and llama
// (attention blocks, element-wise kernels against scalar, a short training
// run) run in the browser, with -require-relaxed turning a relaxed variant
// that cannot run into a failure.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { launch, root } from "../lib/browser.mjs";

const go = process.env.GO ?? "go";
const dir = mkdtempSync(path.join(tmpdir(), "webtune-wasm-chromium-"));
let server, base, browser;

const page = `<!doctype html><meta charset="utf-8"><script src="wasm_exec.js"></script>
<script>
window.runGoTest = async (wasm, args) => {
  const go = new Go();
  go.argv = [wasm].concat(args);
  go.env = { HOME: "/" };
  let code = -1;
  go.exit = (c) => { code = c; };
  const { instance } = await WebAssembly.instantiateStreaming(fetch(wasm), go.importObject);
  await go.run(instance);
  return code;
};
</script>`;

before(async () => {
  const goroot = execFileSync(go, ["env", "GOROOT"], { encoding: "utf8" }).trim();
  const files = {
    "/": { body: page, type: "text/html" },
    "/wasm_exec.js": { body: readFileSync(path.join(goroot, "lib/wasm/wasm_exec.js")), type: "text/javascript" },
  };
  for (const [name, pkg] of [["simd", "./wasm/simd"], ["kernels", "./kernels"], ["llama", "./llama"]]) {
    const out = path.join(dir, `${name}.test.wasm`);
    execFileSync(go, ["test", "-c", "-o", out, pkg], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, GOOS: "js", GOARCH: "wasm" },
    });
    files[`/${name}.test.wasm`] = { body: readFileSync(out), type: "application/wasm" };
  }
  server = createServer((req, res) => {
    const f = files[req.url];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": f.type }).end(f.body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

// runInChromium runs a Go test binary in a fresh page and returns its exit
// code and everything it printed.
async function runInChromium(wasm, args) {
  const p = await browser.newPage();
  const lines = [];
  p.on("console", (m) => lines.push(m.text()));
  p.on("pageerror", (e) => lines.push(`pageerror: ${e.message}`));
  await p.goto(base);
  const code = await p.evaluate(([w, a]) => window.runGoTest(w, a), [wasm, args]);
  await p.close();
  return { code, out: lines.join("\n") };
}

test("wasm/simd tests pass in Chromium, relaxed variants included", { timeout: 600_000 }, async () => {
  const { code, out } = await runInChromium("simd.test.wasm", ["-test.v", "-require-relaxed"]);
  assert.equal(code, 0, out.slice(-4000));
  assert.match(out, /24 variants checked/, "every sgemm variant, relaxed or not, ran");
  assert.match(out, /engine wasm-simd-relaxed/, "the default engine in Chromium is the relaxed one");
  assert.doesNotMatch(out, /--- SKIP/, out.slice(-4000));
  assert.match(out, /^PASS$/m);
});

test("kernels' SIMD-engine tests pass in Chromium", { timeout: 600_000 }, async () => {
  const { code, out } = await runInChromium("kernels.test.wasm", [
    "-test.v",
    "-test.run",
    "TestElemKernelsMatchScalar|TestExpf32|TestCausalBlocks|TestAttentionOnEngine|TestWindowedAttention",
  ]);
  assert.equal(code, 0, out.slice(-4000));
  assert.doesNotMatch(out, /--- SKIP/, out.slice(-4000));
  for (const name of ["TestElemKernelsMatchScalar", "TestExpf32", "TestCausalBlocks", "TestAttentionOnEngine", "TestWindowedAttention"]) {
    assert.match(out, new RegExp(`--- PASS: ${name}`), `${name} ran`);
  }
});

test("llama's SIMD-engine training test passes in Chromium", { timeout: 600_000 }, async () => {
  const { code, out } = await runInChromium("llama.test.wasm", ["-test.v", "-test.run", "TestElemTrainingMatchesScalar"]);
  assert.equal(code, 0, out.slice(-4000));
  assert.doesNotMatch(out, /--- SKIP/, out.slice(-4000));
  assert.match(out, /--- PASS: TestElemTrainingMatchesScalar/, "TestElemTrainingMatchesScalar ran");
});
