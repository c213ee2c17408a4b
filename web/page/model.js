// model.js — which model is loaded: the one place that loads a base model
// into the engine and makes it the page's model. A source says where a
// model comes from:
//   {kind: "builtin", name}          the built-in model
//   {kind: "file", name, bytes}      a .gguf the user opened (bytes: Uint8Array)
//   {kind: "cached", name, key, url} a model opened from a URL, kept in OPFS
//                                    (modelcache.js): read again for each load
// Other kinds (a model fetched from a URL, a cached one) load the same way
// as "file": any source with bytes. useModel(source) is the entry point;
// onModelChange(fn) tells other parts of the page when the model changes.
import { $, fmt, mb, saveBytes } from "./dom.js";
import { state } from "./state.js";
import { setControls } from "./controls.js";
import { renderTargets } from "./settings.js";
import { updateStats } from "./data.js";
import { updateMemory } from "./engine.js";
import { setChatMode } from "./samples.js";
import { cachedFile } from "../modelcache.js";
import { forgetHeader, openEstimate } from "./estimate.js";

/** MAX_MODEL_BYTES is the largest model file the page opens. */
export const MAX_MODEL_BYTES = 1536 * 1024 * 1024;

const listeners = [];

/** onModelChange(fn) calls fn(state) after every model change. */
export function onModelChange(fn) {
  listeners.push(fn);
}

/** loadModelFrom loads a fresh copy of source's model into the engine (not made current). */
export async function loadModelFrom(source, qlora) {
  if (source.kind === "cached") {
    // read from OPFS for this load only and handed to the worker without a copy
    const bytes = new Uint8Array(await (await cachedFile(source.key)).arrayBuffer());
    return state.wt.loadModel(bytes, { qlora, name: source.name, transfer: true });
  }
  return state.wt.loadModel(source.kind === "builtin" ? "builtin" : source.bytes, { qlora, name: source.name });
}

/** sourceBytes returns the GGUF bytes of a source that is not the built-in model. */
export async function sourceBytes(source) {
  if (source.kind === "cached") return new Uint8Array(await (await cachedFile(source.key)).arrayBuffer());
  return source.bytes;
}

/** setModel makes model (loaded from source) the page's model and shows it. */
export async function setModel(model, source) {
  if (state.model && state.model !== model) state.model.dispose().catch(() => {});
  state.model = model;
  state.info = await model.info();
  if (source.kind === "builtin") source = { kind: "builtin", name: state.info.name };
  state.source = source;
  state.hasAdapter = state.info.lora !== null && state.info.lora !== undefined;
  renderInfo();
  renderTargets();
  setChatMode(!!state.info.chatTemplate);
  updateStats();
  updateMemory();
  for (const fn of listeners) fn(state);
}

/** renderInfo describes the loaded model. */
export function renderInfo() {
  const i = state.info;
  const tied = i.tiedOutput ? ", tied output" : "";
  $("model-info").textContent =
    `${i.name}: ${i.architecture}, ${fmt(i.params)} parameters, ${i.layers} layers × ${i.dim} wide, ` +
    `${i.heads} heads (${i.kvHeads} KV), vocabulary ${fmt(i.vocabSize)}${tied}; ` +
    `${mb(i.memoryBytes)} in memory${i.qlora ? " (QLoRA, NF4)" : ""}.`;
  $("builtin-note").hidden = state.source.kind !== "builtin";
  if (i.contextLength > 0) $("seqlen").max = String(i.contextLength);
}

/** useModel loads source (with the QLoRA choice) and makes it the page's model. */
export async function useModel(source) {
  state.busy = true;
  setControls();
  $("model-info").textContent = `Loading ${source.name}…`;
  if (source.kind === "builtin") forgetHeader();
  try {
    const m = await loadModelFrom(source, $("qlora").checked);
    await setModel(m, source);
  } catch (e) {
    if (state.info) renderInfo();
    else $("model-info").textContent = "No model loaded.";
    throw e;
  } finally {
    state.busy = false;
  }
}

/** openModelFile checks a .gguf File and uses it. */
export async function openModelFile(file) {
  if (!file) return;
  if (!/\.gguf$/i.test(file.name)) throw new Error(`"${file.name}" is not a .gguf file. Open a model in GGUF format (llama, qwen2, qwen3 or gemma3 architecture).`);
  if (file.size > MAX_MODEL_BYTES) {
    throw new Error(`"${file.name}" is ${mb(file.size)}: too large for the browser (at most ${mb(MAX_MODEL_BYTES)}). Try a smaller or more quantized model.`);
  }
  // the header first: what the run will take is shown, and what cannot fit
  // is refused, before the whole file is read
  const est = await openEstimate(file);
  if (est && !est.fits) {
    throw new Error(`"${file.name}" is too large for the browser with these settings. ${est.problem}`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  await useModel({ kind: "file", name: file.name, bytes });
}

/** downloadModel offers the loaded base model's GGUF (to use an adapter with llama.cpp). */
export async function downloadModel() {
  const builtin = state.source.kind === "builtin";
  const bytes = builtin ? await state.wt.builtinModel() : await sourceBytes(state.source);
  saveBytes(bytes, builtin ? `${state.info.name}.gguf` : state.source.name);
}
