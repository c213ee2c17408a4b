// page-realsize measures real-size models in the page's engine (headless
// Debian Chromium via playwright-core, webtune serve): random-weight GGUFs of
// the real shapes (scripts/bench/realsize -write) loaded through the JS API
// on 1 and 2 workers, LoRA r=8 on attn_q,attn_v, seq-len 256, 3 steps.
// Batch 1 on one worker; on two workers batch 2 (a micro-batch of one
// window trains on one worker), so tokens/s counts both workers' windows.
//
//   node scripts/bench/page-realsize.mjs [--shapes=smollm2-135m,qwen2.5-0.5b] [--workers=1,2] [--steps=3] [--seq-len=256]
//
// Prints per run: load time (the bytes handed to the worker until the
// model is ready), the last step's tokens/s (training only), the peak wasm
// memory of the primary worker (its WebAssembly.Memory, polled every
// 250 ms; the wasm memory never shrinks, so the last figure is the peak)
// and the estimate the page shows for the same settings (inspect).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, root } from "../lib/browser.mjs";

const kv = Object.fromEntries(process.argv.slice(2).filter((a) => a.includes("=")).map((a) => a.replace(/^--/, "").split("=")));
const shapes = (kv.shapes ?? "smollm2-135m,qwen2.5-0.5b").split(",");
const workerCounts = (kv.workers ?? "1,2").split(",").map(Number);
const steps = +(kv.steps ?? 3);
const seqLen = +(kv["seq-len"] ?? 256);

buildAll();
const tmp = mkdtempSync(path.join(tmpdir(), "webtune-page-realsize-"));
execFileSync(process.env.GO ?? "go", ["run", "./scripts/bench/realsize", "-shapes", shapes.join(","), "-write", tmp], { cwd: root, stdio: "inherit" });
const text = "the quick brown fox jumps over the lazy dog while a small cook writes her diary about bread soup rice. ".repeat(400);
const server = await startServer();
const browser = await launch();
const rows = [];
try {
  for (const shape of shapes) {
    for (const workers of workerCounts) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(server.url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
      await page.evaluate(() => {
        const i = document.createElement("input");
        i.type = "file";
        i.id = "bench-file";
        document.body.append(i);
      });
      await page.setInputFiles("#bench-file", path.join(tmp, `${shape}.gguf`));
      const r = await page.evaluate(async ({ workers, steps, seqLen, text }) => {
        const { WebTune } = await import("./webtune.js");
        const wt = await WebTune.load({ wasmURL: "webtune.wasm", workers });
        const file = document.getElementById("bench-file").files[0];
        const batch = workers;
        const settings = { rank: 8, targets: ["attn_q", "attn_v"], qlora: false, seqLen, batch, workers };
        let info;
        for (let n = 1 << 20; ; ) {
          info = await wt.inspect(new Uint8Array(await file.slice(0, n).arrayBuffer()), file.size, settings);
          if (info.complete) break;
          n = info.needBytes;
        }
        let peak = 0;
        const poll = async () => {
          const m = await wt.memory();
          peak = Math.max(peak, m.wasmMemory);
        };
        const timer = setInterval(poll, 250);
        const t0 = performance.now();
        const m = await wt.loadModel(new Uint8Array(await file.arrayBuffer()), { transfer: true, name: file.name });
        const loadSec = (performance.now() - t0) / 1000;
        await poll();
        const afterLoad = peak;
        await m.injectLoRA({ rank: 8, alpha: 16, targets: ["attn_q", "attn_v"] });
        let last = null;
        const run = await m.train({ text, steps, seqLen, batch, evalFraction: -1, onProgress: (p) => (last = p) });
        const res = await run.done;
        clearInterval(timer);
        await poll();
        return { state: res.state, loadSec, tokensPerSec: last?.tokensPerSec ?? 0, trainedOn: last?.workers ?? 0,
          afterLoad, peak, estimate: info.estimate ?? null, fileBytes: file.size };
      }, { workers, steps, seqLen, text });
      await page.context().close();
      const row = { shape, workers, ...r };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
}
const MB = (b) => (b / 1e6).toFixed(0);
console.log(`\nChromium (${cpus().length} cores, ${cpus()[0]?.model ?? "?"}), LoRA r=8 attn_q,attn_v, seq-len ${seqLen}, ${steps} steps; ${new Date().toISOString()}`);
console.log("| shape | workers | batch | file MB | load s | tokens/s | wasm MB after load | peak wasm MB per worker | estimate MB per worker |\n|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.shape} | ${r.trainedOn} | ${r.workers} | ${MB(r.fileBytes)} | ${r.loadSec.toFixed(1)} | ${r.tokensPerSec.toFixed(1)} | ${MB(r.afterLoad)} | ${MB(r.peak)} | ${r.estimate ? MB(r.estimate.workerBytes) : "–"} |`);
}
