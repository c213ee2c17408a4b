// app.js — the fine-tuning page's entry point: it wires the controls to the
// modules in page/ and starts the engine with the built-in model. All the
// work happens in the worker behind webtune.js. The modules, by concern:
//   page/state.js        the shared state (engine, model, run)
//   page/model.js        which model is loaded (useModel, onModelChange)
//   page/storage.js      the IndexedDB database (its only owner)
//   page/checkpoints.js  the run's checkpoint in IndexedDB
//   page/training.js     train, pause, stop, progress, chart, resume offer
//   page/chart.js        the loss chart (canvas, no library)
//   page/settings.js     reading and checking the settings
//   page/data.js         the training text and its counts
//   page/samples.js      base vs adapted samples
//   page/adapter.js      download and load adapters
//   page/saved-adapters.js  every run's adapter kept in IndexedDB, listed
//   page/model-url.js    models opened from a URL (../modelcache.js), kept in OPFS
//   page/engine.js       the engine's start and memory line
//   page/estimate.js     the memory a run will take, from the model's header
//   page/errors.js, page/controls.js  errors next to their control, enabled controls
//   page/hooks.js        what the browser tests read (nothing else does)
import { $ } from "./page/dom.js";
import { state } from "./page/state.js";
import { clearError, setStatus, showError } from "./page/errors.js";
import { guarded, setControls, whileIdle } from "./page/controls.js";
import { expose, mark } from "./page/hooks.js";
import { renderWarnings, setupEngineChoice, setupWorkers } from "./page/settings.js";
import { DEFAULT_TEXT, onPlan, openDataFile, plan, updateStats } from "./page/data.js";
import { downloadModel, openModelFile, useModel } from "./page/model.js";
import { startEngine, updateMemory } from "./page/engine.js";
import { offerResume, setupChart, startTraining, stopTraining, togglePause } from "./page/training.js";
import { generateSamples } from "./page/samples.js";
import { downloadAdapter, loadAdapterBytes, openAdapterFile } from "./page/adapter.js";
import { setupSavedAdapters } from "./page/saved-adapters.js";
import { mountModelsUI } from "./page/model-url.js";
import { watch as watchEstimate } from "./page/estimate.js";

// fileInput runs open(file) for the input's file, then clears it so the same file can be chosen again.
function fileInput(id, open) {
  $(id).onchange = (e) => guarded(async () => {
    try {
      await open(e.target.files[0]);
    } finally {
      e.target.value = "";
    }
  }, id);
}

function wire() {
  $("model-builtin").onclick = () => guarded(() => useModel({ kind: "builtin", name: "builtin" }), "model-builtin");
  fileInput("model-file", openModelFile);
  $("qlora").onchange = () => guarded(() => useModel(state.source), "qlora");
  $("data-file").onchange = (e) => guarded(() => openDataFile(e.target.files[0]), "data-file");
  $("training-text").oninput = updateStats;
  $("seqlen").oninput = updateStats;
  onPlan(renderWarnings);
  for (const id of ["lr", "batch", "steps"]) $(id).addEventListener("input", () => renderWarnings(plan));
  watchEstimate();
  $("train").onclick = () => guarded(startTraining, "train");
  $("pause").onclick = () => guarded(togglePause, "pause");
  $("stop").onclick = () => guarded(stopTraining, "stop");
  $("generate").onclick = () => guarded(generateSamples, "generate");
  for (const id of ["sample-prompt", "sample-temperature", "sample-top-p", "sample-max-tokens", "sample-seed"]) {
    $(id).onkeydown = (e) => {
      if (e.key === "Enter") guarded(generateSamples, id === "sample-prompt" ? "generate" : id);
    };
  }
  $("download-adapter").onclick = () => guarded(downloadAdapter, "download-adapter");
  $("download-model").onclick = () => guarded(downloadModel, "download-model");
  fileInput("adapter-file", openAdapterFile);
  // a file dropped anywhere must not navigate away; on the model section it opens
  for (const ev of ["dragover", "drop"]) document.addEventListener(ev, (e) => e.preventDefault());
  const zone = $("model-title").closest("section");
  zone.addEventListener("dragover", () => zone.classList.add("dragover"));
  zone.addEventListener("dragleave", () => zone.classList.remove("dragover"));
  zone.addEventListener("drop", (e) => {
    zone.classList.remove("dragover");
    const f = e.dataTransfer?.files?.[0];
    if (f && !state.run) guarded(() => openModelFile(f), "model-file");
  });
}

