// errors.js — the status badge and the page's error box. An error is shown
// next to the control that caused it (the box moves there), scrolled into
// view and focused, in plain words; the technical detail (an engine's
// "gguf: offset 762: …") sits behind a "Details" toggle.
import { $ } from "./dom.js";

/** setStatus sets the status badge: idle, training, paused, done or error. */
export function setStatus(s) {
  const el = $("status");
  el.textContent = s;
  el.className = s;
}

/**
 * plainParts splits an error into {message, detail}. Errors from the engine
 * (webtune.js WebTuneError) carry their technical text in .detail and repeat
 * it in parentheses at the end of .message; the message keeps the plain part.
 */
export function plainParts(e) {
  if (typeof e === "string") return { message: e, detail: "" };
  let message = e?.message || String(e);
  const detail = typeof e?.detail === "string" ? e.detail.trim() : "";
  if (detail && message.endsWith(` (${detail})`)) message = message.slice(0, -detail.length - 3);
  return { message, detail: detail && detail !== message ? detail : "" };
}

// place puts the error box next to control (an element or id): right
// after it inside a settings field (its help text follows), else after
// the row or group that holds it; without a visible control, under the
// header.
function place(box, control) {
  const el = typeof control === "string" ? $(control) : control;
  if (!el || el.closest("[hidden]")) {
    $("error-home").after(box);
    return;
  }
  const field = el.closest(".field");
  if (field) {
    el.after(box);
    return;
  }
  (el.closest(".row, fieldset") ?? el).after(box);
}

/**
 * showError shows e (an Error, a WebTuneError or a string) next to control
 * (an element or its id; without one, the error goes under the header).
 */
export function showError(e, control) {
  const box = $("error");
  const { message, detail } = plainParts(e);
  box.querySelector(".error-message").textContent = message;
  const det = box.querySelector(".error-details");
  det.hidden = !detail;
  det.open = false;
  det.querySelector("pre").textContent = detail;
  place(box, control);
  box.dataset.control = typeof control === "string" ? control : control?.id ?? "";
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  box.focus({ preventScroll: true });
}

/** clearError hides the error box. */
export function clearError() {
  const box = $("error");
  box.hidden = true;
  box.querySelector(".error-message").textContent = "";
  box.querySelector(".error-details pre").textContent = "";
}
