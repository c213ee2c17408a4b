// trainer.worker.js — the Web Worker that owns webtune's wasm instance, so a
// training run never freezes the page. It speaks a small RPC protocol with
// webtune.js:
//
//   page → worker  {id, op: "init", wasmURL}
//                  {id, op: "call", handle, method, args}     handle 0 is the API object
//                  {id, op: "release", handle}
//   worker → page  {id, ok: true, value}  or  {id, ok: false, error: {message, code, detail}}
//                  {event: "progress" | "done", handle, data}
//
// Results that are Go-made objects with methods (a model, a run, a
// sequential model) stay here and cross as {handle, kind, props}; bulk data
// (Uint8Array, Float32Array) is transferred, not copied.
import "./wasm_exec.js";

const handles = new Map(); // handle → JS object made by the Go side
let nextHandle = 1;
let instance = null;

function post(msg, transfer = []) {
  self.postMessage(msg, transfer);
}

function errorOf(e) {
  if (e && typeof e === "object") {
    return { message: String(e.message ?? e), code: e.code ?? "error", detail: e.detail ?? String(e.stack ?? "") };
  }
  return { message: String(e), code: "error", detail: "" };
}

// transferables returns the buffers of the typed arrays in v (one level deep).
function transferables(v) {
  const out = [];
  const add = (x) => {
    if (ArrayBuffer.isView(x) && x.buffer instanceof ArrayBuffer && x.byteOffset === 0 && x.byteLength === x.buffer.byteLength) {
      out.push(x.buffer);
    }
  };
  add(v);
  if (v && typeof v === "object" && !ArrayBuffer.isView(v)) Object.values(v).forEach(add);
  return [...new Set(out)];
}

function kindOf(obj) {
  if (typeof obj.pause === "function") return "run";
  if (typeof obj.step === "function") return "sequential";
  if (typeof obj.info === "function") return "model";
  return "object";
}

// wrap keeps a Go-made object here and describes it for the page.
function wrap(value, handle) {
  if (!value || typeof value !== "object" || ArrayBuffer.isView(value)) return { plain: value };
  const methods = Object.keys(value).filter((k) => typeof value[k] === "function");
  if (methods.length === 0) return { plain: value };
  handle ??= nextHandle++;
  handles.set(handle, value);
  const props = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "function" && !(v instanceof Promise)) props[k] = v;
  }
  if (value.done instanceof Promise) {
    value.done.then(
      (data) => post({ event: "done", handle, data }),
      (e) => post({ event: "done", handle, data: { state: "error", error: errorOf(e).message } }),
    );
  }
  return { handle, kind: kindOf(value), methods, props };
}

async function init(wasmURL) {
  if (instance) return { version: self.webtune.version };
  const ready = new Promise((resolve) => {
    self.__webtuneReady = resolve;
  });
  const go = new self.Go();
  const resp = await fetch(wasmURL);
  if (!resp.ok) {
    throw new Error(`Could not load the training engine ${wasmURL} (HTTP ${resp.status}). Build it with 'make wasm' and serve the page with 'webtune serve'.`);
  }
  let result;
  if (resp.headers.get("Content-Type")?.startsWith("application/wasm")) {
    result = await WebAssembly.instantiateStreaming(resp, go.importObject);
  } else {
    // a server that does not say application/wasm: compile from bytes
    result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
  }
  instance = result.instance;
  // Go's WebAssembly.Memory, for the SIMD kernels (wasm/simd), which work on
  // Go slices in place.
  globalThis.webtuneGoMemory = instance.exports.mem;
  // The Go program only ends on a fatal error (out of memory): tell the page,
  // which starts a new worker.
  go.run(instance).then(
    () => post({ event: "exit", data: { message: "the Go runtime exited" } }),
    (e) => post({ event: "exit", data: { message: String(e?.message ?? e) } }),
  );
  const api = await ready;
  handles.set(0, api);
  return { version: api.version, engine: typeof api.engine === "function" ? await api.engine() : undefined };
}

async function call(handle, method, args) {
  const target = handles.get(handle);
  if (!target) throw new Error(`webtune: this object was released (handle ${handle})`);
  if (typeof target[method] !== "function") throw new Error(`webtune: no method ${method} (was the object disposed?)`);
  let runHandle;
  if (method === "train") {
    // progress events must name the run before the run exists
    runHandle = nextHandle++;
    const opts = { ...(args[0] ?? {}) };
    opts.onProgress = (p) => post({ event: "progress", handle: runHandle, data: p });
    args = [opts, ...args.slice(1)];
  }
  if (method === "memory") {
    const m = await target.memory(...args);
    return { plain: { ...m, wasmMemory: instance.exports.mem.buffer.byteLength } };
  }
  const value = await target[method](...args);
  return wrap(value, runHandle);
}

self.onmessage = async (ev) => {
  const { id, op } = ev.data;
  try {
    let value;
    if (op === "init") value = { plain: await init(ev.data.wasmURL) };
    else if (op === "call") value = await call(ev.data.handle, ev.data.method, ev.data.args ?? []);
    else if (op === "release") {
      const obj = handles.get(ev.data.handle);
      handles.delete(ev.data.handle);
      if (obj && typeof obj.dispose === "function") await obj.dispose();
      value = { plain: obj !== undefined };
    }
    else throw new Error(`webtune worker: unknown op ${op}`);
    post({ id, ok: true, value }, transferables(value.plain));
  } catch (e) {
    post({ id, ok: false, error: errorOf(e) });
  }
};
