// webgpu-node runs web/gpu's WGSL kernels under Node with Dawn (npm
// "webgpu", scripts/device) instead of a browser: on a machine with a GPU
// and no Chromium it measures the kernels and one whole training step, and
// checks that step against the Go model.
//
// It prints the adapter (vendor, architecture, description), then
//   (a) the frozen products' GFLOP/s: x·Wᵀ and dy·W for F32, Q8_0, Q4_K,
//       Q6_K, F16 weights on the SmolLM2-135M and Qwen2.5-0.5B projection
//       shapes at --tokens rows, and causal attention forward + backward on
//       their attention shapes. GPU time comes from timestamp queries (an
//       empty timed compute pass before and after --reps repetitions in one
//       command buffer) when the adapter has "timestamp-query", else from the
//       wall time of submit → onSubmittedWorkDone over the same repetitions;
//   (b) for each --plans directory (written by scripts/bench/gpuplan: plan,
//       weights in their stored bytes, LoRA parameters, a batch and the Go
//       CPU's reference), the frozen weights uploaded with eng.uploadWeight,
//       createModel, setLoRA, step: first the check (per-row losses within
//       1e-4 relative of the CPU's, each LoRA tensor's gradients within 1e-3
//       of its largest reference value), then --steps timed steps (median):
//       wall time of setLoRA + step (its read-back included), the GPU time of
//       the step's command buffer (timestamps) and the per-step bytes up and
//       down against the weight bytes.
// It exits non-zero, saying why, when Dawn finds no adapter or a check fails.
//
//   node scripts/bench/webgpu-node.mjs --plans=DIR[,DIR...] [--kernels=1] [--tokens=256] [--reps=20]
//       [--steps=5] [--models=smollm2-135m,qwen2.5-0.5b] [--types=F32,Q8_0,Q4_K,Q6_K,F16] [--out=FILE.json]
//
// Dawn finds the GPU through the Vulkan loader (libvulkan.so.1 and an ICD
// file); BENCHMARKS.md ("WebGPU under Node") gives the command for a lent
// GPU machine. Here, with no GPU, Chromium's SwiftShader ICD stands in:
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const kv = Object.fromEntries(
  process.argv.slice(2).filter((a) => a.startsWith("--") && a.includes("=")).map((a) => a.slice(2).split("=")),
);
const tokens = +(kv.tokens ?? 256);
const reps = +(kv.reps ?? 20);
const nSteps = +(kv.steps ?? 5);
const types = (kv.types ?? "F32,Q8_0,Q4_K,Q6_K,F16").split(",");
const plans = (kv.plans ?? "").split(",").filter(Boolean);
const LOSS_TOL = 1e-4, GRAD_TOL = 1e-3;

// Per-layer projections [name, rows (out), cols (in)] and attention [NH, NKV, HS], from the published configs.
const MODELS = {
  "smollm2-135m": {
    attn: [9, 3, 64],
    mats: [["q", 576, 576], ["k", 192, 576], ["v", 192, 576], ["o", 576, 576], ["gate", 1536, 576], ["up", 1536, 576], ["down", 576, 1536]],
  },
  "qwen2.5-0.5b": {
    attn: [14, 2, 64],
    mats: [["q", 896, 896], ["k", 128, 896], ["v", 128, 896], ["o", 896, 896], ["gate", 4864, 896], ["up", 4864, 896], ["down", 896, 4864]],
  },
};
const models = (kv.models ?? "smollm2-135m,qwen2.5-0.5b").split(",");
for (const m of models) if (!MODELS[m]) fatal(`unknown model ${m}: one of ${Object.keys(MODELS).join(", ")}`);

function fatal(msg) {
  console.error(`webgpu-node: ${msg}`);
  process.exit(1);
}

// ---- Dawn, the adapter, the engine ----
let dawn;
try {
  const req = createRequire(path.join(root, "scripts/device/package.json"));
  dawn = await import(pathToFileURL(req.resolve("webgpu")).href);
} catch (e) {
  fatal(`cannot load npm "webgpu" (Dawn for Node) from scripts/device: ${e.message}\n  install it with: (cd scripts/device && npm ci --no-audit --no-fund)`);
}
Object.assign(globalThis, dawn.globals);
// Timestamps unquantized: Dawn rounds them to 100 µs by default, as browsers do.
let gpu;
try {
  gpu = dawn.create(["disable-dawn-features=timestamp_quantization"]);
} catch {
  gpu = dawn.create([]);
}
if (!globalThis.navigator) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true });
try {
  globalThis.navigator.gpu = gpu;
} catch {
  // a read-only navigator (newer Node): the engine takes gpu explicitly below
}

