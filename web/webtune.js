// webtune.js — the JS API of webtune: LoRA/QLoRA fine-tuning of small llama
// models in the browser. The Go code runs as wasm inside a Web Worker
// (trainer.worker.js); every method returns a Promise and bulk data crosses
// as typed arrays.
//
//   import { WebTune } from "./webtune.js";
//   const wt = await WebTune.load({ wasmURL: "webtune.wasm" });
//   const model = await wt.loadModel("builtin", { qlora: true });
//   await model.injectLoRA({ rank: 8, alpha: 16, targets: ["attn_q", "attn_v"] });
//   const run = await model.train({ text, steps: 50, onProgress: (p) => console.log(p.step, p.loss) });
//   await run.done;
//   const adapter = await model.saveAdapter(); // Uint8Array, a llama.cpp LoRA GGUF

/** WebTuneError is a rejected call: message in plain words, code, technical detail. */
export class WebTuneError extends Error {
  constructor({ message, code, detail }) {
    super(message);
    this.name = "WebTuneError";
    this.code = code ?? "error";
    this.detail = detail ?? "";
  }
}

const moduleURL = import.meta.url;

class Connection {
  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.listeners = new Map(); // handle → {progress, done}
    this.early = new Map(); // handle → events that arrived before their listener
    this.nextId = 1;
    worker.onmessage = (ev) => this.receive(ev.data);
    worker.onerror = (ev) => {
      const err = new WebTuneError({ message: `The training worker failed: ${ev.message ?? "unknown error"}`, code: "worker" });
      for (const { reject } of this.pending.values()) reject(err);
      this.pending.clear();
    };
  }

  receive(msg) {
    if (msg.event === "exit") {
      this.exited = true;
      const err = new WebTuneError({
        message: "The training engine stopped, most likely because the browser ran out of memory. Try QLoRA, a smaller batch or sequence length, or a smaller model.",
        code: "exit",
        detail: msg.data?.message ?? "",
      });
      for (const { reject } of this.pending.values()) reject(err);
      this.pending.clear();
      for (const l of this.listeners.values()) if (l.done) l.done({ state: "error", error: err.message });
      if (this.onExit) this.onExit(err);
      return;
    }
    if (msg.event) {
      const l = this.listeners.get(msg.handle);
      if (l) {
        if (l[msg.event]) l[msg.event](msg.data);
      } else {
        if (!this.early.has(msg.handle)) this.early.set(msg.handle, []);
        this.early.get(msg.handle).push(msg);
      }
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new WebTuneError(msg.error));
  }

  /** listen sets the event listener of handle and replays what came early. */
  listen(handle, l) {
    this.listeners.set(handle, l);
    for (const msg of this.early.get(handle) ?? []) if (l[msg.event]) l[msg.event](msg.data);
    this.early.delete(handle);
  }

  request(msg, transfer = []) {
    if (this.exited) {
      return Promise.reject(new WebTuneError({ message: "The training engine has stopped; reload the page.", code: "exit" }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async call(handle, method, args = [], transfer = []) {
    const v = await this.request({ op: "call", handle, method, args }, transfer);
    if ("plain" in v) return v.plain;
    return v; // {handle, kind, methods, props}
  }
}

/** Bytes accepts a Uint8Array or an ArrayBuffer. */
function bytesOf(x, what) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  throw new TypeError(`${what} must be a Uint8Array`);
}

/** WebTune is one wasm instance in its own worker. */
export class WebTune {
  /** default is the instance of the last WebTune.load, used by the static helpers. */
  static default = null;

  constructor(conn, version, workers = 1, engine = null) {
    this.conn = conn;
    this.version = version;
    /** workers is how many Web Workers train together (data-parallel; 1 = no replicas). */
    this.workers = workers;
    /**
     * engine says what computes: {choice, training, cpuEngine, gpu}.
     * training is "webgpu" (engines "auto" and "webgpu" with an adapter: a
     * run trains whole steps on the GPU when its model allows it, and
     * Model.gpuStep() says whether it does or why not; AdamW stays on the
     * CPU), "webgpu-partial" (engine "webgpu" without the whole-step module:
     * only the frozen quantized, F16 and NF4 products on the GPU) or "cpu"
     * (everything on the WebAssembly engine cpuEngine); gpu is the WebGPU
     * adapter the worker opened ({available, vendor, architecture, ...,
     * wholeStep}) or why none ({available: false, reason}).
     */
    this.engine = engine;
  }

  /** engines are the values of load's engine option. */
  static engines = ["auto", "webgpu", "cpu"];

  /**
   * defaultWorkers is how many workers load() starts when not told: every
   * core up to 4 on a cross-origin isolated page (SharedArrayBuffer is
   * needed to sum the gradients), else 1.
   */
  static defaultWorkers() {
    if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer !== "function") return 1;
    return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
  }

  /**
   * load starts the worker and the wasm instance. With workers > 1 (and a
   * cross-origin isolated page) training runs data-parallel on that many
   * workers, each with its own copy of the model; results match one worker
   * within float rounding.
   * engine: "auto" (default: WebGPU when an adapter exists: whole training
   * steps on the GPU when the model allows it, else the CPU), "webgpu"
   * (WebGPU required, load fails without an adapter; a step that cannot run
   * whole on the GPU still runs the frozen quantized products there) or
   * "cpu" (never opens WebGPU). See engine.training and Model.gpuStep.
   * @param {{wasmURL?: string|URL, workerURL?: string|URL, workers?: number, engine?: "auto"|"webgpu"|"cpu"}} [opts]
   */
  static async load(opts = {}) {
    const choice = opts.engine ?? "auto";
    if (!WebTune.engines.includes(choice)) {
      throw new TypeError(`webtune: engine must be one of ${WebTune.engines.join(", ")}, not ${JSON.stringify(choice)}`);
    }
    const wasmURL = new URL(opts.wasmURL ?? "webtune.wasm", opts.wasmURL ? location.href : moduleURL).href;
    const workerURL = new URL(opts.workerURL ?? "trainer.worker.js", moduleURL);
    const worker = new Worker(workerURL, { type: "module", name: "webtune" });
    const conn = new Connection(worker);
    let workers = Math.floor(opts.workers ?? WebTune.defaultWorkers());
    if (!(workers >= 1)) workers = 1;
    if (!globalThis.crossOriginIsolated) workers = 1;
    let init;
    try {
      init = (await conn.request({ op: "init", wasmURL, replicas: workers - 1, engine: choice })).plain;
    } catch (e) {
      worker.terminate();
      throw e;
    }
    const name = init.engine ?? "";
    const engine = {
      choice,
      training: init.gpu?.available && init.gpu.wholeStep ? "webgpu" : name.startsWith("webgpu+") ? "webgpu-partial" : "cpu",
      cpuEngine: name.replace(/^webgpu\+/, ""),
      gpu: init.gpu ?? { available: false, reason: "not probed" },
    };
    const wt = new WebTune(conn, init.version, init.workers ?? 1, engine);
    WebTune.default = wt;
    return wt;
  }

  /** onExit(err) is called when the wasm instance dies (out of memory); start a new one with WebTune.load. */
  set onExit(fn) {
    this.conn.onExit = fn;
  }

  /** sequential is the tensor path on the default instance. */
  static sequential(opts) {
    if (!WebTune.default) throw new Error("call WebTune.load first");
    return WebTune.default.sequential(opts);
  }

  /**
   * loadModel loads a llama GGUF (bytes) or the built-in model ("builtin").
   * @param {Uint8Array|ArrayBuffer|"builtin"} source
   * @param {{qlora?: boolean, name?: string}} [opts]
   */
  async loadModel(source, opts = {}) {
    const { transfer, ...rest } = opts;
    const src = source === "builtin" ? "builtin" : bytesOf(source, "the model");
    // transfer: hand the bytes' buffer to the worker instead of copying it
    const moved = transfer && src !== "builtin" && src.byteOffset === 0 && src.byteLength === src.buffer.byteLength ? [src.buffer] : [];
    const h = await this.conn.call(0, "loadModel", [src, rest], moved);
    return new Model(this.conn, h.handle);
  }

  /**
   * inspect reads a GGUF header from the first bytes of a file of size
   * bytes: {complete: false, needBytes} when more of the start is needed,
   * else the model's architecture, parameters, memory needed and whether it
   * fits (fits, needsQLoRA, problem); with settings {rank, targets, qlora, seqLen, batch, workers}
   * also estimate: the memory such a run takes per worker ({workerBytes, workers, totalBytes,
   * fits, problem}). A file that is not GGUF or a model
   * that cannot be loaded rejects as loadModel would.
   * @param {Uint8Array|ArrayBuffer} prefix
   * @param {number} size
   * @param {{rank?: number, targets?: string[], qlora?: boolean, seqLen?: number, batch?: number, workers?: number}} [settings]
   */
  inspect(prefix, size, settings) {
    const args = [bytesOf(prefix, "the file's first bytes"), size];
    if (settings) args.push(settings);
    return this.conn.call(0, "inspect", args);
  }

  /**
   * loadURL opens a GGUF model from a URL (a Hugging Face …/resolve/main/….gguf
   * link or any server that sends CORS headers). The header is read first
   * (HTTP Range; opts.onInfo receives inspect's answer and a model that
   * cannot load is refused before the download), then the file is
   * downloaded with resume after dropped connections (opts.onProgress:
   * {received, total, bytesPerSec, etaSec, attempt}) and kept in the
   * browser (OPFS), so the next loadURL of the same URL needs no network.
   * @param {string} url
   * @param {{qlora?: boolean, name?: string, signal?: AbortSignal, onInfo?: Function, onProgress?: Function, cache?: boolean}} [opts]
   */
  async loadURL(url, opts = {}) {
    const mc = await import("./modelcache.js");
    const href = mc.checkURL(url, globalThis.location?.href);
    let entry = opts.cache === false ? null : await mc.findCached(href);
    let blob;
    if (entry) {
      blob = await mc.cachedFile(entry.key);
      opts.onInfo?.(entry.info);
    } else {
      const probe = await mc.probeHeader(href, (p, s) => this.inspect(p, s), { signal: opts.signal });
      opts.onInfo?.(probe.info);
      if (!probe.info.fits) {
        throw new WebTuneError({ message: `This model is too large for the browser. ${probe.info.problem}`, code: "too-large" });
      }
      entry = await mc.download(probe, { onProgress: opts.onProgress, signal: opts.signal });
      blob = entry.blob;
    }
    const bytes = new Uint8Array(await blob.arrayBuffer());
    return this.loadModel(bytes, { qlora: opts.qlora ?? !!entry.info?.needsQLoRA, name: opts.name ?? entry.name, transfer: true });
  }

  /** sequential builds a small MLP trained through QLoRA with MSE. */
  async sequential(opts) {
    const h = await this.conn.call(0, "sequential", [opts]);
    return new SequentialModel(this.conn, h.handle);
  }

  /** builtinModel returns the built-in model's GGUF bytes (to use an adapter with llama.cpp). */
  builtinModel() {
    return this.conn.call(0, "builtinModel");
  }

  /** memory reports the Go heap and the wasm memory in bytes. */
  memory(opts = {}) {
    return this.conn.call(0, "memory", [opts]);
  }

  /**
   * gpuStats counts the frozen products the GPU ran (offloaded), those that
   * fell back to the CPU (fallbacks, lastError), the weights uploaded, and
   * the GPU's dispatches and bytes uploaded and read back so far; null when
   * the engine does not use the GPU.
   */
  gpuStats() {
    return this.conn.call(0, "gpuStats");
  }

  /** _panic makes the Go side panic (tests: the promise rejects, the instance lives on). */
  _panic() {
    return this.conn.call(0, "_panic");
  }

  /** _exit ends the Go program as a fatal error would (tests: onExit fires, calls reject). */
  _exit() {
    return this.conn.call(0, "_exit");
  }

  /** _exitReplica ends training worker i's engine as running out of memory would (tests: the run stops, the next trains without it). */
  _exitReplica(i) {
    return this.conn.request({ op: "exitReplica", index: i });
  }

  /** terminate ends the worker and frees all its memory. */
  terminate() {
    this.conn.worker.terminate();
  }
}

class Handle {
  constructor(conn, handle) {
    this.conn = conn;
    this.handle = handle;
  }
  call(method, args = [], transfer = []) {
    return this.conn.call(this.handle, method, args, transfer);
  }
  /** dispose releases the object in the worker. */
  dispose() {
    this.conn.listeners.delete(this.handle);
    return this.conn.request({ op: "release", handle: this.handle });
  }
}

/** Model is a loaded base model with its LoRA adapter. */
export class Model extends Handle {
  info() { return this.call("info"); }
  summary() { return this.call("summary"); }
  /**
   * gpuStep says how the last run trains: {on: true} when its steps run
   * whole on the GPU, else {on: false, reason} (reason "" when no GPU was
   * opened for training); with the last step's bytes up and down, its
   * dispatches, the LoRA floats and the weights' bytes.
   */
  gpuStep() { return this.call("gpuStep"); }
  injectLoRA(opts = {}) { return this.call("injectLoRA", [opts]); }
  textStats(text, opts = {}) { return this.call("textStats", [text, opts]); }
  generate(prompt, opts = {}) { return this.call("generate", [prompt, opts]); }
  saveAdapter() { return this.call("saveAdapter"); }
  adapterFileName() { return this.call("adapterFileName"); }
  loadAdapter(bytes) { return this.call("loadAdapter", [bytesOf(bytes, "the adapter")]); }
  checkpoint() { return this.call("checkpoint"); }
  restore(bytes) { return this.call("restore", [bytesOf(bytes, "the checkpoint")]); }

  /**
   * train starts a run; opts.onProgress receives {step, steps, loss, evalLoss, tokensPerSec, etaSec, ...}
   * after every step; opts.onActivity receives {step, pass: "forward"|"backward", layer, layers} a few
   * times a second inside a long step (a real-size model), so a page can show that the step is under way.
   * @returns {Promise<Run>}
   */
  async train(opts = {}) {
    const { onProgress, onActivity, ...rest } = opts;
    // Progress may arrive before the run object: the connection keeps it
    // until the run listens.
    const h = await this.call("train", [rest]);
    return new Run(this.conn, h.handle, h.props.config, onProgress, onActivity);
  }
}

/** Run is a training run; run.done resolves to {state, error, history}. */
export class Run extends Handle {
  constructor(conn, handle, config, onProgress, onActivity) {
    super(conn, handle);
    this.config = config;
    this.onProgress = onProgress;
    this.onActivity = onActivity;
    this.last = null;
    this.done = new Promise((resolve) => {
      conn.listen(handle, { progress: (p) => this._progress(p), activity: (a) => this.onActivity?.(a), done: resolve });
    });
  }
  _progress(p) {
    this.last = p;
    if (this.onProgress) this.onProgress(p);
  }
  pause() { return this.call("pause"); }
  resume() { return this.call("resume"); }
  stop() { return this.call("stop"); }
  state() { return this.call("state"); }
  history() { return this.call("history"); }
}

/** SequentialModel is the tensor path: an MLP whose layers are NF4 + LoRA. */
export class SequentialModel extends Handle {
  /** step trains one step and returns the MSE loss before it. */
  step({ input, inputShape, target, targetShape }) {
    return this.call("step", [{ input, inputShape, target, targetShape }]);
  }
  /** predict returns {output: Float32Array, shape}. */
  predict(input, inputShape) { return this.call("predict", [input, inputShape]); }
  summary() { return this.call("summary"); }
  /**
   * gpuStep says how the last run trains: {on: true} when its steps run
   * whole on the GPU, else {on: false, reason} (reason "" when no GPU was
   * opened for training); with the last step's bytes up and down, its
   * dispatches, the LoRA floats and the weights' bytes.
   */
  gpuStep() { return this.call("gpuStep"); }
}

export default WebTune;
