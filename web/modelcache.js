// modelcache.js — models opened from a URL: the GGUF header read first with
// HTTP Range requests, the download (resumed with Range after a dropped
// connection, restarted when the file changed), and the copies kept in the
// browser's Origin Private File System (OPFS) so that a second visit opens a
// model without the network. No DOM here: the page's model section
// (models-ui.js) and WebTune.loadURL (webtune.js) both use it.
//
//   const probe = await probeHeader(url, (prefix, size) => wt.inspect(prefix, size));
//   // probe.info: architecture, parameters, memory needed, fits, problem
//   const entry = await download(url, { probe, onProgress: (p) => console.log(p.received, p.total) });
//   const file = await cachedFile(entry.key); // a File backed by OPFS
//
// Cross-origin downloads need the server's CORS headers
// (Access-Control-Allow-Origin, and Access-Control-Expose-Headers naming
// Content-Range and ETag for resuming): Hugging Face sends them. Under the
// page's COEP require-corp a cors-mode fetch needs nothing more. If-Range
// would make the browser send a CORS preflight that not every host answers,
// so the validators (ETag, Last-Modified, size) are compared here instead.

/** SUGGESTED are small instruction-tuned GGUF models on Hugging Face that fit a browser tab (sizes approximate). */
export const SUGGESTED = [
  {
    name: "SmolLM2 135M Instruct (Q8_0)",
    size: 145e6,
    architecture: "llama",
    licence: "Apache-2.0",
    url: "https://huggingface.co/bartowski/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct-Q8_0.gguf",
  },
  {
    name: "SmolLM2 360M Instruct (Q8_0)",
    size: 386e6,
    architecture: "llama",
    licence: "Apache-2.0",
    url: "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf",
  },
  {
    name: "Qwen2.5 0.5B Instruct (Q4_K_M)",
    size: 398e6,
    architecture: "qwen2",
    licence: "Apache-2.0",
    url: "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
  },
  {
    name: "Gemma 3 270M it (Q8_0)",
    size: 292e6,
    architecture: "gemma3",
    licence: "Gemma Terms of Use (not an open-source licence: use restrictions apply)",
    url: "https://huggingface.co/ggml-org/gemma-3-270m-it-GGUF/resolve/main/gemma-3-270m-it-Q8_0.gguf",
  },
  {
    name: "Llama 3.2 1B Instruct (Q4_K_M)",
    size: 808e6,
    architecture: "llama",
    licence: "Llama 3.2 Community License (acceptable-use policy, attribution)",
    url: "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
  },
];

/** ModelURLError is a download that cannot go on; message in plain words, code, detail. */
export class ModelURLError extends Error {
  constructor(message, code = "error", detail = "") {
    super(message);
    this.name = "ModelURLError";
    this.code = code;
    this.detail = detail;
  }
}

const DIR = "webtune-models";
const FIRST_RANGE = 256 << 10; // the first header request; it grows until the header parses
const WRITE_CHUNK = 4 << 20; // bytes gathered before one write to storage

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** fileName returns the last path segment of url ("model.gguf"). */
export function fileName(url) {
  try {
    const p = new URL(url).pathname.split("/").filter(Boolean);
    return decodeURIComponent(p.at(-1) ?? "model.gguf");
  } catch {
    return "model.gguf";
  }
}

/**
 * checkURL returns url as an absolute http(s) URL or throws a ModelURLError
 * saying what is wrong; a relative url is resolved against base when given.
 */
export function checkURL(url, base) {
  let u;
  try {
    u = new URL(String(url).trim(), base);
  } catch {
    throw new ModelURLError(`"${url}" is not a web address. Paste a link that starts with https://.`, "url");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    throw new ModelURLError(`"${url}" is not an http(s) link.`, "url");
  }
  // a Hugging Face page link (…/blob/main/…) serves HTML; the file is under resolve/
  if (u.host === "huggingface.co" && u.pathname.includes("/blob/")) u.pathname = u.pathname.replace("/blob/", "/resolve/");
  return u.href;
}