const E = await import(pathToFileURL(path.join(root, "web/gpu/engine.js")).href);
const ops = await import(pathToFileURL(path.join(root, "web/gpu/ops.js")).href);
const A = await import(pathToFileURL(path.join(root, "web/gpu/attention.js")).href);
const M = await import(pathToFileURL(path.join(root, "web/gpu/model.js")).href);

const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) {
  fatal(
    "no WebGPU adapter: Dawn found no usable Vulkan device (is libvulkan.so.1 loadable, and does VK_ICD_FILENAMES or " +
      "/usr/share/vulkan/icd.d name a driver? Dawn's own warnings above say what it tried). No figure taken.",
  );
}
const info = E.adapterInfo(adapter);
const hasTS = adapter.features.has("timestamp-query");
let device;
try {
  device = await adapter.requestDevice({
    requiredFeatures: hasTS ? ["timestamp-query"] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
} catch (e) {
  fatal(`requestDevice failed: ${e.message}`);
}
device.addEventListener?.("uncapturederror", (ev) => console.error(`webgpu-node: GPU error: ${ev.error.message}`));
const eng = new E.GPUEngine(adapter, device);
const emulated = info.fallback ?? /llvmpipe|lavapipe|swiftshader/i.test(`${info.architecture} ${info.description}`);
console.log(`adapter: vendor=${info.vendor} architecture=${info.architecture} description=${JSON.stringify(info.description)}` +
  (emulated ? " (a CPU emulation: not a GPU figure)" : ""));
console.log(`limits: maxStorageBufferBindingSize=${eng.limits.maxStorageBufferBindingSize} maxBufferSize=${eng.limits.maxBufferSize}; ` +
  `GPU time from ${hasTS ? "timestamp queries" : "wall time of submit → onSubmittedWorkDone (no timestamp-query)"}`);
const results = { adapter: info, timestamps: hasTS, tokens, reps, products: [], attention: [], steps: [] };

// ---- timing ----

// gpuTime records `record(enc)` k times into one command buffer and returns
// the milliseconds per repetition: GPU time between an empty timed pass
// before and one after when timestamps exist, and the wall time from submit
// to onSubmittedWorkDone.
async function gpuTime(record, k) {
  const enc = device.createCommandEncoder();
  let qs = null, resolve = null, staging = null;
  if (hasTS) {
    qs = device.createQuerySet({ type: "timestamp", count: 2 });
    resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    staging = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0 } }).end();
  }
  for (let i = 0; i < k; i++) record(enc);
  if (hasTS) {
    enc.beginComputePass({ timestampWrites: { querySet: qs, endOfPassWriteIndex: 1 } }).end();
    enc.resolveQuerySet(qs, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, staging, 0, 16);
  }
  const t0 = performance.now();
  eng.submit(enc);
  await device.queue.onSubmittedWorkDone();
  const wall = (performance.now() - t0) / k;
  let gpuMs = null;
  if (hasTS) {
    await staging.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(staging.getMappedRange());
    gpuMs = Number(t[1] - t[0]) / 1e6 / k;
    staging.unmap();
    for (const b of [qs, resolve, staging]) b.destroy();
  }
  return { gpuMs, wallMs: wall, ms: gpuMs ?? wall };
}

const gf = (flops, ms) => (flops / ms / 1e6).toFixed(1);

