// app.js — the fine-tuning page. All the work happens in the worker behind
// webtune.js; this file only wires the controls, the chart, the samples and
// the IndexedDB checkpoints.
import { WebTune } from "./webtune.js";
import uPlot from "./vendor/uplot/uPlot.esm.js";

const $ = (id) => document.getElementById(id);
const MAX_MODEL_BYTES = 1536 * 1024 * 1024;
const CHECKPOINT_EVERY = 5; // steps between IndexedDB checkpoints
const SAMPLE = { maxTokens: 60, temperature: 0.8, topK: 40, seed: 7 };
const DEFAULT_TEXT = `The sea was calm that morning. Gulls wheeled over the harbour and the fishing boats rocked at their moorings.
An old sailor sat on the wall, mending a net and humming a song about the wind.
"Fair weather," he said to the boy beside him. "But the tide turns at noon, and the sea never forgets it."
The boy watched the water. Far out, a sail caught the light and turned toward the shore.
"Is that my father's boat?" the boy asked. The old man squinted and nodded slowly.
"Red sail, patched twice. That's him. He'll want his supper and a dry coat."
They walked along the quay together while the bells of the church rang eleven.
The fishwives were already setting out their baskets, and the smell of tar and salt hung over everything.
When the boat bumped against the stones, the boy caught the rope and made it fast, just as he had been taught.
His father laughed, tired and wet, and held up a silver fish as long as the boy's arm.
`;

const app = {
  wt: null,
  model: null,
  source: { kind: "builtin", name: "builtin" },
  info: null,
  hasAdapter: false,
  run: null,
  paused: false,
  busy: false,
  chart: null,
  xs: [],
  loss: [],
  evalLoss: [],
  saving: false, // the save in progress (a Promise) or false
  saveAgain: undefined, // progress of a save asked for during a save
};

// ---- status, errors, busy ----

function setStatus(s) {
  const el = $("status");
  el.textContent = s;
  el.className = s;
}