/** cacheKey is the storage name of url's file. */
export async function cacheKey(url) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url)));
  return [...d.subarray(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- HTTP ----

function networkError(url, e) {
  return new ModelURLError(
    `Could not download from ${hostOf(url)}. Either the server cannot be reached, or it does not let web pages ` +
      "on other sites download its files (it sends no CORS header, Access-Control-Allow-Origin). Hugging Face links " +
      'work; for other servers, download the file yourself and use "Open a .gguf model…".',
    "network",
    String(e?.message ?? e),
  );
}

function httpError(url, resp) {
  const s = resp.status;
  let why = `The server ${hostOf(url)} answered ${s} ${resp.statusText}`.trim() + ".";
  if (s === 404) why += " Check the link: it should point to a .gguf file (on Hugging Face, a …/resolve/main/….gguf link).";
  else if (s === 401 || s === 403) {
    why += " The model may need a Hugging Face login or accepting its licence on its page (a gated model); this page cannot sign in, so download the file yourself and open it.";
  } else if (s === 416) why += " The file is shorter than expected; it may have changed on the server.";
  const e = new ModelURLError(why, "http", `${s} ${resp.statusText} ${resp.url}`);
  e.status = s;
  return e;
}

/**
 * rangeGet asks for the bytes of url from start (to end, inclusive, when
 * given) and describes the answer: the offset its body starts at (0 when
 * the server ignored the Range), the file's total size (or null) and its
 * validators.
 */
async function rangeGet(url, start, end, signal) {
  const headers = {};
  if (start > 0 || end !== undefined) headers.Range = `bytes=${start}-${end ?? ""}`;
  let resp;
  try {
    resp = await fetch(url, { headers, signal, cache: "no-store", mode: "cors", credentials: "omit" });
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? e;
    throw networkError(url, e);
  }
  if (!resp.ok) {
    resp.body?.cancel().catch(() => {});
    throw httpError(url, resp);
  }
  const validator = { etag: resp.headers.get("ETag"), lastModified: resp.headers.get("Last-Modified") };
  if (resp.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(resp.headers.get("Content-Range") ?? "");
    // a cross-origin server may not expose Content-Range: a 206 answers
    // the one range asked for, and the size comes from elsewhere (HEAD)
    if (!m) return { resp, start, total: null, validator, ranges: true };
    const total = m[3] === "*" ? null : Number(m[3]);
    return { resp, start: Number(m[1]), total, validator, ranges: true };
  }
  const len = resp.headers.get("Content-Length");
  return { resp, start: 0, total: len === null ? null : Number(len), validator, ranges: false };
}

/** headSize asks for url's size with HEAD (Content-Length is readable cross-origin), or null. */
async function headSize(url, signal) {
  try {
    const resp = await fetch(url, { method: "HEAD", signal, cache: "no-store", mode: "cors", credentials: "omit" });
    const len = resp.ok ? resp.headers.get("Content-Length") : null;
    return len === null ? null : Number(len);
  } catch (e) {
    if (signal?.aborted) throw e;
    return null;
  }
}

/** sameFile reports whether two validator sets can be the same file (a strong ETag or Last-Modified that differs says no). */
function sameFile(a, b) {
  const strong = (e) => (e && !e.startsWith("W/") ? e : null);
  if (strong(a.etag) && strong(b.etag)) return a.etag === b.etag;
  if (a.lastModified && b.lastModified) return a.lastModified === b.lastModified;
  return true;
}

/** readUpTo reads resp's body until n bytes (or the end) and cancels the rest. */
async function readUpTo(resp, n) {
  const reader = resp.body.getReader();
  const parts = [];
  let got = 0;
  try {
    while (got < n) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      got += value.length;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(Math.min(got, n));
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - o);
    out.set(p.subarray(0, take), o);
    o += take;
    if (o === out.length) break;
  }
  return out;
}

/**
 * probeHeader reads the GGUF header at url with Range requests, growing the
 * range until inspect(prefix, size) says the header is complete, and
 * resolves to {url, info, prefix, total, validator, ranges}. inspect is
 * WebTune's inspect (the Go GGUF reader); its errors (not GGUF, an
 * architecture the page cannot load) reject as they are.
 */
export async function probeHeader(url, inspect, { signal, first = FIRST_RANGE } = {}) {
  let prefix = new Uint8Array(0);
  let total = null;
  let validator = null;
  let ranges = true;
  let want = first;
  for (let round = 0; round < 40; round++) {
    const r = await rangeGet(url, prefix.length, want - 1, signal);
    if (r.start !== prefix.length) {
      // the server ignores Range: take the start of the whole file
      ranges = false;
      prefix = new Uint8Array(0);
    }
    if (validator && !sameFile(validator, r.validator)) {
      r.resp.body?.cancel().catch(() => {});
      throw new ModelURLError("The file changed on the server while its header was being read; try again.", "changed");
    }
    validator ??= r.validator;
    total ??= r.total;
    const chunk = await readUpTo(r.resp, want - prefix.length);
    const grown = new Uint8Array(prefix.length + chunk.length);
    grown.set(prefix);
    grown.set(chunk, prefix.length);
    prefix = grown;
    if (prefix.length < 4 || String.fromCharCode(...prefix.subarray(0, 4)) !== "GGUF") {
      const html = /^\s*</.test(new TextDecoder().decode(prefix.subarray(0, 64)));
      throw new ModelURLError(
        html
          ? "This link gives a web page, not a GGUF file. On Hugging Face, use the file's download link (…/resolve/main/….gguf)."
          : "This link does not give a GGUF model file (it does not start with the GGUF signature).",
        "format",
      );
    }
    total ??= await headSize(url, signal);
    if (total === null) {
      throw new ModelURLError(`${hostOf(url)} does not say how large the file is (no Content-Range or Content-Length).`, "size");
    }
    const info = await inspect(prefix, total);
    if (info.complete) return { url, info, prefix, total, validator, ranges };
    if (prefix.length >= total) throw new ModelURLError("The file ends inside its own header: it is truncated.", "format");
    want = Math.min(total, Math.max(info.needBytes, prefix.length * 2));
  }
  throw new ModelURLError("The model's header is too large to read.", "format");
}

// ---- storage ----

/** storageAvailable reports whether this browser can keep downloaded models (OPFS with writable streams). */
export function storageAvailable() {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function" &&
    typeof globalThis.FileSystemFileHandle?.prototype?.createWritable === "function";
}

async function modelsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

// memorySink keeps a download in memory where OPFS cannot (no cache then).
function memorySink() {
  let parts = [];
  return {
    async write(b) { parts.push(b); },
    async truncate() { parts = []; },
    async close() { return new Blob(parts); },
    async abort() { parts = []; },
  };
}

async function fileSink(key) {
  const dir = await modelsDir();
  // an old meta must not describe the new bytes while they are written
  await dir.removeEntry(`${key}.json`).catch(() => {});
  const fh = await dir.getFileHandle(`${key}.gguf`, { create: true });
  const w = await fh.createWritable({ keepExistingData: false });
  return {
    async write(b) { await w.write(b); },
    async truncate() { await w.truncate(0); await w.seek(0); },
    async close() { await w.close(); return fh.getFile(); },
    async abort() {
      await w.abort().catch(() => {});
      await dir.removeEntry(`${key}.gguf`).catch(() => {});
    },
  };
}

/** listCached lists the models kept in this browser, newest first: [{key, url, name, size, savedAt, info}]. */
export async function listCached() {
  if (!storageAvailable()) return [];
  const dir = await modelsDir();
  const out = [];
  const files = new Map();
  for await (const [name, h] of dir.entries()) files.set(name, h);
  for (const [name, h] of files) {
    if (!name.endsWith(".json")) continue;
    try {
      const meta = JSON.parse(await (await h.getFile()).text());
      const data = files.get(`${meta.key}.gguf`);
      if (data && (await data.getFile()).size === meta.size) out.push(meta);
    } catch {
      // a meta written by another version or damaged: not listed
    }
  }
  return out.sort((a, b) => b.savedAt - a.savedAt);
}

/** findCached returns the kept copy of url's file, or null. */
export async function findCached(url) {
  const key = await cacheKey(url);
  return (await listCached()).find((m) => m.key === key) ?? null;
}

/** cachedFile returns the File (OPFS-backed, not read into memory) of a kept model. */
export async function cachedFile(key) {
  const dir = await modelsDir();
  try {
    return await (await dir.getFileHandle(`${key}.gguf`)).getFile();
  } catch (e) {
    throw new ModelURLError("This model is no longer kept in this browser; open its link again.", "missing", String(e?.message ?? e));
  }
}

/** deleteCached removes a kept model. */
export async function deleteCached(key) {
  const dir = await modelsDir();
  await dir.removeEntry(`${key}.json`).catch(() => {});
  await dir.removeEntry(`${key}.gguf`).catch(() => {});
}

async function writeMeta(meta) {
  const dir = await modelsDir();
  const w = await (await dir.getFileHandle(`${meta.key}.json`, { create: true })).createWritable();
  await w.write(JSON.stringify(meta));
  await w.close();
}

// ---- download ----

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

/** rate tracks bytes per second over the last few seconds. */
function rateMeter() {
  const marks = [];
  return (bytes) => {
    const now = performance.now();
    marks.push([now, bytes]);
    while (marks.length > 2 && now - marks[0][0] > 5000) marks.shift();
    const [t0, b0] = marks[0];
    return now > t0 ? ((bytes - b0) * 1000) / (now - t0) : 0;
  };
}

/**
 * download fetches the whole file of probe (from probeHeader) and keeps it
 * in OPFS; the header bytes already read are its start. A dropped
 * connection is retried from the bytes received (HTTP Range) up to retries
 * times; a server that ignores Range, or a file that changed (ETag,
 * Last-Modified or size), starts again from byte 0. onProgress receives
 * {received, total, bytesPerSec, etaSec, attempt, restarted}. Resolves to the
 * kept entry {key, url, name, size, savedAt, info, cached} (cached false:
 * no OPFS, the bytes are in entry.blob only).
 */
export async function download(probe, { onProgress, signal, retries = 6, retryDelayMs = 500, name } = {}) {
  const url = probe.url;
  let total = probe.total;
  const key = await cacheKey(url);
  if (storageAvailable() && navigator.storage.estimate) {
    const { quota, usage } = await navigator.storage.estimate().catch(() => ({}));
    if (quota && usage !== undefined && quota - usage < total) {
      throw new ModelURLError(
        `This browser has ${(Math.max(0, quota - usage) / 1e6).toFixed(0)} MB of storage left for this page; the model needs ${(total / 1e6).toFixed(0)} MB. Delete kept models or free disk space.`,
        "quota",
      );
    }
  }
  const sink = storageAvailable() ? await fileSink(key) : memorySink();
  let validator = probe.validator;
  let received = 0;
  let attempt = 0;
  let restarted = false;
  const rate = rateMeter();
  let pending = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const b = pending.length === 1 ? pending[0] : new Blob(pending);
    pending = [];
    pendingBytes = 0;
    await sink.write(b);
  };
  const report = () => {
    const bps = rate(received);
    onProgress?.({ received, total, bytesPerSec: bps, etaSec: bps > 0 ? (total - received) / bps : Infinity, attempt, restarted });
  };
  // while no byte arrives the speed falls and the time left grows
  const ticker = setInterval(report, 1000);
  try {
    if (probe.ranges && probe.prefix.length > 0) {
      pending.push(probe.prefix);
      pendingBytes = received = probe.prefix.length;
      report();
    }
    while (received < total) {
      try {
        const r = await rangeGet(url, received, undefined, signal);
        if (!sameFile(validator, r.validator) || (r.total !== null && r.total !== total)) {
          // the file changed on the server: what we have belongs to the old one
          validator = r.validator;
          total = r.total ?? total;
          restarted = true;
          if (received > 0) {
            r.resp.body?.cancel().catch(() => {});
            pending = [];
            pendingBytes = 0;
            await sink.truncate();
            received = 0;
            continue;
          }
        }
        if (r.start !== received) {
          // the server sent the whole file: start over from its first byte
          pending = [];
          pendingBytes = 0;
          await sink.truncate();
          received = 0;
          if (r.start !== 0) throw new ModelURLError(`The server sent bytes from ${r.start}, not ${received}.`, "range");
        }
        const reader = r.resp.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const take = Math.min(value.length, total - received);
          if (take <= 0) break;
          pending.push(take === value.length ? value : value.subarray(0, take));
          pendingBytes += take;
          received += take;
          if (pendingBytes >= WRITE_CHUNK) await flush();
          report();
        }
        await flush();
        if (received < total) throw new Error(`the connection ended after ${received} of ${total} bytes`);
      } catch (e) {
        if (signal?.aborted) throw e;
        if (e instanceof ModelURLError && e.status === 416 && received > 0 && !restarted) {
          // nothing after the bytes we have: the file changed (it is shorter now)
          pending = [];
          pendingBytes = 0;
          await sink.truncate();
          received = 0;
          restarted = true;
          continue;
        }
        if (e instanceof ModelURLError && e.code !== "network") throw e;
        // keep what arrived, then ask for the rest
        await flush();
        attempt++;
        if (attempt > retries) {
          throw new ModelURLError(
            `The download from ${hostOf(url)} stopped at ${(received / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB and did not resume after ${retries} tries.`,
            "network",
            String(e?.message ?? e),
          );
        }
        report();
        await sleep(Math.min(10_000, retryDelayMs * 2 ** (attempt - 1)), signal);
      }
    }
    const blob = await sink.close();
    const entry = { key, url, name: name ?? fileName(url), size: total, savedAt: Date.now(), etag: validator.etag,
      lastModified: validator.lastModified, info: restarted ? null : probe.info, cached: storageAvailable() };
    if (entry.cached) {
      await writeMeta(entry);
      navigator.storage.persist?.().catch(() => {});
    }
    return { ...entry, blob };
  } catch (e) {
    await sink.abort();
    throw e;
  } finally {
    clearInterval(ticker);
  }
}
