// page-realsize measures real-size models in the page's engine (headless
// Debian Chromium via playwright-core, webtune serve): random-weight GGUFs of
// the real shapes (scripts/bench/realsize -write), LoRA r=8 on
// attn_q,attn_v, seq-len 256, 3 steps, on the CPU engine, loaded two ways:
//
//   api    through the JS API (WebTune.load, loadModel, train, saveAdapter);
//   input  through the page itself: the model-file input (setInputFiles),
//          the Settings controls, Train, the tokens/s and memory the page
//          shows, and its Download adapter button.
//
// Batch 1 on one worker; on two workers batch 2 (a micro-batch of one
// window trains on one worker), so tokens/s counts both workers' windows.
// Each run's adapter is then checked in llama.cpp (scripts/lib/adaptercheck.mjs):
// llama.cpp loads the quantized base + adapter and the adapter moves its
// next-token log-probs (webtune's native forward with the adapter is
// compared and reported: 8-bit rounding flips keep quantized bases ~1e-2
// apart at these sizes); on the base's F32 twin (the same values decoded)
// llama.cpp with the same adapter equals webtune's forward within the F32
// tolerance of the interop tests, and differs from the base's.
//
//   node scripts/bench/page-realsize.mjs [--shapes=smollm2-135m,gemma3-270m,qwen2.5-0.5b,llama3.2-1b]
//        [--via=api,input] [--workers=1] [--steps=3] [--seq-len=256] [--check=true]
//   node scripts/bench/page-realsize.mjs --shapes=smollm2-135m --interleave=4 [--workers=1] [--steps=5]
//
// --interleave=N measures page against native instead: N rounds of
// `webtune train` on the same file (batch = workers, --workers as given,
// --recompute off: the page keeps every block's activations too, so both
// do the same work), then the page through the JS API, alternating so
// that the machine's load (shared, 2 cores) falls on both alike; it prints
// every run's last-step tokens/s and the best and median of each. Other
// processes only ever slow a run down, so on a loaded machine the best of
// the interleaved runs is the fairest figure for both.
//
// Prints per run: load time (api: the bytes handed to the worker until the
// model is ready; input: the file chosen until the page shows the model),
// the last step's tokens/s (training only; input: as the page shows it),
// memory (api: the primary worker's WebAssembly.Memory polled every 250 ms,
// never shrinking, so the last figure is the peak; input: the largest wasm
// figure the page's memory line showed), the estimate for the same settings
// (api: inspect; input: what the page showed before loading) and the
// llama.cpp check.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import path from "node:path";
import { buildAll, startServer, launch, root } from "../lib/browser.mjs";
import { checkAdapter } from "../lib/adaptercheck.mjs";
import { close as closeLlama } from "../lib/llamacpp.mjs";

const kv = Object.fromEntries(process.argv.slice(2).filter((a) => a.includes("=")).map((a) => a.replace(/^--/, "").split("=")));
const shapes = (kv.shapes ?? "smollm2-135m,gemma3-270m,qwen2.5-0.5b,llama3.2-1b").split(",");
const vias = (kv.via ?? "api,input").split(",");
const workerCounts = (kv.workers ?? "1").split(",").map(Number);
const steps = +(kv.steps ?? 3);
const seqLen = +(kv["seq-len"] ?? 256);
const interleave = +(kv.interleave ?? 0);
const check = interleave === 0 && (kv.check ?? "true") !== "false";
for (const v of vias) if (v !== "api" && v !== "input") throw new Error(`--via: unknown way ${JSON.stringify(v)} (api or input)`);

// Each shape's architecture (scripts/bench/realsize's table).
const arch = { "smollm2-135m": "llama", "gemma3-270m": "gemma3", "qwen2.5-0.5b": "qwen2", "llama3.2-1b": "llama" };
for (const s of shapes) if (!arch[s]) throw new Error(`--shapes: unknown shape ${JSON.stringify(s)}`);

buildAll();
const bin = path.join(root, "bin/webtune");
const tmp = mkdtempSync(path.join(tmpdir(), "webtune-page-realsize-"));
execFileSync(process.env.GO ?? "go", ["run", "./scripts/bench/realsize", "-shapes", shapes.join(","), "-write", tmp, ...(check ? ["-f32"] : [])], { cwd: root, stdio: "inherit" });
const text = "the quick brown fox jumps over the lazy dog while a small cook writes her diary about bread soup rice. ".repeat(400);
const server = await startServer();
const browser = await launch();
const rows = [];
const started = new Date();

// viaAPI loads, trains and saves the adapter through the JS API.
// The file is in the page's #bench-file input (viaAPIWithFile).
async function viaAPI(page, { workers }) {
  return page.evaluate(async ({ workers, steps, seqLen, text }) => {
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
    const adapter = await m.saveAdapter();
    let bin = "";
    for (let i = 0; i < adapter.length; i += 0x8000) bin += String.fromCharCode(...adapter.subarray(i, i + 0x8000));
    return { state: res.state, loadSec, tokensPerSec: last?.tokensPerSec ?? 0, trainedOn: last?.workers ?? 0,
      afterLoad, peak, estimate: info.estimate?.workerBytes ?? null, fileBytes: file.size, adapterB64: btoa(bin) };
  }, { workers, steps, seqLen, text });
}