// ---- (a) kernels ----
if (kv.kernels !== "0") {
  console.log(`\nfrozen products at ${tokens} tokens (${reps} repetitions per figure; ms per product, GFLOP/s = 2·tokens·rows·cols / time)`);
  console.log("| model | matrix | rows×cols | type | x·Wᵀ ms | x·Wᵀ GFLOP/s | dy·W ms | dy·W GFLOP/s |");
  console.log("|---|---|---|---|---:|---:|---:|---:|");
  const rnd = (len) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.731) * 0.5);
  for (const m of models) {
    const seen = new Set();
    for (const [name, rows, cols] of MODELS[m].mats) {
      if (seen.has(`${rows}x${cols}`)) continue; // q/o and gate/up share a shape
      seen.add(`${rows}x${cols}`);
      const x = eng.buffer(tokens * cols, "x"), y = eng.buffer(tokens * rows, "y");
      const dy = eng.buffer(tokens * rows, "dy"), dx = eng.buffer(tokens * cols, "dx");
      eng.write(x, rnd(tokens * cols));
      eng.write(dy, rnd(tokens * rows));
      for (const type of types) {
        const t = E.TYPES[type];
        if (!t) fatal(`unknown weight type ${type}`);
        if (cols % t.block) {
          console.log(`| ${m} | ${name} | ${rows}×${cols} | ${type} | n/a: ${cols} columns are not whole ${t.block}-blocks | | | |`);
          continue;
        }
        let bytes;
        if (type === "F32") bytes = new Uint8Array(rnd(rows * cols).buffer);
        else {
          bytes = new Uint8Array((rows * cols / t.block) * t.bytes);
          for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24 & (i & 1 ? 0x3b : 0xff); // finite f16 fields
        }
        const h = eng.uploadWeight(type, rows, cols, bytes);
        const fwd = () => gpuTime((enc) => ops.linearInto(eng, enc, { w: h, x, y, n: tokens }), reps);
        const bwd = () => gpuTime((enc) => ops.linearBackwardInto(eng, enc, { w: h, dy, dx, n: tokens }), reps);
        await gpuTime((enc) => {
          ops.linearInto(eng, enc, { w: h, x, y, n: tokens });
          ops.linearBackwardInto(eng, enc, { w: h, dy, dx, n: tokens });
        }, 1); // compile the pipelines
        const f = await fwd(), b = await bwd();
        eng.freeWeight(h);
        const flops = 2 * tokens * rows * cols;
        results.products.push({ model: m, matrix: name, rows, cols, type, flops, fwd: f, bwd: b });
        console.log(`| ${m} | ${name} | ${rows}×${cols} | ${type} | ${f.ms.toFixed(3)} | ${gf(flops, f.ms)} | ${b.ms.toFixed(3)} | ${gf(flops, b.ms)} |`);
      }
      for (const b of [x, y, dy, dx]) b.destroy();
    }
  }
  console.log(`\ncausal attention at T=${tokens}, B=1 (useful FLOPs: the causal half of the score and output products)`);
  console.log("| model | NH/NKV/HS | forward ms | forward+backward ms | forward GFLOP/s | forward+backward GFLOP/s |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const m of models) {
    const [NH, NKV, HS] = MODELS[m].attn, T = tokens, B = 1;
    const nq = B * T * NH * HS, nkv = B * T * NKV * HS;
    const filled = (n) => {
      const b = eng.buffer(n);
      eng.write(b, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)));
      return b;
    };
    const bufs = [nq, nkv, nkv, nq, nq, nq, nkv, nkv].map(filled);
    const [q, k, v, dout, out, dq, dk, dv] = bufs;
    const att = eng.buffer(B * NH * T * T);
    const sh = { B, T, NH, NKV, HS, scale: 1 / Math.sqrt(HS), window: 0 };
    const fwdRec = (enc) => A.attention(eng, enc, { out, att, q, k, v, ...sh });
    const bothRec = (enc) => {
      fwdRec(enc);
      A.attentionBackward(eng, enc, { dq, dk, dv, dout, q, k, v, att, ...sh });
    };
    await gpuTime(bothRec, 1);
    const f = await gpuTime(fwdRec, reps), fb = await gpuTime(bothRec, reps);
    // forward: QKᵀ and P·V over the causal half; backward: 4 such products (dP, dV, dQ, dK)
    const half = (B * NH * T * (T + 1)) / 2;
    const ff = 2 * 2 * half * HS, fbf = ff + 4 * 2 * half * HS;
    results.attention.push({ model: m, NH, NKV, HS, T, fwd: f, fwdbwd: fb, flopsFwd: ff, flopsFwdBwd: fbf });
    console.log(`| ${m} | ${NH}/${NKV}/${HS} | ${f.ms.toFixed(3)} | ${fb.ms.toFixed(3)} | ${gf(ff, f.ms)} | ${gf(fbf, fb.ms)} |`);
    for (const b of [...bufs, att]) b.destroy();
  }
}

// ---- (b) whole training steps, checked against the CPU ----
let failed = 0;
for (const dir of plans) {
  const r = await planStep(dir);
  results.steps.push(r);
  if (!r.ok) failed++;
}
if (kv.out) writeFileSync(kv.out, JSON.stringify(results, null, 2));
eng.destroy();
if (failed) fatal(`${failed} of ${plans.length} plans failed their check against the CPU: their timings are not figures`);
process.exit(0);

