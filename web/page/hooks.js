// hooks.js — what the page shows to its browser tests, in one place and
// nowhere else: marks on <body data-…> (a test waits for
// body[data-step="4"]) and a read-only view of the page's state as
// globalThis.webtunePage (also handy in the browser console). Production
// code calls mark(); it never reads these back.

/** mark sets document.body.dataset[key] = String(value). */
export function mark(key, value) {
  document.body.dataset[key] = String(value);
}

/**
 * expose publishes a read-only view of the page's state as
 * globalThis.webtunePage: {wt, model, info, source, busy, hasAdapter, run}.
 */
export function expose(state) {
  const view = {};
  for (const k of ["wt", "model", "info", "source", "busy", "hasAdapter", "run"]) {
    Object.defineProperty(view, k, { get: () => state[k], enumerable: true });
  }
  globalThis.webtunePage = Object.freeze(view);
}
