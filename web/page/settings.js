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
  const ctx = state.info?.contextLength;
  if (ctx && Number($("seqlen").value) > ctx) {
    throw new SettingError(`Sequence length ${$("seqlen").value} is longer than this model's context of ${ctx} tokens: ` +
      `it cannot look that far back. Use ${ctx} or less.`, "seqlen");
  }
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
  // by default every linear layer of the blocks (what PEFT calls all-linear): the most a rank buys
  const want = keep.length ? keep : state.info.targets.filter((t) => t !== "output");
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

/** setupEngineChoice restores the Engine choice (auto, webgpu, cpu) and remembers changes. */
export function setupEngineChoice() {
  const sel = $("engine");
  const saved = localStorage.getItem("webtune.engine");
  sel.value = WebTune.engines.includes(saved) ? saved : "auto";
  sel.onchange = () => localStorage.setItem("webtune.engine", sel.value);
}

/** LR_RANGE is the range of learning rates that LoRA fine-tuning usually uses. */
export const LR_RANGE = [1e-6, 1e-1];
/** MAX_REPEATS is how many times a run may go over its text before the page warns. */
export const MAX_REPEATS = 50;

/**
 * warnings returns the likely mistakes in the settings for plan (a
 * data.js textPlan, or null): [{control, text}]. They do not stop a run.
 */
export function warnings(plan) {
  const out = [];
  const lr = Number($("lr").value);
  if ($("lr").value.trim() !== "" && Number.isFinite(lr) && (lr < LR_RANGE[0] || lr > LR_RANGE[1])) {
    out.push({ control: "lr", text: `A learning rate of ${lr} is outside the usual ${LR_RANGE[0]} to ${LR_RANGE[1]}: ` +
      (lr > LR_RANGE[1] ? "training will most likely diverge (the loss jumps or becomes NaN)." : "training will hardly change the model.") });
  }
  const s = plan?.stats;
  const batch = Number($("batch").value);
  const steps = Number($("steps").value);
  if (s && s.trainWindows > 0 && Number.isInteger(batch) && batch > s.trainWindows) {
    out.push({ control: "batch", text: `The text makes only ${s.trainWindows} training window${s.trainWindows === 1 ? "" : "s"} ` +
      `of ${s.seqLen} tokens, fewer than the batch of ${batch}: every step sees the same windows. Add text or use a shorter sequence length.` });
  }
  if (s && s.trainWindows > 0 && Number.isInteger(batch) && Number.isInteger(steps) && steps > 0) {
    const repeats = (steps * batch) / s.trainWindows;
    if (repeats > MAX_REPEATS) {
      out.push({ control: "steps", text: `${steps} steps of ${batch} windows go over this text about ${Math.round(repeats)} times: ` +
        `the adapter will learn it by heart rather than its style. Use fewer steps (about ${Math.max(1, Math.floor((MAX_REPEATS * s.trainWindows) / batch))}) or more text.` });
    }
  }
  return out;
}

/** renderWarnings shows each warning inside the field of its control. */
export function renderWarnings(plan) {
  for (const el of document.querySelectorAll("p.warn[data-warning]")) el.remove();
  for (const w of warnings(plan)) {
    const p = document.createElement("p");
    p.className = "warn";
    p.dataset.warning = w.control;
    p.dataset.testid = `warn-${w.control}`;
    p.id = `warn-${w.control}`;
    p.textContent = w.text;
    $(w.control).closest(".field").append(p);
    $(w.control).setAttribute("aria-describedby", `${w.control}-help warn-${w.control}`);
  }
  for (const id of ["lr", "batch", "steps"]) {
    if (!$(`warn-${id}`)) $(id).setAttribute("aria-describedby", `${id}-help`);
  }
}
