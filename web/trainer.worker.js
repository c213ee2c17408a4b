// trainer.worker.js — the Web Worker that owns webtune's wasm instance, so a
// training run never freezes the page. It speaks a small RPC protocol with
// webtune.js:
//
//   page → worker  {id, op: "init", wasmURL}
//                  {id, op: "call", handle, method, args}     handle 0 is the API object
//                  {id, op: "release", handle}
//   worker → page  {id, ok: true, value}  or  {id, ok: false, error: {message, code, detail}}
//                  {event: "progress" | "activity" | "done", handle, data}
//
// Results that are Go-made objects with methods (a model, a run, a
// sequential model) stay here and cross as {handle, kind, props}; bulk data
// (Uint8Array, Float32Array) is transferred, not copied.
//
// Data-parallel training: with {replicas: n} in init this worker (the
// primary) starts n replicas, copies of itself, and mirrors onto them every
// call that changes a model (loadModel, injectLoRA, loadAdapter, restore,
// release). train then starts the same run in every worker, each on its
// share of the batch; the Go side sums the gradients through a
// SharedArrayBuffer (wasm/bridge/replica.go), so all workers stay
// identical. Only the primary answers the page; a replica that fails is
// dropped and the next run trains without it.
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
    // a run is done when its replicas' runs are done too: the page may then
    // change the model at once, in every worker
    const settled = () => Promise.all((replicaRuns.get(handle) ?? []).map((x) => {
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => { x.r.drop("its run did not end with the primary's"); resolve(); }, replicaEndWait);
      });
      return Promise.race([x.done, late]).finally(() => clearTimeout(timer));
    }));
    value.done.then(
      async (data) => { await settled(); post({ event: "done", handle, data }); },
      async (e) => { await settled(); post({ event: "done", handle, data: { state: "error", error: errorOf(e).message } }); },
    );
  }
  return { handle, kind: kindOf(value), methods, props };
}

// The replicas (primary only): {worker, request, models: Map(primary model
// handle → replica handle), alive}.
const replicas = [];
// A replica's shared buffer while its run loop is on (replica only): if the
// Go program dies, the others must stop waiting for it.
let replicaLink = null;
const mirrored = new Set(["injectLoRA", "loadAdapter", "restore"]);
// The replicas' run objects of each of the primary's runs (released with it).
const replicaRuns = new Map();
// Replicas get a copy of a model only while all the copies (the primary's
// included) stay within this many bytes of model file: a big model trains
// on fewer workers, or on one.
const replicaBudget = 768 << 20;

function endReplicaLink() {
  if (!replicaLink) return;
  const ctrl = new Int32Array(replicaLink.sab, 0, 16);
  Atomics.compareExchange(ctrl, 2, 0, replicaLink.index + 1);
  Atomics.notify(ctrl, 1);
}

// startReplica starts one replica worker and its wasm instance.
async function startReplica(wasmURL, i) {
  const worker = new Worker(new URL(import.meta.url), { type: "module", name: `webtune-replica-${i}` });
  const pending = new Map();
  let nextId = 1;
  const rep = { worker, models: new Map(), alive: true };
  // the replica's finished runs (handles), and who waits for one to finish
  const doneSeen = new Set();
  const doneWait = new Map();
  const drop = (why) => {
    if (!rep.alive) return;
    rep.alive = false;
    console.warn(`webtune: training worker ${i} dropped: ${why}`);
    for (const p of pending.values()) p.reject(new Error(why));
    pending.clear();
    for (const resolve of doneWait.values()) resolve();
    doneWait.clear();
    worker.terminate();
  };
  // runDone resolves when the replica's run h has ended (or the replica is
  // gone).
  rep.runDone = (h) => {
    if (doneSeen.has(h) || !rep.alive) return Promise.resolve();
    return new Promise((resolve) => {
      doneWait.set(h, resolve);
    });
  };
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.event === "exit") return drop(m.data?.message ?? "its Go program exited");
    if (m.event === "done") {
      if (m.data?.state === "error" && !/another training worker ended/.test(m.data.error ?? "")) {
        console.warn(`webtune: training worker ${i}: ${m.data.error}`);
      }
      doneSeen.add(m.handle);
      doneWait.get(m.handle)?.();
      doneWait.delete(m.handle);
    }
    if (m.event) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(Object.assign(new Error(m.error.message), m.error));
  };
  worker.onerror = (ev) => {
    ev.preventDefault(); // a replica's failure is handled here, not the page's
    drop(ev.message ?? "worker error");
  };
  rep.request = (msg) => {
    if (!rep.alive) return Promise.reject(new Error("worker dropped"));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id });
    });
  };
  rep.drop = drop;
  await rep.request({ op: "init", wasmURL, engine: "cpu" }); // replicas never open the GPU
  return rep;
}

