// training.js — the Train section: start, pause, resume and stop a run,
// its progress line and chart, checkpoints while it runs, and the offer to
// resume an interrupted run after a reload.
import { $, clock, fmt } from "./dom.js";
import { state } from "./state.js";
import { setStatus, showError } from "./errors.js";
import { guarded, setControls } from "./controls.js";
import { mark } from "./hooks.js";
import { LossChart } from "./chart.js";
import { readSettings, SettingError, writeSettings } from "./settings.js";
import { describePlan, textPlan, updateStats } from "./data.js";
import { loadModelFrom, renderInfo, setModel } from "./model.js";
import { checkGPUUse, engineLabel, forgetGPUUse, memoryAge, startEngine, stopEngine, updateMemory } from "./engine.js";
import { generateSamples } from "./samples.js";
import { CHECKPOINT_EVERY, forgetRun, saveCheckpoint, saved, saveModelBytes, savedModel, savedRun } from "./checkpoints.js";
import { keepRunAdapter } from "./saved-adapters.js";
import { cachedFile } from "../modelcache.js";
import { checkFits } from "./estimate.js";

let chart = null;

/** setupChart puts the loss chart in its place. */
export function setupChart() {
  chart = new LossChart($("loss-chart"), $("loss-text"));
}

// resetChart shows history (or nothing); withEval says whether the run
// has a held-out part (else the chart and its caption promise no eval curve).
function resetChart(history, withEval = true) {
  chart.reset(history, { withEval });
  $("loss-legend").textContent = withEval
    ? "Loss (lower is better): training in blue, held-out evaluation in orange."
    : "Loss (lower is better): training in blue. No held-out evaluation: the text is too short to set any aside.";
  mark("chartPoints", chart.points);
}

// The progress line changes every step; screen readers hear it through a
// separate live region at most once every ANNOUNCE_MS, always ending on the
// latest text.
const ANNOUNCE_MS = 2000;
let lastAnnounce = 0;
let announceTimer = 0;
let announceText = "";

function announce(text) {
  announceText = text;
  if (announceTimer) return;
  const wait = lastAnnounce + ANNOUNCE_MS - Date.now();
  const say = () => {
    announceTimer = 0;
    lastAnnounce = Date.now();
    $("progress-announce").textContent = announceText;
  };
  if (wait <= 0) say();
  else announceTimer = setTimeout(say, wait);
}

function setProgressText(text) {
  $("progress-text").textContent = text;
  announce(text);
}

function onProgress(p) {
  $("progress").max = p.steps;
  $("progress").value = p.step;
  const ev = p.evalLoss !== null && p.evalLoss !== undefined ? ` · eval ${p.evalLoss.toFixed(3)}` : "";
  const report =
    `Step ${p.step} of ${p.steps} · loss ${p.loss.toFixed(3)}${ev} · ${fmt(Math.round(p.tokensPerSec))} tokens/s${p.workers > 1 ? ` on ${p.workers} workers` : ""} · ${engineLabel()}${p.evalSec > 0 ? ` · evaluation ${p.evalSec.toFixed(p.evalSec < 10 ? 2 : 0)} s` : ""} · ETA ${clock(p.etaSec)}`;
  setProgressText(report);
  $("progress-text").dataset.report = report;
  if (p.step === 1) checkGPUUse();
  mark("step", p.step);
  chart.add(p);
  mark("chartPoints", chart.points);
  if (memoryAge() > 1000) updateMemory();
  if (!Number.isFinite(p.loss)) showError("The loss is not a number: training is diverging. Stop and lower the learning rate.", "lr");
  if (p.step % CHECKPOINT_EVERY === 0 && p.step < p.steps) saveCheckpoint(p);
}

// onActivity shows a long step under way (a real-size model takes seconds
// a step): before the first step's report the progress line says where the
// step is; later the step's part follows the last report.
function onActivity(a) {
  const where = `step ${a.step}: ${a.pass} pass, layer ${a.layer} of ${a.layers}…`;
  const report = $("progress-text").dataset.report;
  $("progress-text").textContent = report ? `${report} · ${where}` : `Training ${where}`;
  mark("activity", a.step);
  if (memoryAge() > 1000) updateMemory();
}

function attachRun(run) {
  state.run = run;
  state.paused = false;
  state.hasAdapter = true;
  setStatus("training");
  setControls();
  run.done.then(async (res) => {
    state.run = null;
    state.paused = false;
    const last = run.last;
    if (res.state === "done") {
      setStatus("done");
      setProgressText(`${$("progress-text").textContent} · finished.`);
      await forgetRun();
    } else if (res.state === "error") {
      // a diverging run goes back to its last good step: show that one
      const h = res.history;
      setStatus("error");
      showError(res.error, "train");
      if (h) {
        resetChart(h, chart.withEval);
        $("progress").value = h.step;
        mark("step", h.step);
      }
      await saveCheckpoint(h ? { step: h.step, steps: h.steps } : last);
    } else {
      // stopped on purpose: nothing to offer after a reload (the adapter is
      // kept below); forgotten before the page says it stopped
      await forgetRun();
      setStatus("idle");
      setProgressText(`Stopped at step ${last?.step ?? 0}. The adapter keeps what was learned; Train starts a new run.`);
    }
    // every run that learned something keeps its adapter, whatever ended it
    await keepRunAdapter(run, res).catch((e) => showError(`Could not keep the adapter in this browser: ${e.message || e}`, "download-adapter"));
    state.info = await state.model.info();
    renderInfo();
    setControls();
    updateStats();
    run.dispose().catch(() => {});
    if (res.state !== "error") await generateSamples().catch((e) => showError(e, "generate"));
  });
}

