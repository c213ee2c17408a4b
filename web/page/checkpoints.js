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
  try {
    const ckpt = await state.model.checkpoint();
    // The checkpoint waited for the step in progress, whose report arrived
    // before it: the run's last report is the step it holds.
    const p = state.run?.last ?? progress;
    await db.put(STORE, "current", {
      ckpt,
      source: { kind: state.source.kind, name: state.source.name }, // a file's bytes are stored once, under "model"
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

/** saveModelBytes keeps a model opened from a file, for a resume after reload. */
export const saveModelBytes = (source) => db.put(STORE, "model", source);

/** savedRun resolves to the stored checkpoint record, or undefined. */
export const savedRun = () => db.get(STORE, "current").catch(() => undefined);

/** savedModel resolves to the stored model source (with bytes), or undefined. */
export const savedModel = () => db.get(STORE, "model");

/** forgetRun deletes the stored checkpoint and model. */
export async function forgetRun() {
  await db.del(STORE, "current").catch(() => {});
  await db.del(STORE, "model").catch(() => {});
}