// A replica's run ends within a step of its primary's (the shared buffer
// tells it); one still running this long after is dropped, not waited for.
const replicaEndWait = 60_000;

// mirror runs a model call on every replica that holds a copy of the model
// (primary handle h); a replica whose call fails is dropped.
async function mirror(h, method, args) {
  await Promise.all(replicas.filter((r) => r.alive && r.models.has(h)).map(async (r) => {
    try {
      await r.request({ op: "call", handle: r.models.get(h), method, args });
    } catch (e) {
      r.drop(`${method}: ${e.message}`);
    }
  }));
}

// gpu is the WebGPU engine (web/gpu/engine.js) opened by init when the
// engine choice allows it; null on the CPU. gpuInfo says what init found, for the page.
let gpu = null;
let gpuInfo = null;
// lastGPUModel is the newest whole-step model (web/gpu/model.js) the Go
// side made: gpuStats adds its per-step figures while it is not destroyed.
let lastGPUModel = null;

// openGPU opens the WebGPU device for the engine choice "auto" (when an
// adapter exists that is not a software fallback) or "webgpu" (required: no adapter is an error); "cpu"
// never touches WebGPU. With a device, the Go side (wasm/gpu) finds the
// engine on globalThis.webtuneGPU, the whole-step model's constructor on
// webtuneGPUCreateModel and the choice on webtuneGPUChoice: it runs the
// training step on the GPU when the model allows it, and says why not
// otherwise. Replicas are started with "cpu": one worker holds the GPU.
async function openGPU(choice) {
  if (choice === "cpu") return { available: false, reason: "the CPU engine was chosen" };
  try {
    const { requestEngine } = await import("./gpu/engine.js");
    gpu = await requestEngine();
  } catch (e) {
    if (choice === "webgpu") throw new Error(`WebGPU was chosen, but it cannot run here: ${e.message}`);
    return { available: false, reason: e.message };
  }
  if (choice === "auto" && gpu.info.fallback) {
    // A CPU rasterizer behind WebGPU (SwiftShader) trains tens of times
    // slower than the WebAssembly engine: "auto" leaves it alone.
    const info = gpu.info;
    gpu.destroy();
    gpu = null;
    const name = [info.vendor, info.architecture].filter(Boolean).join(" ") || "unnamed";
    return { available: false, fallback: true, reason: `the only WebGPU adapter (${name}) is a software fallback on the CPU, slower than the CPU engine; choose WebGPU to use it anyway` };
  }
  self.webtuneGPU = gpu;
  self.webtuneGPUChoice = choice;
  let wholeStep = true;
  try {
    const { createModel } = await import("./gpu/model.js");
    self.webtuneGPUCreateModel = async (eng, plan) => (lastGPUModel = await createModel(eng, plan));
  } catch (e) {
    // without the step's module the Go side keeps the step on the CPU and says so
    console.warn(`webtune: the WebGPU training step is unavailable: ${e.message}`);
    wholeStep = false;
  }
  return { available: true, ...gpu.info, maxBindingBytes: gpu.maxBindingBytes, wholeStep };
}

