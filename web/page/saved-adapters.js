// saved-adapters.js — every finished or stopped run's adapter, kept in
// IndexedDB ("adapters" store) with the settings it was trained with, its
// final losses and its date, so that a reload never loses one. The list in
// the Adapter section downloads, tries (onto a fresh copy of the base model,
// next to the base in the samples) or deletes each.
import * as db from "./storage.js";
import { $, fmt, saveBytes } from "./dom.js";
import { state } from "./state.js";
import { guarded } from "./controls.js";
import { mark } from "./hooks.js";
import { loadAdapterBytes } from "./adapter.js";

const STORE = "adapters";

/**
 * keepRunAdapter stores the adapter of the model just trained by run,
 * which ended with res ({state, history}); a run that did not complete a
 * step has learned nothing and is not kept.
 */
export async function keepRunAdapter(run, res) {
  const h = res.history ?? {};
  const step = h.step ?? run.last?.step ?? 0;
  if (!state.model || step === 0) return null;
  const [bytes, fileName, info] = await Promise.all([state.model.saveAdapter(), state.model.adapterFileName(), state.model.info()]);
  const evals = h.evals ?? [];
  const c = run.config ?? {};
  const rec = {
    id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    fileName,
    bytes,
    savedAt: Date.now(),
    model: { name: info.name, architecture: info.architecture, params: info.params, source: state.source.kind },
    settings: {
      rank: info.lora?.rank, alpha: info.lora?.alpha, targets: info.lora?.targets ?? [], qlora: !!info.qlora,
      steps: c.steps ?? h.steps, lr: c.lr, batch: c.batch, seqLen: c.seqLen, workers: c.workers ?? 1,
    },
    result: {
      state: res.state, // "done", "stopped" or "error" (diverged: the last good step is kept)
      step,
      steps: h.steps ?? c.steps,
      trainLoss: h.losses?.length ? h.losses[Math.min(step, h.losses.length) - 1] : run.last?.loss ?? null,
      evalLoss: evals.length ? evals.at(-1).loss : null,
    },
  };
  await db.put(STORE, rec.id, rec);
  await renderSavedAdapters();
  return rec;
}

/** listSavedAdapters resolves to the kept adapters, newest first. */
export async function listSavedAdapters() {
  const all = await db.getAll(STORE).catch(() => []);
  return all.sort((a, b) => b.savedAt - a.savedAt);
}

const num = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const kb = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`);

/** describeAdapter is one line of what a kept adapter is. */
export function describeAdapter(r) {
  const s = r.settings;
  const res = r.result;
  const ended = res.state === "done" ? `${fmt(res.step)} steps` : `stopped at step ${fmt(res.step)} of ${fmt(res.steps)}${res.state === "error" ? " (diverged)" : ""}`;
  const ev = res.evalLoss !== null && res.evalLoss !== undefined ? `, eval ${num(res.evalLoss)}` : "";
  return `${r.model.name} · ${new Date(r.savedAt).toLocaleString()} · rank ${s.rank}, alpha ${s.alpha} · ${s.targets.join(", ")} · ` +
    `${ended} · lr ${s.lr} · batch ${s.batch} × ${s.seqLen} tokens${s.qlora ? " · QLoRA" : ""} · loss ${num(res.trainLoss)}${ev} · ${kb(r.bytes.length)}`;
}

function button(label, testid, aria, onclick, secondary = true) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.testid = testid;
  b.setAttribute("aria-label", aria);
  if (secondary) b.classList.add("secondary");
  b.onclick = onclick;
  return b;
}

/** tryAdapter puts a kept adapter onto a fresh copy of the loaded base model, for the samples. */
async function tryAdapter(r) {
  if (state.info && r.model.name !== state.info.name) {
    throw new Error(`${r.fileName} was trained on ${r.model.name}, but ${state.info.name} is loaded. Open ${r.model.name} first, then try it.`);
  }
  await loadAdapterBytes(r.bytes, r.fileName);
}

/** renderSavedAdapters fills the list. */
export async function renderSavedAdapters() {
  const list = $("adapter-list");
  const all = await listSavedAdapters();
  list.replaceChildren();
  $("adapter-list-empty").hidden = all.length > 0;
  for (const r of all) {
    const li = document.createElement("li");
    li.dataset.id = r.id;
    const name = document.createElement("strong");
    name.textContent = r.fileName;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = ` ${describeAdapter(r)} `;
    const row = document.createElement("span");
    row.className = "buttons";
    const tryIt = button("Try", "adapter-try", `Try ${r.fileName} in the samples`, (e) => guarded(() => tryAdapter(r), e.currentTarget), false);
    const down = button("Download", "adapter-download", `Download ${r.fileName}`, () => saveBytes(r.bytes, r.fileName));
    const del = button("Delete", "adapter-delete", `Delete ${r.fileName} from this browser`, (e) => guarded(async () => {
      await db.del(STORE, r.id);
      await renderSavedAdapters();
    }, e.currentTarget));
    row.append(tryIt, " ", down, " ", del);
    li.append(name, meta, row);
    list.append(li);
  }
  mark("savedAdapters", all.length);
}

/** setupSavedAdapters shows the kept adapters. */
export async function setupSavedAdapters() {
  await renderSavedAdapters();
}