// loadPlan reads dir/plan.json and turns it into createModel's plan: each
// weight key becomes a handle of a weight uploaded with eng.uploadWeight,
// each blob name a Float32Array.
function loadPlan(dir) {
  const pj = JSON.parse(readFileSync(path.join(dir, "plan.json"), "utf8"));
  const blob = (name, T = Float32Array) => {
    if (name == null) return null;
    const b = readFileSync(path.join(dir, name));
    if (b.byteLength % 4) fatal(`${dir}/${name}: ${b.byteLength} bytes, not whole 4-byte values`);
    return new T(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const handles = new Map();
  const weight = (key) => {
    if (handles.has(key)) return handles.get(key);
    const w = pj.weights[key];
    if (!w) fatal(`${dir}/plan.json: no weight ${key}`);
    const data = readFileSync(path.join(dir, w.file));
    const opts = w.type === "NF4" ? { blockSize: w.blockSize, code: Float32Array.from(w.code) } : {};
    const h = eng.uploadWeight(w.type, w.rows, w.cols, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), opts);
    handles.set(key, h);
    return h;
  };
  const plan = { ...pj };
  for (const k of ["ropeCos", "ropeSin", "ropeCosLocal", "ropeSinLocal", "outputNorm"]) plan[k] = blob(pj[k]);
  plan.embed = weight(pj.embed);
  plan.output = weight(pj.output);
  plan.layers = pj.layers.map((ly) => {
    const o = { ...ly };
    for (const k of ["attnNorm", "ffnNorm", "qBias", "kBias", "vBias", "qNorm", "kNorm", "postAttnNorm", "postFFNNorm"]) o[k] = blob(ly[k]);
    for (const s of M.SLOTS) o[s] = { ...ly[s], w: weight(ly[s].w) };
    return o;
  });
  return {
    pj,
    plan,
    handles,
    lora: blob(pj.lora),
    tokens: blob(pj.batch.tokens, Int32Array),
    targets: blob(pj.batch.targets, Int32Array),
    refLosses: blob(pj.reference.losses),
    refGrads: blob(pj.reference.grads),
  };
}

// check compares a step's losses and gradients with the CPU's reference.
function check(pj, res, refLosses, refGrads) {
  let lossWorst = -1, lossAt = -1, nan = false; // a NaN anywhere fails the check
  for (let i = 0; i < refLosses.length; i++) {
    const rel = Math.abs(res.losses[i] - refLosses[i]) / Math.max(Math.abs(refLosses[i]), 1e-30);
    if (Number.isNaN(rel)) nan = true;
    if (rel > lossWorst) [lossWorst, lossAt] = [rel, i];
  }
  lossWorst = Math.max(lossWorst, 0);
  let gradWorst = 0, gradAt = "";
  let o = 0;
  for (const [i, lo] of pj.loras.entries()) {
    for (const [part, n] of [["A", lo.r * lo.in], ["B", lo.out * lo.r]]) {
      let scale = 0, diff = 0;
      for (let j = o; j < o + n; j++) {
        scale = Math.max(scale, Math.abs(refGrads[j]));
        const d = Math.abs(res.grads[j] - refGrads[j]);
        if (Number.isNaN(d)) nan = true;
        if (d > diff) diff = d;
      }
      const rel = diff / Math.max(scale, 1e-30);
      if (rel > gradWorst) [gradWorst, gradAt] = [rel, `loras[${i}] (blk.${lo.layer}.${lo.slot}) ${part}`];
      o += n;
    }
  }
  const gpuMean = res.losses.reduce((s, x) => s + x, 0) / res.losses.length;
  return { lossWorst, lossAt, gradWorst, gradAt, gpuMean, nan, ok: !nan && lossWorst <= LOSS_TOL && gradWorst <= GRAD_TOL };
}

// planStep checks and times one plan's training step.
async function planStep(dir) {
  const t0 = performance.now();
  const statsBefore = { ...eng.stats };
  const L = loadPlan(dir);
  const { pj } = L;
  const uploadMs = performance.now() - t0;
  const model = await M.createModel(eng, L.plan);
  const { B, T, dloss } = pj.batch;
  const P = L.lora.length;
  console.log(`\nwhole step: ${pj.model} (${pj.arch}, ${pj.L} layers, blocks ${pj.weights[pj.layers[0].q.w].type}, embedding ${pj.weights[pj.embed].type}${pj.tied ? " (tied head)" : ""}), ` +
    `LoRA r=${pj.loraRank} on ${pj.loraTargets.join(",")} (${P} floats), B=${B} T=${T}; ` +
    `${(pj.weightBytes / 1e6).toFixed(1)} MB of weights uploaded in ${(uploadMs / 1000).toFixed(1)} s (${eng.stats.bytesUploaded - statsBefore.bytesUploaded} bytes)`);
  const step = async () => {
    await model.setLoRA(L.lora);
    return model.step({ tokens: L.tokens, targets: L.targets, B, T, dloss, backward: true });
  };
  const first = await step();
  const c = check(pj, first, L.refLosses, L.refGrads);
  console.log(`  check vs the CPU (${pj.reference.engine}): per-row losses worst ${c.lossWorst.toExponential(2)} relative (row ${c.lossAt}; tolerance ${LOSS_TOL}), ` +
    `gradients worst ${c.gradWorst.toExponential(2)} of their scale (${c.gradAt}; tolerance ${GRAD_TOL}); ` +
    `mean loss GPU ${c.gpuMean.toFixed(6)}, CPU ${pj.reference.meanLoss.toFixed(6)}${c.nan ? "; NaN in the GPU's results" : ""}: ${c.ok ? "OK" : "FAILED"}`);

  // GPU time of the step's own command buffer: a timed empty pass at its
  // start and one before its finish, wrapped around model.js's encoder
  // (labelled "webtune step") without changing what it records.
  const times = [];
  const origCreate = device.createCommandEncoder.bind(device);
  let ts = null;
  if (hasTS) {
    ts = {
      qs: device.createQuerySet({ type: "timestamp", count: 2 }),
      resolve: device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      staging: device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    };
    device.createCommandEncoder = (desc) => {
      const enc = origCreate(desc);
      if (desc?.label !== "webtune step") return enc;
      enc.beginComputePass({ timestampWrites: { querySet: ts.qs, beginningOfPassWriteIndex: 0 } }).end();
      const finish = enc.finish.bind(enc);
      enc.finish = (d) => {
        enc.beginComputePass({ timestampWrites: { querySet: ts.qs, endOfPassWriteIndex: 1 } }).end();
        enc.resolveQuerySet(ts.qs, 0, 2, ts.resolve, 0);
        return finish(d);
      };
      return enc;
    };
  }
  for (let i = 0; i < nSteps; i++) {
    const s0 = performance.now();
    await step();
    const wallMs = performance.now() - s0;
    let gpuMs = null;
    if (ts) {
      const enc = origCreate();
      enc.copyBufferToBuffer(ts.resolve, 0, ts.staging, 0, 16);
      device.queue.submit([enc.finish()]);
      await ts.staging.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(ts.staging.getMappedRange());
      gpuMs = Number(t[1] - t[0]) / 1e6;
      ts.staging.unmap();
    }
    const st = model.stats.train;
    times.push({ wallMs, gpuMs, waitMs: st.waitMs, recordMs: st.recordMs, up: st.bytesUploaded, down: st.bytesReadBack, dispatches: st.dispatches });
  }
  device.createCommandEncoder = origCreate;
  if (ts) for (const b of Object.values(ts)) b.destroy();
  const med = (k) => {
    const v = times.map((t) => t[k]).filter((x) => x != null).sort((a, b) => a - b);
    return v.length ? v[v.length >> 1] : null;
  };
  const last = times.at(-1);
  const r = {
    dir, model: pj.model, arch: pj.arch, B, T, loraFloats: P, weightBytes: pj.weightBytes, check: c, ok: c.ok, steps: times,
    medianWallMs: med("wallMs"), medianGpuMs: med("gpuMs"), medianWaitMs: med("waitMs"), medianRecordMs: med("recordMs"),
    up: last.up, down: last.down, dispatches: last.dispatches, cpuStepSeconds: pj.reference.stepSeconds,
  };
  const pct = (100 * (r.up + r.down)) / pj.weightBytes;
  console.log(`  ${nSteps} steps, median: ${r.medianWallMs.toFixed(1)} ms wall (setLoRA + step + read-back), ` +
    `${r.medianGpuMs != null ? `${r.medianGpuMs.toFixed(1)} ms GPU (timestamps)` : "no GPU timestamps"}, ` +
    `${r.medianWaitMs.toFixed(1)} ms from submit to read-back, ${r.medianRecordMs.toFixed(1)} ms recording; ` +
    `${Math.round((B * T) / (r.medianWallMs / 1000))} tokens/s${c.ok ? "" : " (NOT a figure: the check failed)"}`);
  console.log(`  per step: ${r.dispatches} dispatches; ${r.up} bytes up, ${r.down} bytes down = ${pct.toFixed(2)} % of the ${pj.weightBytes} weight bytes ` +
    `(expected 4·(P+2N) = ${4 * (P + 2 * B * T)} up, 4·(P+N) = ${4 * (P + B * T)} down); the CPU (Go, native) took ${pj.reference.stepSeconds.toFixed(2)} s for this step`);
  model.destroy();
  for (const h of L.handles.values()) eng.freeWeight(h);
  return r;
}