function showError(e) {
  const el = $("error");
  el.textContent = typeof e === "string" ? e : e?.message || String(e);
  el.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function setControls() {
  const training = app.run !== null;
  $("train").disabled = app.busy || training || !app.model;
  $("pause").disabled = !training;
  $("stop").disabled = !training;
  $("pause").textContent = app.paused ? "Resume" : "Pause";
  $("download-adapter").disabled = app.busy || !app.hasAdapter;
  $("generate").disabled = app.busy || !app.model;
  for (const id of ["model-builtin", "model-file", "adapter-file", "qlora"]) $(id).disabled = app.busy || training;
  $("workers").disabled = app.busy || training || $("workers").options.length < 2;
}

async function guarded(fn) {
  clearError();
  try {
    await fn();
  } catch (e) {
    showError(e);
  } finally {
    setControls();
  }
}

// ---- IndexedDB checkpoints ----

function idb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("webtune", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("checkpoints");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function idbDo(mode, fn) {
  const db = await idb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction("checkpoints", mode);
      const req = fn(tx.objectStore("checkpoints"));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const idbGet = (key) => idbDo("readonly", (s) => s.get(key));
const idbPut = (key, value) => idbDo("readwrite", (s) => s.put(value, key));
const idbDelete = (key) => idbDo("readwrite", (s) => s.delete(key));

// saveCheckpoint stores the model's checkpoint in IndexedDB. Saves never
// overlap: one asked for during a save runs right after it.
async function saveCheckpoint(progress) {
  if (!app.model) return;
  if (app.saving) {
    app.saveAgain = progress ?? app.saveAgain ?? null;
    return app.saving;
  }
  app.saving = saveNow(progress);
  try {
    await app.saving;
  } finally {
    app.saving = false;
  }
  if (app.saveAgain !== undefined) {
    const again = app.saveAgain;
    app.saveAgain = undefined;
    await saveCheckpoint(again);
  }
}

async function saveNow(progress) {
  try {
    const ckpt = await app.model.checkpoint();
    // The checkpoint waited for the step in progress, whose report arrived
    // before it: the run's last report is the step it holds.
    const p = app.run?.last ?? progress;
    await idbPut("current", {
      ckpt,
      source: { kind: app.source.kind, name: app.source.name }, // a file's bytes are stored once, under "model"
      qlora: $("qlora").checked,
      step: p?.step ?? 0,
      steps: p?.steps ?? 0,
      savedAt: Date.now(),
    });
    document.body.dataset.checkpointStep = String(p?.step ?? 0);
  } catch (e) {
    showError(`Could not save a checkpoint in this browser: ${e.message || e}`);
  }
}

// ---- chart ----

function chartWidth() {
  return Math.max(260, $("loss-chart").clientWidth || 600);
}

function setupChart() {
  const opts = {
    width: chartWidth(),
    height: 240,
    scales: { x: { time: false } },
    axes: [{ label: "step" }, { label: "loss (nats/token)" }],
    series: [
      { label: "step" },
      { label: "train", stroke: "#2458d6", width: 2 },
      { label: "eval", stroke: "#e07b00", width: 2, spanGaps: true, points: { show: true, size: 6 } },
    ],
  };
  app.chart = new uPlot(opts, [[], [], []], $("loss-chart"));
  new ResizeObserver(() => app.chart.setSize({ width: chartWidth(), height: 240 })).observe($("loss-chart"));
}

function resetChart(history) {
  app.xs = [];
  app.loss = [];
  app.evalLoss = [];
  if (history) {
    const evals = new Map((history.evals ?? []).map((e) => [e.step, e.loss]));
    (history.losses ?? []).forEach((l, i) => {
      app.xs.push(i + 1);
      app.loss.push(l);
      app.evalLoss.push(evals.has(i + 1) ? evals.get(i + 1) : null);
    });
  }
  app.chart.setData([app.xs, app.loss, app.evalLoss]);
  document.body.dataset.chartPoints = String(app.xs.length);
}

function addPoint(p) {
  app.xs.push(p.step);
  app.loss.push(p.loss);
  app.evalLoss.push(p.evalLoss ?? null);
  app.chart.setData([app.xs, app.loss, app.evalLoss]);
  document.body.dataset.chartPoints = String(app.xs.length);
}

// ---- formatting ----

function mb(n) {
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

function clock(sec) {
  if (!Number.isFinite(sec)) return "–";
  sec = Math.round(sec);
  const m = Math.floor(sec / 60);
  const s = String(sec % 60).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function fmt(n) {
  return Number(n).toLocaleString("en-US");
}

// ---- model ----

function loadModelFrom(source, qlora) {
  return app.wt.loadModel(source.kind === "builtin" ? "builtin" : source.bytes, { qlora, name: source.name });
}

async function setModel(model, source) {
  if (app.model && app.model !== model) app.model.dispose().catch(() => {});
  app.model = model;
  app.info = await model.info();
  if (source.kind === "builtin") source = { kind: "builtin", name: app.info.name };
  app.source = source;
  app.hasAdapter = app.info.lora !== null && app.info.lora !== undefined;
  renderInfo();
  renderTargets();
  updateStats();
  updateMemory();
}

function renderInfo() {
  const i = app.info;
  const tied = i.tiedOutput ? ", tied output" : "";
  $("model-info").textContent =
    `${i.name}: ${i.architecture}, ${fmt(i.params)} parameters, ${i.layers} layers × ${i.dim} wide, ` +
    `${i.heads} heads (${i.kvHeads} KV), vocabulary ${fmt(i.vocabSize)}${tied}; ` +
    `${mb(i.memoryBytes)} in memory${i.qlora ? " (QLoRA, NF4)" : ""}.`;
}

function renderTargets(checked) {
  const box = $("target-boxes");
  const keep = checked ?? [...box.querySelectorAll("input:checked")].map((c) => c.value);
  const want = keep.length ? keep : ["attn_q", "attn_v"];
  box.replaceChildren();
  for (const t of app.info.targets) {
    const id = `target-${t}`;
    const input = Object.assign(document.createElement("input"), { type: "checkbox", id, value: t, checked: want.includes(t) });
    input.dataset.testid = id;
    const label = document.createElement("label");
    label.append(input, ` ${t}`);
    box.append(label);
  }
}

async function useModel(source) {
  app.busy = true;
  setControls();
  $("model-info").textContent = `Loading ${source.name}…`;
  try {
    const m = await loadModelFrom(source, $("qlora").checked);
    await setModel(m, source);
  } catch (e) {
    if (app.info) renderInfo();
    else $("model-info").textContent = "No model loaded.";
    throw e;
  } finally {
    app.busy = false;
  }
}

async function openModelFile(file) {
  if (!file) return;
  if (!/\.gguf$/i.test(file.name)) throw new Error(`"${file.name}" is not a .gguf file. Open a llama-architecture model in GGUF format.`);
  if (file.size > MAX_MODEL_BYTES) {
    throw new Error(`"${file.name}" is ${mb(file.size)}: too large for the browser (at most ${mb(MAX_MODEL_BYTES)}). Try a smaller or more quantized model.`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  await useModel({ kind: "file", name: file.name, bytes });
}

// ---- data ----

function jsonlText(raw) {
  const parts = [];
  raw.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      throw new Error(`Line ${i + 1} of the .jsonl file is not valid JSON.`);
    }
    if (typeof o === "string") parts.push(o);
    else if (typeof o.text === "string") parts.push(o.text);
    else if (Array.isArray(o.messages)) parts.push(o.messages.map((m) => m.content).join("\n"));
    else if (o.prompt !== undefined || o.completion !== undefined) parts.push(`${o.prompt ?? ""}${o.completion ?? ""}`);
    else if (o.instruction !== undefined) parts.push([o.instruction, o.input, o.output].filter(Boolean).join("\n"));
    else throw new Error(`Line ${i + 1} of the .jsonl file has no "text", "messages" or "prompt"/"completion" field.`);
  });
  return parts.join("\n\n");
}

async function openDataFile(file) {
  if (!file) return;
  const raw = await file.text();
  $("training-text").value = /\.jsonl?$/i.test(file.name) ? jsonlText(raw) : raw;
  updateStats();
}

let statsTimer = 0;
function updateStats() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(async () => {
    const text = $("training-text").value;
    if (!text.trim()) {
      $("data-stats").textContent = "No text yet.";
      return;
    }
    if (!app.model) {
      $("data-stats").textContent = "Load a model to count the tokens of this text.";
      return;
    }
    try {
      const s = await app.model.textStats(text, { seqLen: +$("seqlen").value || 64, evalFraction: 0.1 });
      $("data-stats").textContent =
        `${fmt(s.tokens)} tokens · ${fmt(s.trainWindows)} training windows of ${s.seqLen} tokens · ` +
        `${fmt(s.evalWindows)} held out for evaluation.` + (s.trainWindows === 0 ? " Add more text to train." : "");
    } catch (e) {
      $("data-stats").textContent = e.message;
    }
  }, 250);
}

// ---- training ----

function readSettings() {
  const num = (id, name, lo, hi, int = true) => {
    const v = Number($(id).value);
    if (!Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new Error(`${name} must be ${int ? "a whole number" : "a number"} between ${lo} and ${hi}.`);
    }
    return v;
  };
  const targets = [...$("target-boxes").querySelectorAll("input:checked")].map((c) => c.value);
  if (targets.length === 0) throw new Error("Choose at least one layer to adapt.");
  return {
    rank: num("rank", "Rank", 1, 256),
    alpha: num("alpha", "Alpha", 0.0001, 1e6, false),
    steps: num("steps", "Steps", 1, 100000),
    // no upper bound: a learning rate too high for the model makes training
    // diverge, which the engine catches and explains
    lr: num("lr", "Learning rate", 1e-7, Number.MAX_VALUE, false),
    batch: num("batch", "Batch", 1, 64),
    seqLen: num("seqlen", "Sequence length", 4, 4096),
    qlora: $("qlora").checked,
    targets,
  };
}

function writeSettings(lora, train) {
  if (lora) {
    $("rank").value = lora.rank;
    $("alpha").value = lora.alpha;
    renderTargets(lora.targets);
  }
  if (train) {
    if (train.steps) $("steps").value = train.steps;
    if (train.lr) $("lr").value = train.lr;
    if (train.batch) $("batch").value = train.batch;
    if (train.seqLen) $("seqlen").value = train.seqLen;
    $("training-text").value = train.text ?? "";
  }
}

function onProgress(p) {
  $("progress").max = p.steps;
  $("progress").value = p.step;
  const ev = p.evalLoss !== null && p.evalLoss !== undefined ? ` · eval ${p.evalLoss.toFixed(3)}` : "";
  $("progress-text").textContent =
    `Step ${p.step} of ${p.steps} · loss ${p.loss.toFixed(3)}${ev} · ${fmt(Math.round(p.tokensPerSec))} tokens/s${p.workers > 1 ? ` on ${p.workers} workers` : ""} · ETA ${clock(p.etaSec)}`;
  document.body.dataset.step = String(p.step);
  addPoint(p);
  if (Date.now() - lastMemory > 1000) updateMemory();
  if (!Number.isFinite(p.loss)) showError("The loss is not a number: training is diverging. Stop and lower the learning rate.");
  if (p.step % CHECKPOINT_EVERY === 0 && p.step < p.steps) saveCheckpoint(p);
}

function attachRun(run) {
  app.run = run;
  app.paused = false;
  app.hasAdapter = true;
  setStatus("training");
  setControls();
  run.done.then(async (res) => {
    app.run = null;
    app.paused = false;
    const last = run.last;
    if (res.state === "done") {
      setStatus("done");
      $("progress-text").textContent += " · finished.";
      await idbDelete("current").catch(() => {});
      await idbDelete("model").catch(() => {});
    } else if (res.state === "error") {
      // a diverging run goes back to its last good step: show that one
      const h = res.history;
      setStatus("error");
      showError(res.error);
      if (h) {
        resetChart(h);
        $("progress").value = h.step;
        document.body.dataset.step = String(h.step);
      }
      await saveCheckpoint(h ? { step: h.step, steps: h.steps } : last);
    } else {
      setStatus("idle");
      $("progress-text").textContent = `Stopped at step ${last?.step ?? 0}. The adapter keeps what was learned; Train starts a new run.`;
      await saveCheckpoint(last);
    }
    app.info = await app.model.info();
    renderInfo();
    setControls();
    updateStats();
    run.dispose().catch(() => {});
    if (res.state !== "error") await generateSamples().catch(showError);
  });
}

async function startTraining() {
  const text = $("training-text").value;
  if (!text.trim()) throw new Error("Paste some training text or open a .txt or .jsonl file first.");
  const s = readSettings();
  app.busy = true;
  setControls();
  try {
    if (+$("workers").value !== app.workers) {
      // another number of workers: a new engine (the run below starts from
      // a fresh copy of the base model anyway)
      $("progress-text").textContent = "Starting the workers…";
      app.wt.onExit = null;
      app.wt.terminate();
      app.model = null;
      await startEngine();
    }
    // a fresh copy of the base model: the adapter and QLoRA follow the settings
    const m = await loadModelFrom(app.source, s.qlora);
    await m.injectLoRA({ rank: s.rank, alpha: s.alpha, targets: s.targets });
    await setModel(m, app.source);
    if (app.source.kind === "file") await idbPut("model", app.source).catch(() => {});
    const sum = await m.summary();
    $("adapter-info").textContent = `Training ${fmt(sum.trainable)} of ${fmt(sum.all)} parameters (${sum.percent.toFixed(2)}%).`;
    resetChart();
    $("progress").value = 0;
    $("progress-text").textContent = "Starting…";
    const run = await m.train({ text, steps: s.steps, lr: s.lr, batch: s.batch, seqLen: s.seqLen, onProgress });
    $("progress").max = run.config.steps;
    attachRun(run);
  } finally {
    app.busy = false;
  }
}

async function togglePause() {
  if (!app.run) return;
  if (app.paused) {
    await app.run.resume();
    app.paused = false;
    setStatus("training");
  } else {
    await app.run.pause();
    app.paused = true;
    setStatus("paused");
    // the checkpoint call waits for the step in progress, so it holds the last step
    await saveCheckpoint(app.run.last);
    await app.saving;
    document.body.dataset.pausedSaved = String(app.run?.last?.step ?? 0);
  }
}

async function stopTraining() {
  if (app.run) await app.run.stop();
}

// ---- resume after reload ----

async function offerResume() {
  const rec = await idbGet("current").catch(() => undefined);
  if (!rec) return;
  const when = new Date(rec.savedAt).toLocaleString();
  $("resume-text").textContent =
    `A training run on ${rec.source?.name ?? "a model"} was interrupted at step ${rec.step} of ${rec.steps} (saved ${when}). ` +
    "Resume it where it stopped, or discard it.";
  $("resume-offer").hidden = false;
  $("resume-run").onclick = () => guarded(() => resumeFrom(rec));
  $("discard-run").onclick = () => guarded(async () => {
    await idbDelete("current");
    await idbDelete("model");
    $("resume-offer").hidden = true;
  });
}

async function resumeFrom(rec) {
  $("resume-offer").hidden = true;
  app.busy = true;
  setControls();
  try {
    $("qlora").checked = !!rec.qlora;
    let source = rec.source;
    if (source.kind === "file") {
      source = await idbGet("model");
      if (!source?.bytes) throw new Error(`The model file ${rec.source.name} is no longer stored in this browser; open it again and train anew.`);
    }
    const m = await loadModelFrom(source, !!rec.qlora);
    const r = await m.restore(rec.ckpt);
    await setModel(m, source);
    writeSettings(r.lora, r.train);
    updateStats();
    resetChart(r.history);
    if (r.kind !== "run") return;
    const h = r.history;
    $("progress").max = h.steps;
    $("progress").value = h.step;
    $("progress-text").textContent = `Resumed at step ${h.step} of ${h.steps}.`;
    document.body.dataset.resumedAt = String(h.step);
    const run = await m.train({ resume: true, onProgress });
    attachRun(run);
  } finally {
    app.busy = false;
  }
}

// ---- samples and adapters ----

async function generateSamples() {
  if (!app.model) return;
  const prompt = $("sample-prompt").value || "Once upon a time";
  $("sample-base").textContent = "…";
  $("sample-adapted").textContent = "…";
  const base = await app.model.generate(prompt, { ...SAMPLE, adapter: false });
  $("sample-base").textContent = prompt + base.text;
  if (!app.hasAdapter) {
    $("sample-adapted").textContent = "(no adapter yet: train or load one)";
    return;
  }
  const tuned = await app.model.generate(prompt, { ...SAMPLE, adapter: true });
  $("sample-adapted").textContent = prompt + tuned.text;
}

async function downloadAdapter() {
  const bytes = await app.model.saveAdapter();
  const name = await app.model.adapterFileName();
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  $("adapter-info").textContent = `Downloaded ${name} (${mb(bytes.length)}).`;
}

async function downloadModel() {
  const bytes = app.source.kind === "builtin" ? await app.wt.builtinModel() : app.source.bytes;
  const name = app.source.kind === "builtin" ? `${app.info.name}.gguf` : app.source.name;
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function openAdapterFile(file) {
  if (!file) return;
  await loadAdapterBytes(new Uint8Array(await file.arrayBuffer()), file.name);
}

// loadAdapterBytes puts an adapter GGUF onto a fresh copy of the base model.
async function loadAdapterBytes(bytes, label) {
  app.busy = true;
  setControls();
  try {
    // onto a fresh copy of the base model, so any rank and layers fit
    const m = await loadModelFrom(app.source, $("qlora").checked);
    let o;
    try {
      o = await m.loadAdapter(bytes);
    } catch (e) {
      m.dispose().catch(() => {});
      throw e;
    }
    await setModel(m, app.source);
    writeSettings(o);
    app.hasAdapter = true;
    $("adapter-info").textContent = `Loaded ${label}: rank ${o.rank}, alpha ${o.alpha}, layers ${o.targets.join(", ")}.`;
  } finally {
    app.busy = false;
  }
  await generateSamples();
}

// ---- memory ----

let lastMemory = 0;
async function updateMemory() {
  if (!app.wt) return;
  lastMemory = Date.now();
  try {
    const m = await app.wt.memory();
    // replicas hold their own copy of the model: about as much again each
    const w = app.wt.workers > 1 ? ` per worker, ${app.wt.workers} workers` : "";
    $("memory").textContent = `Memory: ${mb(m.heapInUse)} in use (wasm ${mb(m.wasmMemory)})${w}`;
  } catch {
    // the next poll will tell
  }
}

// ---- wiring ----

function wire() {
  $("model-builtin").onclick = () => guarded(() => useModel({ kind: "builtin", name: "builtin" }));
  $("model-file").onchange = (e) => guarded(async () => {
    try {
      await openModelFile(e.target.files[0]);
    } finally {
      e.target.value = "";
    }
  });
  $("qlora").onchange = () => guarded(() => useModel(app.source));
  $("data-file").onchange = (e) => guarded(() => openDataFile(e.target.files[0]));
  $("training-text").oninput = updateStats;
  $("seqlen").oninput = updateStats;
  $("train").onclick = () => guarded(startTraining);
  $("pause").onclick = () => guarded(togglePause);
  $("stop").onclick = () => guarded(stopTraining);
  $("generate").onclick = () => guarded(generateSamples);
  $("sample-prompt").onkeydown = (e) => {
    if (e.key === "Enter") guarded(generateSamples);
  };
  $("download-adapter").onclick = () => guarded(downloadAdapter);
  $("download-model").onclick = () => guarded(downloadModel);
  $("adapter-file").onchange = (e) => guarded(async () => {
    try {
      await openAdapterFile(e.target.files[0]);
    } finally {
      e.target.value = "";
    }
  });
  // a file dropped anywhere must not navigate away; on the model section it opens
  for (const ev of ["dragover", "drop"]) document.addEventListener(ev, (e) => e.preventDefault());
  const zone = $("model-title").closest("section");
  zone.addEventListener("dragover", () => zone.classList.add("dragover"));
  zone.addEventListener("dragleave", () => zone.classList.remove("dragover"));
  zone.addEventListener("drop", (e) => {
    zone.classList.remove("dragover");
    const f = e.dataTransfer?.files?.[0];
    if (f && !app.run) guarded(() => openModelFile(f));
  });
}

// setupWorkers fills the Workers choice: 1 up to every core (at most 8)
// on a cross-origin isolated page, the last choice (or every core up to 4)
// selected; without isolation only 1, and the help says why.
function setupWorkers() {
  const sel = $("workers");
  const max = globalThis.crossOriginIsolated ? Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1)) : 1;
  for (let w = 1; w <= max; w++) sel.add(new Option(String(w), String(w)));
  const saved = +localStorage.getItem("webtune.workers");
  sel.value = String(saved >= 1 && saved <= max ? saved : Math.min(max, WebTune.defaultWorkers()));
  if (max === 1) {
    $("workers-help").textContent = globalThis.crossOriginIsolated
      ? "This device reports one core."
      : "Several workers need a cross-origin isolated page (COOP/COEP headers); this one trains on one.";
  }
  sel.onchange = () => localStorage.setItem("webtune.workers", sel.value);
}

// startEngine starts the worker (and its replicas, as many as the Workers
// choice says); when it dies (out of memory) the page says so, starts a
// new one and reloads the model, keeping what it can.
async function startEngine() {
  app.workers = +$("workers").value || 1;
  app.wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: app.workers });
  app.wt.onExit = async (err) => {
    app.run = null;
    app.paused = false;
    app.model = null;
    setStatus("error");
    showError(err);
    try {
      app.wt.terminate();
      await startEngine();
      await useModel(app.source);
      await offerResume();
    } catch (e) {
      showError(e);
    } finally {
      setControls();
    }
  };
}

async function main() {
  setStatus("idle");
  $("training-text").value = DEFAULT_TEXT;
  setupChart();
  setupWorkers();
  wire();
  setControls();
  await guarded(async () => {
    await startEngine();
    await useModel({ kind: "builtin", name: "builtin" });
  });
  updateMemory();
  setInterval(updateMemory, 2000);
  await guarded(offerResume);
  document.body.dataset.ready = "true";
  mountStore();
}

// mountStore adds the adapter store's section when this origin serves the
// store API (the hosted page); under `webtune serve` there is none.
async function mountStore() {
  try {
    const { storeAvailable, mountStoreUI } = await import("./store.js");
    if (!(await storeAvailable())) return;
    mountStoreUI(document.querySelector("main"), {
      getAdapterBytes: async () => (app.hasAdapter && app.model ? app.model.saveAdapter() : null),
      onLoadAdapter: (bytes, meta) => guarded(() => loadAdapterBytes(bytes, meta?.name ?? "the adapter")),
      defaultName: async () => (app.model ? (await app.model.adapterFileName()).replace(/\.gguf$/, "") : "adapter"),
    });
  } catch {
    // no store module or no store: the page works without it
  }
}

// The page's state, for the browser console and the tests.
globalThis.webtunePage = app;

main();
