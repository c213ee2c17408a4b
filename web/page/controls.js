// controls.js — which buttons and inputs are enabled, from the shared state,
// and guarded(), the one way an action runs: it clears the last error, runs,
// shows a failure next to the control that caused it, and re-enables the
// controls. Modules that add controls list them with whileIdle().
import { $ } from "./dom.js";
import { state } from "./state.js";
import { clearError, showError } from "./errors.js";

// controls disabled while a model loads or a run goes
const idleOnly = new Set(["model-builtin", "model-file", "adapter-file", "qlora"]);

/** whileIdle adds controls (ids) that are disabled while busy or training. */
export function whileIdle(...ids) {
  for (const id of ids) idleOnly.add(id);
  setControls();
}

/** setControls enables and disables the controls from the state. */
export function setControls() {
  const training = state.run !== null;
  const before = document.activeElement;
  $("train").disabled = state.busy || training || !state.model;
  $("pause").disabled = !training;
  $("stop").disabled = !training;
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  $("download-adapter").disabled = state.busy || !state.hasAdapter;
  $("generate").disabled = state.busy || !state.model;
  // without an engine (it did not start) nothing can load
  for (const id of idleOnly) if ($(id)) $(id).disabled = state.busy || training || !state.wt;
  $("workers").disabled = state.busy || training || $("workers").options.length < 2;
  $("engine").disabled = state.busy || training;
  keepFocus(before);
}

// Focus on a control that just became disabled would drop to <body>. In
// the Train section it moves to the control that makes sense next (Pause
// while a run goes, else the progress line); Generate hands it to the prompt.
function keepFocus(before) {
  if (!before || before === document.body || !before.disabled) return;
  if (before.id === "generate") {
    $("sample-prompt").focus();
    return;
  }
  if (!before.closest("#train-section")) return;
  const next = [$("pause"), $("stop"), $("train")].find((b) => !b.disabled);
  if (next) next.focus();
  else $("progress-text").focus();
}

/**
 * guarded runs the action fn: it clears the last error first, and shows a
 * failure next to control (an element or id), or next to the control the
 * error names (a SettingError's .control), then updates the controls.
 */
export async function guarded(fn, control) {
  clearError();
  try {
    await fn();
  } catch (e) {
    showError(e, e?.control ?? control);
  } finally {
    setControls();
  }
}