const MiB = 1024 * 1024;
// pageMB reads "N MB" as the page writes it (mb(): MiB) and returns bytes.
const pageMB = (s) => +s.replace(/,/g, "") * MiB;

// viaInput drives the page as a user would: settings, the model-file input,
// the layers to adapt, Train, then Download adapter.
async function viaInput(page, { shape, workers, modelPath, adapterPath }) {
  await page.selectOption("[data-testid=engine]", "cpu");
  if (await page.isEnabled("[data-testid=workers]")) await page.selectOption("[data-testid=workers]", String(workers));
  await page.fill("[data-testid=seq-len]", String(seqLen));
  await page.fill("[data-testid=batch]", String(workers));
  await page.fill("[data-testid=steps]", String(steps));
  await page.fill("[data-testid=rank]", "8");
  await page.fill("[data-testid=alpha]", "16");
  await page.fill("[data-testid=sample-max-tokens]", "4"); // the samples after the run are not measured
  const t0 = Date.now();
  await page.setInputFiles("[data-testid=model-file]", modelPath);
  await page.waitForFunction(() => /^Training will take about/.test(document.querySelector("[data-testid=memory-estimate]").textContent), null, { timeout: 300_000 });
  const estimateText = await page.textContent("[data-testid=memory-estimate]");
  await page.waitForFunction((n) => document.querySelector("#model-info").textContent.startsWith(`${n}:`), `${shape}.gguf`, { timeout: 600_000 });
  const loadSec = (Date.now() - t0) / 1000;
  const trainedWorkers = +(await page.inputValue("[data-testid=workers]"));
  for (const t of await page.$$eval("#target-boxes input", (xs) => xs.map((x) => x.value))) {
    await page.setChecked(`[data-testid=target-${t}]`, t === "attn_q" || t === "attn_v");
  }
  await page.fill("[data-testid=training-text]", text);
  let peakWasm = 0, peakInUse = 0;
  const readMemory = async () => {
    const m = (await page.textContent("#memory")).match(/Memory: ([\d.,]+) MB in use \(wasm ([\d.,]+) MB\)/);
    if (m) {
      peakInUse = Math.max(peakInUse, pageMB(m[1]));
      peakWasm = Math.max(peakWasm, pageMB(m[2]));
    }
  };
  await page.click("[data-testid=train]");
  const poll = setInterval(() => readMemory().catch(() => {}), 250);
  try {
    await page.waitForFunction(() => ["done", "error", "idle"].includes(document.querySelector("[data-testid=status]").textContent) &&
      +document.body.dataset.step >= 1, null, { timeout: 1_800_000 });
  } finally {
    clearInterval(poll);
  }
  await readMemory();
  const status = await page.textContent("[data-testid=status]");
  const report = await page.getAttribute("#progress-text", "data-report");
  if (status !== "done") throw new Error(`${shape}: the page's run ended "${status}": ${await page.textContent("[data-testid=error]")}`);
  const tokensPerSec = +report.match(/([\d,]+) tokens\/s/)[1].replace(/,/g, "");
  await page.waitForSelector("[data-testid=download-adapter]:enabled", { timeout: 600_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-adapter]")]);
  await download.saveAs(adapterPath);
  return { state: status, loadSec, tokensPerSec, trainedOn: trainedWorkers, afterLoad: null, peak: peakWasm, peakInUse,
    estimate: +estimateText.match(/about ([\d.,]+) MB/)[1].replace(/,/g, "") * MiB, estimateText, report,
    adapterName: download.suggestedFilename() };
}

// nativeTokS trains with `webtune train` as the page does (same file, text,
// rank, targets, seq-len, steps; batch = workers) and returns the last
// step's training tokens/s.
function nativeTokS(modelPath, workers) {
  const data = path.join(tmp, "text.txt");
  writeFileSync(data, text);
  const r = spawnSync(bin, ["train", "--model", modelPath, "--data", data, "--out", path.join(tmp, "native.adapter.gguf"),
    "--rank", "8", "--alpha", "16", "--targets", "attn_q,attn_v", "--seq-len", String(seqLen), "--batch", String(workers),
    "--workers", String(workers), "--steps", String(steps), "--eval-fraction", "-1", "--checkpoint-every", "0", "--recompute=off"],
  { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`webtune train: ${r.stderr}`);
  const all = [...r.stderr.matchAll(/([\d.]+) tok\/s/g)];
  if (all.length === 0) throw new Error(`webtune train printed no tok/s: ${r.stderr}`);
  return +all.at(-1)[1];
}

if (interleave > 0) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  try {
    for (const shape of shapes) {
      const modelPath = path.join(tmp, `${shape}.gguf`);
      for (const workers of workerCounts) {
        const native = [], page = [];
        for (let i = 0; i < interleave; i++) {
          native.push(nativeTokS(modelPath, workers));
          const p = await (await browser.newContext()).newPage();
          await p.goto(server.url);
          await p.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
          page.push((await viaAPIWithFile(p, { workers, modelPath })).tokensPerSec);
          await p.context().close();
          console.log(JSON.stringify({ shape, workers, round: i + 1, native: native.at(-1), page: page.at(-1), load: loadavg()[0] }));
        }
        const bn = Math.max(...native), bp = Math.max(...page);
        console.log(`| ${shape} | ${workers} × ${workers} | ${native.map((x) => x.toFixed(1)).join(", ")} | ${page.map((x) => x.toFixed(1)).join(", ")} | ` +
          `${bn.toFixed(1)} / ${bp.toFixed(1)} = ${((100 * bp) / bn).toFixed(0)} % | ${median(native).toFixed(1)} / ${median(page).toFixed(1)} = ${((100 * median(page)) / median(native)).toFixed(0)} % |`);
      }
    }
  } finally {
    await browser.close();
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`(native, page: tokens/s of each round's last step, in order; best and median page/native) ${started.toISOString()} – ${new Date().toISOString()}`);
  process.exit(0);
}

try {
  for (const shape of shapes) {
    const modelPath = path.join(tmp, `${shape}.gguf`);
    for (const via of vias) {
      for (const workers of workerCounts) {
        const page = await (await browser.newContext()).newPage();
        page.on("pageerror", (e) => console.error("pageerror:", e.message));
        await page.goto(server.url);
        await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
        const adapterPath = path.join(tmp, `${shape}-${via}-${workers}.adapter.gguf`);
        let r;
        if (via === "api") {
          r = await viaAPIWithFile(page, { workers, modelPath });
          writeFileSync(adapterPath, Buffer.from(r.adapterB64, "base64"));
          delete r.adapterB64;
        } else {
          r = await viaInput(page, { shape, workers, modelPath, adapterPath });
        }
        await page.context().close();
        const row = { shape, via, workers, ...r, fileBytes: statSync(modelPath).size };
        if (check) {
          try {
            row.check = await checkAdapter({ bin, base: modelPath, f32base: path.join(tmp, `${shape}.f32.gguf`), adapter: adapterPath, arch: arch[shape] });
            row.check.ok = true;
          } catch (e) {
            row.check = { ok: false, error: e.message, ...(e.result ?? {}) };
          }
        }
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
    await closeLlama(); // frees the base model llama.cpp holds before the next shape
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
}

// viaAPIWithFile hands the model file to the page as a user's file would
// reach it (an <input type=file>, no copy through CDP), then runs viaAPI.
async function viaAPIWithFile(page, { workers, modelPath }) {
  await page.evaluate(() => {
    const i = document.createElement("input");
    i.type = "file";
    i.id = "bench-file";
    document.body.append(i);
  });
  await page.setInputFiles("#bench-file", modelPath);
  return viaAPI(page, { workers });
}

const MB = (b) => (b === null || b === undefined ? "–" : (b / 1e6).toFixed(0));
const e = (x) => (x === undefined ? "–" : x.toExponential(1));
console.log(`\nChromium (${cpus().length} cores, ${cpus()[0]?.model ?? "?"}, load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}), ` +
  `LoRA r=8 attn_q,attn_v, seq-len ${seqLen}, ${steps} steps; ${started.toISOString()} – ${new Date().toISOString()}`);
console.log("| shape | via | workers × batch | load s | tokens/s | wasm MB after load | peak wasm MB per worker | estimate MB per worker | " +
  "quantized base: webtune vs llama.cpp with / without adapter · adapter moves llama.cpp by | " +
  "F32 twin: webtune vs llama.cpp with / without adapter (tolerance) · adapter moves by | check |\n|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const q = r.check?.quant, f = r.check?.f32;
  console.log(`| ${r.shape} | ${r.via} | ${r.trainedOn} × ${r.workers} | ${r.loadSec.toFixed(1)} | ${r.tokensPerSec.toFixed(1)} | ${MB(r.afterLoad)} | ${MB(r.peak)} | ${MB(r.estimate)} | ` +
    `${q ? `${e(q.dAdapter)} / ${e(q.dBase)} · ${q.changed.toFixed(3)}` : "–"} | ${f ? `${e(f.dAdapter)} / ${e(f.dBase)} (${f.limit}) · ${f.changed.toFixed(3)}` : "–"} | ` +
    `${!check ? "not run" : r.check.ok ? "✓" : `✗ ${r.check.error}`} |`);
}
if (check && rows.some((r) => !r.check.ok)) process.exitCode = 1;
