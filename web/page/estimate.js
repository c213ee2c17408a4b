// estimate.js — the memory a run will take, from the model file's header
// alone (WebTune.inspect with the settings): shown up front in
// data-testid="memory-estimate" when a model is opened and again whenever
// rank, layers, QLoRA, workers, batch or sequence length change. A model
// that cannot train even on one worker is refused before it loads; more
// workers than fit train on fewer.
import { $, mb } from "./dom.js";
import { state } from "./state.js";
import { mark } from "./hooks.js";

// header is the current model's {prefix, size}: the bytes inspect needed.
let header = null;

/**
 * settingsNow returns the settings a run would use, as far as they are
 * valid numbers (the others take the engine's defaults; a sequence length
 * past the next model's context is cut to it there).
 */
function settingsNow() {
  const n = (id) => {
    const v = Number($(id).value);
    return $(id).value.trim() !== "" && Number.isInteger(v) && v >= 1 ? v : undefined;
  };
  const targets = [...$("target-boxes").querySelectorAll("input:checked")].map((c) => c.value);
  const s = { rank: n("rank"), targets: targets.length ? targets : undefined, qlora: $("qlora").checked,
    seqLen: n("seqlen"), batch: n("batch"), workers: +$("workers").value || 1 };
  for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k];
  return s;
}

/**
 * inspectBlob reads the header of blob (a File or a Blob) with the current
 * settings, fetching more of its start until the header is complete.
 */
export async function inspectBlob(blob, settings = settingsNow()) {
  let n = Math.min(blob.size, 1 << 20);
  for (;;) {
    const prefix = new Uint8Array(await blob.slice(0, n).arrayBuffer());
    const info = await state.wt.inspect(prefix, blob.size, settings);
    if (info.complete) {
      header = { prefix, size: blob.size };
      return info;
    }
    if (info.needBytes <= n) throw new Error("The model file's header could not be read.");
    n = Math.min(blob.size, info.needBytes);
  }
}

/**
 * openEstimate reads file's header and the memory a run with the settings
 * would take. When that does not fit but a batch of 1 on one worker does
 * (a real-size model after the built-in one), the settings become those and
 * the estimate says so; what still does not fit comes back with fits false.
 */
export async function openEstimate(file) {
  const info = await inspectBlob(file);
  let e = info.estimate;
  const s = settingsNow();
  if (e && !e.fits && ((s.batch ?? 4) > 1 || s.workers > 1)) {
    const small = await inspectBlob(file, { ...s, batch: 1, workers: 1 });
    if (small.estimate?.fits) {
      $("batch").value = "1";
      if ([...$("workers").options].some((o) => o.value === "1")) {
        $("workers").value = "1";
        $("workers").dispatchEvent(new Event("change"));
      }
      e = { ...small.estimate, problem: `Set to a batch of 1 on one worker for a model of this size. ${small.estimate.problem}`.trim() };
    }
  }
  show(e);
  return e;
}

/** forgetHeader drops the kept header (the built-in model has no estimate shown). */
export function forgetHeader() {
  header = null;
  $("memory-estimate").textContent = "";
  delete $("memory-estimate").dataset.fits;
}

/** text says an estimate in plain words. */
function text(e) {
  if (!e.fits) return `Too large for the browser with these settings: ${e.problem}`;
  const w = e.workers > 1 ? ` on each of ${e.workers} workers (${mb(e.totalBytes)} in all)` : "";
  return `Training will take about ${mb(e.workerBytes)} of memory${w}.${e.problem ? " " + e.problem : ""}`;
}

/** show puts an estimate in its place. */
export function show(e) {
  if (!e) return;
  $("memory-estimate").textContent = text(e);
  $("memory-estimate").dataset.fits = String(e.fits);
  mark("estimate", e.workerBytes);
}

/** refresh recomputes the estimate of the kept header for the current settings. */
export async function refresh() {
  if (!header || !state.wt) return null;
  const s = settingsNow();
  const info = await state.wt.inspect(header.prefix, header.size, s);
  show(info.estimate);
  return info.estimate;
}

/** checkFits refreshes the estimate and throws its plain message when the run cannot fit. */
export async function checkFits() {
  const e = await refresh();
  if (e && !e.fits) throw new Error(`This model is too large for the browser with these settings. ${e.problem}`);
  return e;
}

/** watch recomputes the estimate when a setting it depends on changes. */
export function watch() {
  const again = () => refresh().catch(() => {});
  for (const id of ["rank", "qlora", "workers", "seqlen", "batch"]) $(id).addEventListener("input", again);
  for (const id of ["qlora", "workers"]) $(id).addEventListener("change", again);
  $("target-boxes").addEventListener("change", again);
}
