// adapter.js — the Adapter section: download the trained adapter, put an
// adapter file (or adapter bytes from anywhere: the store, a saved list)
// onto a fresh copy of the base model.
import { $, mb, saveBytes } from "./dom.js";
import { state } from "./state.js";
import { setControls } from "./controls.js";
import { writeSettings } from "./settings.js";
import { loadModelFrom, setModel } from "./model.js";
import { generateSamples } from "./samples.js";

/** downloadAdapter offers the adapter as <model>-lora-r<rank>.gguf. */
export async function downloadAdapter() {
  const bytes = await state.model.saveAdapter();
  const name = await state.model.adapterFileName();
  saveBytes(bytes, name);
  $("adapter-info").textContent = `Downloaded ${name} (${mb(bytes.length)}).`;
}

/** openAdapterFile loads an adapter .gguf File. */
export async function openAdapterFile(file) {
  if (!file) return;
  await loadAdapterBytes(new Uint8Array(await file.arrayBuffer()), file.name);
}

// adapterError words an engine error about adapter bytes for the adapter
// panel: a broken file here is not "a GGUF model file".
function adapterError(e) {
  if (e?.code !== "format" && !/not a valid GGUF/.test(e?.message ?? "")) return e;
  const err = new Error("This file is not a LoRA adapter webtune can read: it may be corrupt or cut short, or another kind " +
    "of file. An adapter is a .gguf file saved by Download adapter (or a llama.cpp LoRA adapter).");
  err.detail = e.detail || e.message;
  return err;
}

/** loadAdapterBytes puts adapter GGUF bytes onto a fresh copy of the base model, then generates samples. */
export async function loadAdapterBytes(bytes, label) {
  state.busy = true;
  setControls();
  try {
    // onto a fresh copy of the base model, so any rank and layers fit
    const m = await loadModelFrom(state.source, $("qlora").checked);
    let o;
    try {
      o = await m.loadAdapter(bytes);
    } catch (e) {
      m.dispose().catch(() => {});
      throw adapterError(e);
    }
    await setModel(m, state.source);
    writeSettings(o);
    state.hasAdapter = true;
    $("adapter-info").textContent = `Loaded ${label}: rank ${o.rank}, alpha ${o.alpha}, layers ${o.targets.join(", ")}.`;
  } finally {
    state.busy = false;
  }
  await generateSamples();
}