async function init(wasmURL, nReplicas = 0, engine = "auto") {
  if (instance) return { version: self.webtune.version, workers: 1 + replicas.filter((r) => r.alive).length, gpu: gpuInfo };
  gpuInfo = await openGPU(engine);
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
    () => { endReplicaLink(); post({ event: "exit", data: { message: "the Go runtime exited" } }); },
    (e) => { endReplicaLink(); post({ event: "exit", data: { message: String(e?.message ?? e) } }); },
  );
  const api = await ready;
  handles.set(0, api);
  const started = await Promise.allSettled(Array.from({ length: Math.max(0, nReplicas | 0) }, (_, i) => startReplica(wasmURL, i + 1)));
  for (const r of started) {
    if (r.status === "fulfilled") replicas.push(r.value);
    else console.warn(`webtune: a training worker did not start: ${r.reason?.message ?? r.reason}`);
  }
  return { version: api.version, engine: typeof api.engine === "function" ? await api.engine() : undefined,
    workers: 1 + replicas.length, gpu: gpuInfo };
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
    // inside a long step (a real-size model): where it is, a few times a second
    opts.onActivity = (a) => post({ event: "activity", handle: runHandle, data: a });
    const live = replicas.filter((r) => r.alive && r.models.has(handle));
    if (opts.replica) {
      // this worker is a replica: remember the buffer, so that the others
      // stop waiting if this Go program dies or the run does not start
      replicaLink = opts.replica;
    } else if (live.length > 0) {
      const plain = { ...(args[0] ?? {}) };
      delete plain.onProgress;
      delete plain.onActivity;
      opts.replicas = live.length;
      // called by the Go side, before its run loop starts
      const runs = [];
      replicaRuns.set(runHandle, runs);
      opts.startReplicas = (sab, count) => {
        // count may be fewer than all the workers (a micro-batch of fewer windows)
        live.slice(0, count - 1).forEach((r, i) => {
          const entry = { r, handle: null };
          entry.done = r.request({ op: "call", handle: r.models.get(handle), method: "train",
            args: [{ ...plain, replica: { sab, index: i + 1, count } }] })
            .then((v) => {
              entry.handle = v.handle;
              return r.runDone(v.handle);
            }, (e) => r.drop(`train: ${e.message}`));
          runs.push(entry);
        });
      };
    }
    args = [opts, ...args.slice(1)];
  }
  if (handle === 0 && method === "gpuStats") {
    // the Go side's counters, and the last whole-step model's figures of its last step
    const s = await target.gpuStats(...args);
    const m = lastGPUModel?.destroyed ? null : lastGPUModel;
    return { plain: m ? { ...(s ?? {}), step: structuredClone(m.stats) } : s };
  }
  if (method === "memory") {
    const m = await target.memory(...args);
    return { plain: { ...m, wasmMemory: instance.exports.mem.buffer.byteLength } };
  }
  if (handle === 0 && method === "loadModel") {
    const [src, opts] = args;
    const size = src === "builtin" ? 0 : (src?.byteLength ?? Infinity);
    const room = size > 0 ? Math.floor(replicaBudget / size) - 1 : Infinity;
    const copies = replicas.filter((r) => r.alive).slice(0, Math.max(0, room));
    const [own, ...reps] = await Promise.all([target.loadModel(...args).then((v) => ({ v }), (e) => ({ e })),
      ...copies.map((r) => r.request({ op: "call", handle: 0, method, args: [src, opts] }).catch((e) => e))]);
    if (own.e) {
      // a bad file fails everywhere: free what a replica loaded, keep the replicas
      copies.forEach((r, i) => {
        if (!(reps[i] instanceof Error) && reps[i]?.handle) r.request({ op: "release", handle: reps[i].handle }).catch(() => {});
      });
      throw own.e;
    }
    const w = wrap(own.v);
    copies.forEach((r, i) => {
      if (reps[i] instanceof Error) r.drop(`loadModel: ${reps[i].message}`);
      else if (w.handle) r.models.set(w.handle, reps[i].handle);
    });
    return w;
  }
  let value;
  try {
    value = await target[method](...args);
  } catch (e) {
    if (method === "train" && replicaLink) {
      endReplicaLink();
      replicaLink = null;
    }
    throw e;
  }
  if (mirrored.has(method)) await mirror(handle, method, args);
  return wrap(value, runHandle);
}

self.onmessage = async (ev) => {
  const { id, op } = ev.data;
  try {
    let value;
    if (op === "init") value = { plain: await init(ev.data.wasmURL, ev.data.replicas, ev.data.engine) };
    else if (op === "call") value = await call(ev.data.handle, ev.data.method, ev.data.args ?? []);
    else if (op === "release") {
      const obj = handles.get(ev.data.handle);
      handles.delete(ev.data.handle);
      for (const r of replicas) {
        if (!r.alive || !r.models.has(ev.data.handle)) continue;
        r.request({ op: "release", handle: r.models.get(ev.data.handle) }).catch(() => {});
        r.models.delete(ev.data.handle);
      }
      for (const { r, handle } of replicaRuns.get(ev.data.handle) ?? []) {
        if (r.alive && handle !== null) r.request({ op: "release", handle }).catch(() => {});
      }
      replicaRuns.delete(ev.data.handle);
      if (obj && typeof obj.dispose === "function") await obj.dispose();
      value = { plain: obj !== undefined };
    }
    else if (op === "exitReplica") {
      // tests: end replica i's Go program as an out-of-memory error would
      const r = replicas[ev.data.index - 1];
      if (!r?.alive) throw new Error(`webtune worker: no replica ${ev.data.index}`);
      r.request({ op: "call", handle: 0, method: "_exit", args: [] }).catch(() => {});
      value = { plain: true };
    }
    else throw new Error(`webtune worker: unknown op ${op}`);
    post({ id, ok: true, value }, transferables(value.plain));
  } catch (e) {
    post({ id, ok: false, error: errorOf(e) });
  }
};
