// webgpu-attention measures web/gpu/attention.js (causal attention forward
// and backward as WebGPU dispatches) in headless Chromium with WebGPU on, on
// the attention shapes of real models: the median time of one forward and of
// one forward + backward, with their useful GFLOP/s (the causal half of the
// score and output products). It prints the adapter it got: run unchanged
// on a machine with a GPU to get GPU figures (here it is SwiftShader, a CPU
// emulation: not a GPU figure).
//
//   node scripts/bench/webgpu-attention.mjs [--T=512] [--B=1] [--reps=5]
//       [--models=smollm2-135m,qwen2.5-0.5b,llama-3.2-1b,gemma3-1b] [--window=0]
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { launchWebGPU, root } from "../lib/browser.mjs";

const kv = Object.fromEntries(
  process.argv.slice(2).filter((a) => a.startsWith("--") && a.includes("=")).map((a) => a.slice(2).split("=")),
);
const T = +(kv.T ?? 512), B = +(kv.B ?? 1), reps = +(kv.reps ?? 5), window = +(kv.window ?? 0);
// [NH, NKV, HS] from the published configs.
const MODELS = {
  "smollm2-135m": [9, 3, 64],
  "qwen2.5-0.5b": [14, 2, 64],
  "llama-3.2-1b": [32, 8, 64],
  "gemma3-1b": [4, 1, 256],
};
const models = (kv.models ?? Object.keys(MODELS).join(",")).split(",");
for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m}; known: ${Object.keys(MODELS).join(", ")}`);

const html = `<!doctype html><meta charset="utf-8"><script type="module">
import * as E from "/gpu/engine.js";
import * as A from "/gpu/attention.js";
window.E = E;
window.A = A;
window.ready = true;
</script>`;
const server = createServer((req, res) => {
  if (req.url === "/") return res.writeHead(200, { "Content-Type": "text/html" }).end(html);
  if (/^\/gpu\/(engine|attention)\.js$/.test(req.url)) {
    return res.writeHead(200, { "Content-Type": "text/javascript" }).end(readFileSync(path.join(root, "web", req.url)));
  }
  res.writeHead(404).end();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await launchWebGPU();
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready === true);
  console.log(`adapter: ${JSON.stringify(await page.evaluate(async () => E.adapterInfo(await navigator.gpu.requestAdapter())))}`);
  for (const m of models) {
    const [NH, NKV, HS] = MODELS[m];
    const r = await page.evaluate(async ({ B, T, NH, NKV, HS, window, reps }) => {
      const eng = await E.requestEngine();
      const nq = B * T * NH * HS, nkv = B * T * NKV * HS;
      const filled = (n) => {
        const b = eng.buffer(n);
        eng.write(b, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)));
        return b;
      };
      const [q, k, v, dout, out, dq, dk, dv] = [nq, nkv, nkv, nq, nq, nq, nkv, nkv].map(filled);
      const att = eng.buffer(B * NH * T * T);
      const sh = { B, T, NH, NKV, HS, scale: 1 / Math.sqrt(HS), window };
      const run = async (backward) => {
        const enc = eng.device.createCommandEncoder();
        A.attention(eng, enc, { out, att, q, k, v, ...sh });
        if (backward) A.attentionBackward(eng, enc, { dq, dk, dv, dout, q, k, v, att, ...sh });
        const t0 = performance.now();
        eng.submit(enc);
        await eng.device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      };
      await run(true); // compile the pipelines
      const median = async (backward) => {
        const ts = [];
        for (let i = 0; i < reps; i++) ts.push(await run(backward));
        return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)];
      };
      const r = { fwd: await median(false), fwdbwd: await median(true) };
      eng.destroy();
      return r;
    }, { B, T, NH, NKV, HS, window, reps });
    // Useful work: each T×T product over HS counts the causal half, 2 FLOPs per multiply-add.
    const prod = 2 * B * NH * HS * (T * (T + 1)) / 2;
    const gf = (flops, ms) => (flops / ms / 1e6).toPrecision(3);
    console.log(`${m} (B=${B} T=${T} NH=${NH} NKV=${NKV} HS=${HS}${window ? ` window=${window}` : ""}): ` +
      `forward ${r.fwd.toFixed(2)} ms (${gf(2 * prod, r.fwd)} GFLOP/s), forward+backward ${r.fwdbwd.toFixed(2)} ms (${gf(6 * prod, r.fwdbwd)} GFLOP/s)`);
  }
} finally {
  await browser.close();
  server.close();
}