/** startTraining trains a new adapter on a fresh copy of the base model with the settings. */
export async function startTraining() {
  const text = $("training-text").value;
  if (!text.trim()) throw new SettingError("Paste some training text or open a .txt or .jsonl file first.", "training-text");
  const s = readSettings();
  // what cannot fit is refused before anything loads; more workers than
  // fit train on fewer
  const est = await checkFits();
  if (est && est.workers >= 1 && est.workers < (+$("workers").value || 1) && s.batch >= +$("workers").value &&
    [...$("workers").options].some((o) => +o.value === est.workers)) {
    $("workers").value = String(est.workers);
  }
  state.busy = true;
  setControls();
  try {
    const plan = await textPlan(text, s.seqLen);
    if (plan.stats.trainWindows === 0) {
      throw new SettingError(`${describePlan(plan)} The text is too short: add more, or use a shorter sequence length.`, "training-text");
    }
    if (+$("workers").value !== state.workers || $("engine").value !== state.engineChoice) {
      // another number of workers or engine: a new engine (the run below starts from
      // a fresh copy of the base model anyway)
      setProgressText("Starting the workers…");
      stopEngine();
      await startEngine();
    }
    // a fresh copy of the base model: the adapter and QLoRA follow the settings
    const m = await loadModelFrom(state.source, s.qlora);
    await m.injectLoRA({ rank: s.rank, alpha: s.alpha, targets: s.targets });
    await setModel(m, state.source);
    if (state.source.bytes) await saveModelBytes(state.source).catch(() => {});
    const sum = await m.summary();
    $("adapter-info").textContent = `Training ${fmt(sum.trainable)} of ${fmt(sum.all)} parameters (${sum.percent.toFixed(2)}%).`;
    resetChart(null, !plan.noEval);
    $("progress").value = 0;
    setProgressText("Starting…");
    delete $("progress-text").dataset.report;
    forgetGPUUse();
    const run = await m.train({ text, steps: s.steps, lr: s.lr, batch: s.batch, seqLen: s.seqLen, evalFraction: plan.evalFraction, onProgress, onActivity });
    checkGPUUse(); // the run has chosen where it trains: the engine line says so before its first step
    $("progress").max = run.config.steps;
    // this is now the newest run: an older one's offer goes, and a reload
    // before the first periodic checkpoint offers this run, not the older
    $("resume-offer").hidden = true;
    attachRun(run);
    saveCheckpoint({ step: 0, steps: run.config.steps });
  } finally {
    state.busy = false;
  }
}

/** togglePause pauses the run (saving a checkpoint) or resumes it. */
export async function togglePause() {
  if (!state.run) return;
  if (state.paused) {
    await state.run.resume();
    state.paused = false;
    setStatus("training");
  } else {
    await state.run.pause();
    state.paused = true;
    setStatus("paused");
    // the checkpoint call waits for the step in progress, so it holds the last step
    await saveCheckpoint(state.run.last);
    await saved();
    mark("pausedSaved", state.run?.last?.step ?? 0);
  }
}

/** stopTraining stops the run; the adapter keeps what it learned. */
export async function stopTraining() {
  if (state.run) await state.run.stop();
}

/** offerResume shows the offer to resume a run interrupted by a reload, if one is stored. */
export async function offerResume() {
  const rec = await savedRun();
  if (!rec) return;
  const when = new Date(rec.savedAt).toLocaleString();
  const next = rec.step + 1;
  $("resume-text").textContent =
    `A training run on ${rec.source?.name ?? "a model"} was interrupted at step ${rec.step} of ${rec.steps} (saved ${when}). ` +
    `Resume continues from step ${next}. Discard forgets this run.`;
  $("resume-run").textContent = `Resume from step ${next}`;
  $("resume-offer").hidden = false;
  // where the user looks: next to the Train controls, scrolled into view
  $("resume-offer").scrollIntoView({ block: "center" });
  $("resume-run").focus({ preventScroll: true });
  $("resume-run").onclick = () => guarded(() => resumeFrom(rec), "train");
  $("discard-run").onclick = () => guarded(async () => {
    await forgetRun();
    hideOffer($("train"));
  }, "discard-run");
}

// hideOffer hides the resume offer, first handing the focus (on one of its
// buttons) to next, so that it never drops to <body>.
function hideOffer(next) {
  if ($("resume-offer").contains(document.activeElement)) (next.disabled ? $("progress-text") : next).focus();
  $("resume-offer").hidden = true;
}

async function resumeFrom(rec) {
  hideOffer($("progress-text"));
  state.busy = true;
  setControls();
  try {
    $("qlora").checked = !!rec.qlora;
    let source = rec.source;
    if (source.kind === "cached") {
      // the model from a URL is still kept in OPFS (or says plainly that it is gone)
      await cachedFile(source.key);
    } else if (source.kind !== "builtin") {
      source = await savedModel();
      if (!source?.bytes) throw new Error(`The model file ${rec.source.name} is no longer stored in this browser; open it again and train anew.`);
    }
    const m = await loadModelFrom(source, !!rec.qlora);
    const r = await m.restore(rec.ckpt);
    await setModel(m, source);
    writeSettings(r.lora, r.train);
    updateStats();
    resetChart(r.history, (r.train?.evalFraction ?? 0) >= 0);
    if (r.kind !== "run") return;
    const h = r.history;
    $("progress").max = h.steps;
    $("progress").value = h.step;
    setProgressText(`Resumed at step ${h.step} of ${h.steps}.`);
    mark("resumedAt", h.step);
    forgetGPUUse();
    const run = await m.train({ resume: true, onProgress, onActivity });
    checkGPUUse();
    attachRun(run);
  } finally {
    state.busy = false;
  }
}
