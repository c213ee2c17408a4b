// settings.js — the Settings section: reading and checking rank, alpha,
// steps, learning rate, batch, sequence length, QLoRA and the layers to
// adapt; writing them back (a restored run, a loaded adapter); the layer
// checkboxes of the loaded model; the Workers choice.
import { WebTune } from "../webtune.js";
import { $ } from "./dom.js";
import { state } from "./state.js";

/** SettingError is a setting the page refuses; control is the input's id. */
export class SettingError extends Error {
  constructor(message, control) {
    super(message);
    this.name = "SettingError";
    this.control = control;
  }
}

/** readSettings returns the checked settings or throws a SettingError. */
export function readSettings() {
  const num = (id, name, lo, hi, int = true) => {
    const v = Number($(id).value);
    if ($(id).value.trim() === "" || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new SettingError(`${name} must be ${int ? "a whole number" : "a number"} between ${lo} and ${hi}.`, id);
    }
    return v;
  };
  const targets = [...$("target-boxes").querySelectorAll("input:checked")].map((c) => c.value);
  if (targets.length === 0) throw new SettingError("Choose at least one layer to adapt.", "target-boxes");
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

/** writeSettings shows the settings of a restored run or a loaded adapter. */
export function writeSettings(lora, train) {
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

/** renderTargets shows one checkbox per layer kind of the loaded model, keeping checked (or the current choice). */
export function renderTargets(checked) {
  const box = $("target-boxes");
  const keep = checked ?? [...box.querySelectorAll("input:checked")].map((c) => c.value);
  const want = keep.length ? keep : ["attn_q", "attn_v"];
  box.replaceChildren();
  for (const t of state.info.targets) {
    const id = `target-${t}`;
    const input = Object.assign(document.createElement("input"), { type: "checkbox", id, value: t, checked: want.includes(t) });
    input.dataset.testid = id;
    const label = document.createElement("label");
    label.append(input, ` ${t}`);
    box.append(label);
  }
}

/**
 * setupWorkers fills the Workers choice: 1 up to every core (at most 8) on
 * a cross-origin isolated page, the last choice (or every core up to 4)
 * selected; without isolation only 1, and the help says why.
 */
export function setupWorkers() {
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