// engineDied runs when the engine dies (out of memory): the page says so,
// starts a new one and reloads the model, keeping what it can.
async function engineDied(err) {
  state.run = null;
  state.paused = false;
  state.model = null;
  setStatus("error");
  showError(err, "train");
  try {
    state.wt.terminate();
    await startEngine(engineDied);
    await useModel(state.source);
    await offerResume();
  } catch (e) {
    showError(e, "model-builtin");
  } finally {
    setControls();
  }
}

// mountStore adds the adapter store's section when this origin serves the
// store API: the hosted page's HTML says so (<meta name="webtune-store">,
// set by scripts/worker-build.sh); under `webtune serve` there is none and
// the page asks nothing.
async function mountStore() {
  if (document.querySelector('meta[name="webtune-store"]')?.content !== "same-origin") return;
  try {
    const { storeAvailable, mountStoreUI } = await import("./store.js");
    if (!(await storeAvailable())) return;
    mountStoreUI(document.querySelector("main"), {
      getAdapterBytes: async () => (state.hasAdapter && state.model ? state.model.saveAdapter() : null),
      onLoadAdapter: (bytes, meta) => guarded(() => loadAdapterBytes(bytes, meta?.name ?? "the adapter"), "adapter-file"),
      defaultName: async () => (state.model ? (await state.model.adapterFileName()).replace(/\.gguf$/, "") : "adapter"),
    });
  } catch {
    // no store module or no store: the page works without it
  }
}

// mountModels wires "Open a model from a URL" and the models kept in this
// browser (models-ui.js) to the page's model.
function mountModels() {
  whileIdle("model-url-load");
  mountModelsUI({
    inspect: (prefix, size) => state.wt.inspect(prefix, size),
    busy: () => state.busy || state.run !== null,
    inUse: (key) => state.source.kind === "cached" && state.source.key === key,
    onError: (e, control) => (e ? showError(e, control) : clearError()),
    open: async (source) => {
      // a model that only fits with QLoRA opens with QLoRA on
      if (source.info?.needsQLoRA) $("qlora").checked = true;
      try {
        await useModel(source);
      } finally {
        setControls();
      }
    },
  });
}

// engineFailed explains an engine that did not start: one of its files
// (trainer.worker.js, wasm_exec.js, webtune.wasm) did not load.
function engineFailed(e) {
  const err = new Error("The training engine did not start: one of the page's files (trainer.worker.js, wasm_exec.js " +
    "or webtune.wasm) could not be loaded. Reload the page; if this persists, the server is missing files " +
    '(run "make run" in the repository).');
  err.detail = [e?.message, e?.detail].filter(Boolean).join("\n");
  return err;
}

async function main() {
  globalThis.webtuneBoot?.started();
  expose(state);
  setStatus("idle");
  $("training-text").value = DEFAULT_TEXT;
  setupChart();
  setupWorkers();
  setupEngineChoice();
  wire();
  setControls();
  let started = false;
  await guarded(async () => {
    try {
      await startEngine(engineDied);
    } catch (e) {
      $("model-info").textContent = "No model loaded: the training engine did not start.";
      setStatus("error");
      throw engineFailed(e);
    }
    started = true;
    await useModel({ kind: "builtin", name: "builtin" });
  }, "model-builtin");
  if (started) {
    updateMemory();
    setInterval(updateMemory, 2000);
    // (not guarded: guarded clears the error box, which may hold an error
    // from loading the model above)
    await offerResume().catch((e) => showError(e, "train"));
    mountModels();
    await setupSavedAdapters().catch((e) => showError(e, "download-adapter"));
  }
  mark("ready", true);
  mountStore();
}

main();
