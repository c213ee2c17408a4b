// model-url.js — the model section's "open from a URL" part: the URL field,
// the header read first (what the model is, whether it fits) before the
// download, the download's progress (bytes, speed, time left), the list of
// models kept in this browser (open, delete) and the suggested small models.
// The page passes its hooks; the work is in modelcache.js.
//
//   mountModelsUI({
//     inspect: (prefix, size) => wt.inspect(prefix, size),
//     open: async (source) => { ... },   // {kind: "cached", key, name, url, info}
//     busy: () => false,                  // true while the page must not change model
//     inUse: (key) => false,              // true for the kept model the page has open
//     onError: (e, control) => { ... },   // show e next to control (null e: clear)
//   });
import {
  SUGGESTED, ModelURLError, cacheKey, checkURL, deleteCached, download, fileName, listCached, probeHeader, storageAvailable,
} from "../modelcache.js";
import { mark } from "./hooks.js";

import { $ } from "./dom.js";

/** size formats bytes for people ("138.1 MB", "1.2 GB"). */
export function size(n) {
  if (!Number.isFinite(n)) return "–";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} bytes`;
}

function clock(sec) {
  if (!Number.isFinite(sec)) return "–";
  sec = Math.round(sec);
  const m = Math.floor(sec / 60);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : m > 0 ? `${m} min ${sec % 60} s` : `${sec} s`;
}

/** describe says in one line what a header holds and what it needs. */
export function describe(info, name) {
  const fit = info.fits
    ? info.needsQLoRA
      ? ` Needs about ${size(info.qloraMemoryBytes)} of memory with QLoRA (${size(info.memoryBytes)} without, more than a tab gets): QLoRA will be on.`
      : ` Needs about ${size(info.memoryBytes)} of memory (${size(info.qloraMemoryBytes)} with QLoRA).`
    : ` Cannot be loaded here: ${info.problem}`;
  const label = info.name && info.name !== name ? `${name} (${info.name})` : name;
  return `${label}: ${info.architecture}, ${Number(info.params).toLocaleString("en-US")} parameters, ` +
    `${info.layers} layers × ${info.dim} wide, vocabulary ${Number(info.vocabSize).toLocaleString("en-US")}, ` +
    `file ${size(info.fileBytes)}.${fit}`;
}

export function mountModelsUI(hooks) {
  const input = $("model-url");
  const load = $("model-url-load");
  const cancel = $("model-url-cancel");
  const box = $("download");
  const bar = $("download-progress");
  const text = $("download-text");
  const info = $("model-url-info");
  let ctl = null; // the AbortController of the download in progress

  const showError = (e) => hooks.onError(e, input);
  const clearError = () => hooks.onError(null, input);
  const setBusy = (on) => {
    load.disabled = on || hooks.busy();
    input.disabled = on;
    cancel.hidden = !on;
    for (const b of document.querySelectorAll("#cached-models button, #suggested-models button")) b.disabled = on || hooks.busy();
  };

  async function openCached(entry) {
    clearError();
    if (hooks.busy()) throw new ModelURLError("Training is running: stop it before opening another model.", "busy");
    info.textContent = `Opening ${entry.name} from this browser's storage…`;
    mark("modelUrlState", "opening");
    await hooks.open({ kind: "cached", key: entry.key, name: entry.name, url: entry.url, info: entry.info });
    info.textContent = `${entry.name} opened from this browser's storage (no download).`;
    mark("modelUrlState", "loaded");
  }

  async function openURL(raw) {
    clearError();
    if (ctl) return; // a download is going
    if (hooks.busy()) throw new ModelURLError("Training is running: stop it before opening another model.", "busy");
    if (!raw.trim()) throw new ModelURLError("Paste the link of a .gguf file first.", "url");
    const url = checkURL(raw);
    input.value = url;
    const key = await cacheKey(url);
    const kept = (await listCached()).find((m) => m.key === key);
    if (kept) return openCached(kept);
    ctl = new AbortController();
    setBusy(true);
    try {
      const name = fileName(url);
      info.textContent = `Reading the header of ${name}…`;
      mark("modelUrlState", "header");
      const probe = await probeHeader(url, hooks.inspect, { signal: ctl.signal }).catch((e) => {
        info.textContent = "";
        throw e;
      });
      info.textContent = describe(probe.info, name);
      mark("modelUrlState", "info");
      if (!probe.info.fits) throw new ModelURLError(`${name} is too large for the browser. ${probe.info.problem}`, "too-large");
      box.hidden = false;
      bar.max = probe.total;
      bar.value = 0;
      text.textContent = `Starting the download of ${size(probe.total)}…`;
      mark("downloaded", "0"); // not the count of an earlier (cancelled) download
      mark("modelUrlState", "downloading");
      const entry = await download(probe, {
        signal: ctl.signal,
        name,
        onProgress: (p) => {
          bar.max = p.total;
          bar.value = p.received;
          const again = p.attempt > 0 ? ` · resumed after ${p.attempt} dropped connection${p.attempt > 1 ? "s" : ""}` : "";
          const restart = p.restarted ? " · the file changed on the server, started again" : "";
          text.textContent = `${size(p.received)} of ${size(p.total)} · ${size(p.bytesPerSec)}/s · ${clock(p.etaSec)} left${again}${restart}`;
          mark("downloaded", String(p.received));
        },
      });
      text.textContent = `Downloaded ${size(entry.size)}` + (entry.cached ? "; kept in this browser for next time." : " (this browser cannot keep it).");
      await refreshCached();
      if (entry.cached) await openCached(entry);
      else {
        await hooks.open({ kind: "file", name, bytes: new Uint8Array(await entry.blob.arrayBuffer()) });
        mark("modelUrlState", "loaded");
      }
    } finally {
      ctl = null;
      setBusy(false);
    }
  }

  async function refreshCached() {
    const list = $("cached-models");
    const entries = await listCached().catch(() => []);
    list.replaceChildren();
    $("cached-empty").hidden = entries.length > 0;
    for (const e of entries) {
      const li = document.createElement("li");
      li.dataset.key = e.key;
      const name = document.createElement("strong");
      name.textContent = e.name;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = ` ${size(e.size)}${e.info ? ` · ${e.info.architecture}` : ""} · ${new Date(e.savedAt).toLocaleDateString()} `;
      const open = button("Open", "cached-open", `Open ${e.name}`, () => run(() => openCached(e)));
      const del = button("Delete", "cached-delete", `Delete ${e.name} from this browser`, () => run(async () => {
        if (hooks.inUse?.(e.key)) {
          throw new ModelURLError(`${e.name} is the model in use; open another model (for example the built-in one) first, then delete it.`, "in-use");
        }
        await deleteCached(e.key);
        await refreshCached();
      }));
      del.classList.add("secondary");
      li.append(name, meta, open, " ", del);
      list.append(li);
    }
    mark("cachedModels", String(entries.length));
  }

  function renderSuggested() {
    const list = $("suggested-models");
    list.replaceChildren();
    for (const s of SUGGESTED) {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = s.name;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = ` about ${size(s.size)} · architecture ${s.architecture} · licence: ${s.licence} `;
      const use = button("Use this link", "suggested-use", `Put the link of ${s.name} in the URL field`, () => {
        input.value = s.url;
        input.focus();
      });
      use.classList.add("secondary");
      li.append(name, meta, use);
      list.append(li);
    }
  }

  function button(label, testid, aria, onclick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.testid = testid;
    b.setAttribute("aria-label", aria);
    b.onclick = onclick;
    return b;
  }

  async function run(fn) {
    clearError();
    try {
      await fn();
    } catch (e) {
      if (e?.name === "AbortError") {
        text.textContent = "Download cancelled.";
        mark("modelUrlState", "cancelled");
        return;
      }
      mark("modelUrlState", "error");
      showError(e);
    } finally {
      setBusy(ctl !== null);
    }
  }

  load.onclick = () => run(() => openURL(input.value));
  input.onkeydown = (e) => {
    if (e.key === "Enter" && !load.disabled) load.click();
  };
  cancel.onclick = () => ctl?.abort(new DOMException("cancelled", "AbortError"));
  if (!storageAvailable()) {
    $("cached-help").textContent = "This browser cannot keep downloaded models (no Origin Private File System): each visit downloads again.";
  }
  renderSuggested();
  refreshCached();
  return { refresh: refreshCached, setBusy: () => setBusy(ctl !== null), openURL: (u) => run(() => openURL(u)) };
}
