// checkpoints.js — the run's checkpoint in IndexedDB ("checkpoints" store,
// key "current"; a model opened from a file keeps its bytes once under
// "model"), so that a reload can resume. Saves never overlap: one asked for
// during a save runs right after it.
import * as db from "./storage.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { showError } from "./errors.js";
import { mark } from "./hooks.js";

const STORE = "checkpoints";
let saving = false; // the save in progress (a Promise) or false
let saveAgain; // progress of a save asked for during a save
let generation = 0; // forgetRun's count: a save begun before it must not bring the run back

/** CHECKPOINT_EVERY is the number of steps between checkpoints. */
export const CHECKPOINT_EVERY = 5;

/** saveCheckpoint stores the model's checkpoint; progress is the run's last report. */
export async function saveCheckpoint(progress) {
  if (!state.model) return;
  if (saving) {
    saveAgain = progress ?? saveAgain ?? null;
    return saving;
  }
  saving = saveNow(progress);
  try {
    await saving;
  } finally {
    saving = false;
  }
  if (saveAgain !== undefined) {
    const again = saveAgain;
    saveAgain = undefined;
    await saveCheckpoint(again);
  }
}

/** saved resolves when no save is in progress. */
export const saved = () => saving || Promise.resolve();

async function saveNow(progress) {
  const gen = generation;
  try {
    const ckpt = await state.model.checkpoint();
    if (gen !== generation) return;
    // The step the checkpoint holds is in its header; the run's last report
    // may already be a step further.
    const held = checkpointStep(ckpt);
    const last = state.run?.last ?? progress;
    const p = held ? { step: held.step, steps: held.steps || last?.steps } : last;
    await db.put(STORE, "current", {
      ckpt,
      // a file's bytes are stored once, under "model"; a model from a URL stays in OPFS (key)
      source: { kind: state.source.kind, name: state.source.name, key: state.source.key, url: state.source.url },
      qlora: $("qlora").checked,
      step: p?.step ?? 0,
      steps: p?.steps ?? 0,
      savedAt: Date.now(),
    });
    mark("checkpointStep", p?.step ?? 0);
  } catch (e) {
    showError(`Could not save a checkpoint in this browser: ${e.message || e}`, "train");
  }
}

/**
 * checkpointStep reads {step, steps} from a checkpoint's header (the engine
 * writes "WTCKPT", a uint32 version, a uint32 header length, then the JSON
 * header: wasm/bridge/core/checkpoint.go), or null.
 */
export function checkpointStep(ckpt) {
  try {
    if (ckpt.length < 14 || new TextDecoder().decode(ckpt.subarray(0, 6)) !== "WTCKPT") return null;
    const n = new DataView(ckpt.buffer, ckpt.byteOffset + 10, 4).getUint32(0, true);
    const h = JSON.parse(new TextDecoder().decode(ckpt.subarray(14, 14 + n)));
    return h.kind === "run" && Number.isInteger(h.step) ? { step: h.step, steps: h.train?.steps ?? 0 } : null;
  } catch {
    return null;
  }
}

/** saveModelBytes keeps a model opened from a file, for a resume after reload. */
export const saveModelBytes = (source) => db.put(STORE, "model", source);

/** savedRun resolves to the stored checkpoint record, or undefined. */
export const savedRun = () => db.get(STORE, "current").catch(() => undefined);

/** savedModel resolves to the stored model source (with bytes), or undefined. */
export const savedModel = () => db.get(STORE, "model");

/** forgetRun deletes the stored checkpoint and model. */
export async function forgetRun() {
  generation++;
  saveAgain = undefined;
  await saved();
  await db.del(STORE, "current").catch(() => {});
  await db.del(STORE, "model").catch(() => {});
}
