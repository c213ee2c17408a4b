// page-train measures training throughput in the real page (webtune serve,
// headless Debian Chromium via playwright-core) on 1 and 2 (and every core,
// up to 4) data-parallel Web Workers: the built-in model, and a model of the
// reference config (dim 288, 6 layers, 6 heads, ffn 768, tied head, vocab
// 4096) made by `webtune pretrain --steps 1` on the generated stories
// corpus, with seeded random words as --tokenizer-data so that the BPE
// vocabulary fills its 4096 tokens. LoRA r=8 on every linear layer of the
// blocks, 256 tokens per step (batch 4 × 64), AdamW.
//
//   node scripts/bench/page-train.mjs [--steps=N] [--out=file.json]
//
// Prints the median ms per step (from consecutive progress events, the
// first 3 steps left out as warm-up) and tokens/s per configuration, and
// native `webtune train` on the same models and settings (1 thread, every
// core, and every core with --workers; the CLI reports its whole-run
// average, warm-up included).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, root } from "../lib/browser.mjs";

const kv = Object.fromEntries(process.argv.slice(2).filter((a) => a.includes("=")).map((a) => a.replace(/^--/, "").split("=")));
const steps = +(kv.steps ?? 23);

buildAll();
const tmp = mkdtempSync(path.join(tmpdir(), "webtune-page-train-"));
const corpus = path.join(tmp, "stories.txt");
writeFileSync(corpus, execFileSync("node", [path.join(root, "scripts/corpus/gen.mjs"), "stories", "2000000", "42"], { maxBuffer: 1 << 26 }));
writeFileSync(path.join(tmp, "ref.json"), JSON.stringify({ name: "reference", dim: 288, layers: 6, heads: 6, kv_heads: 6,
  ffn: 768, context_length: 256, tied_output: true, tokenizer: "bpe", vocab_size: 4096, pre: "llama3", weight_type: "F32" }));
// 60k seeded pseudo-words: enough distinct pairs for 4096 BPE tokens
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const words = Array.from({ length: 60000 }, () => Array.from({ length: 3 + Math.floor(rnd() * 8) },
  () => "abcdefghijklmnopqrstuvwxyz"[Math.floor(rnd() * 26)]).join(""));
writeFileSync(path.join(tmp, "words.txt"), words.join(" "));
const refPath = path.join(tmp, "ref.gguf");
execFileSync(path.join(root, "bin/webtune"), ["pretrain", "--config", path.join(tmp, "ref.json"), "--data", corpus,
  "--tokenizer-data", path.join(tmp, "words.txt"), "--out", refPath, "--steps", "1", "--batch", "1", "--seq-len", "64"], { stdio: "ignore" });
const refB64 = readFileSync(refPath).toString("base64");
const text = readFileSync(corpus, "utf8").slice(0, 400_000);

const server = await startServer();
const browser = await launch();
const rows = [];
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const counts = [...new Set([1, 2, Math.min(4, cores)])].filter((w) => w <= Math.max(2, Math.min(4, cores)));
  for (const model of ["builtin", "reference"]) {
    for (const workers of counts) {
      const r = await page.evaluate(async ({ model, workers, refB64, text, steps }) => {
        const { WebTune } = await import("./webtune.js");
        const wt = await WebTune.load({ wasmURL: "webtune.wasm", workers });
        const src = model === "builtin" ? "builtin" : Uint8Array.from(atob(refB64), (c) => c.charCodeAt(0));
        const m = await wt.loadModel(src);
        await m.injectLoRA({ rank: 8, alpha: 16, targets: ["all-linear"] });
        const at = [];
        const run = await m.train({ text, steps, batch: 4, seqLen: 64, evalFraction: -1, warmup: 0,
          onProgress: (p) => at.push([p.step, performance.now()]) });
        const res = await run.done;
        wt.terminate();
        const ms = [];
        for (let i = 3; i < at.length; i++) ms.push(at[i][1] - at[i - 1][1]);
        return { state: res.state, error: res.error, ms, workers: run.config.workers, started: wt.workers };
      }, { model, workers, refB64, text, steps });
      if (r.state !== "done") throw new Error(`${model} on ${workers} workers: ${r.state} ${r.error}`);
      const s = [...r.ms].sort((a, b) => a - b);
      const med = s[s.length >> 1];
      const row = { model, workers: r.workers, medianMs: +med.toFixed(1), bestMs: +s[0].toFixed(1),
        tokensPerSec: Math.round(256 / (med / 1000)), samples: r.ms.map((x) => +x.toFixed(1)) };
      rows.push(row);
      console.log(`${model}, ${r.workers} worker(s): ${row.medianMs} ms/step median (best ${row.bestMs}), ${row.tokensPerSec} tokens/s`);
    }
  }
  // native webtune on the same models and settings (its default engine and
  // threads, and one thread), for the ratio page / native
  const textPath = path.join(tmp, "text.txt");
  writeFileSync(textPath, text);
  const native = [];
  for (const model of ["builtin", "reference"]) {
    for (const [threads, workers] of [["1", 1], [String(cores), 1], [String(cores), Math.min(4, cores)]]) {
      const args = ["train", "--data", textPath, "--out", path.join(tmp, "a.gguf"), "--rank", "8", "--targets", "all-linear",
        "--steps", String(steps), "--batch", "4", "--seq-len", "64", "--eval-fraction", "-1", "--checkpoint-every", "0",
        "--workers", String(workers)];
      if (model !== "builtin") args.push("--model", refPath);
      const res = spawnSync(path.join(root, "bin/webtune"), args, { env: { ...process.env, GOMAXPROCS: threads }, encoding: "utf8" });
      const log = res.stdout + res.stderr;
      const tps = +/(\d+) tok\/s eta 0s/.exec(log)?.[1];
      native.push({ model, threads: +threads, workers, tokensPerSec: tps });
      console.log(`native ${model}, GOMAXPROCS=${threads}, --workers ${workers}: ${tps} tokens/s (whole run)`);
    }
  }
  const out = { browser: browser.version(), cores, cpu: cpus()[0]?.model, load: loadavg(), steps, rows, native };
  if (kv.out) writeFileSync(kv.out, JSON.stringify(out, null, 1));
  console.log("\n| model | workers | ms/step (median) | best | tokens/s |\n| --- | ---: | ---: | ---: | ---: |");
  for (const r of rows) console.log(`| ${r.model} | ${r.workers} | ${r.medianMs} | ${r.bestMs} | ${r.tokensPerSec} |`);
  for (const n of native) console.log(`| ${n.model}, native CLI, GOMAXPROCS=${n.threads}, --workers ${n.workers} (whole-run average) | | | | ${n.tokensPerSec} |`);
} finally {
  await browser.close();
  await server.stop();
}
