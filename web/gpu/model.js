// model.js — a whole LoRA training step of a llama-family model on the GPU.
//
// createModel(eng, plan) takes the plan the Go side builds from a loaded
// model (llama.PlanGPU through wasm/gpu: shapes, the frozen weights as
// handles already resident in the engine, the norms, biases and rope tables
// as Float32Arrays, the LoRA slots) and returns a model whose step runs the
// forward pass, the chunked cross-entropy and the backward pass with every
// activation in GPUBuffers. Per step only the token ids, the targets and the
// LoRA parameters go up, and the per-row losses and the LoRA gradients come
// back, in one staging read; the frozen weights never move again. The CPU
// keeps AdamW: Go adds the returned gradients into its LoRA Grad tensors.
//
// The step mirrors llama/forward.go, llama/loss.go and llama/backward.go op
// by op (same ops, same order, float32 accumulation), so that a run's
// losses stay within 1e-3 relative of the CPU engine's. Only LoRA is
// trained: frozen weights, norms and biases get no gradient, and block 0's
// q/k/v run "params only" (their input gradient is not needed).
//
// Buffers (f32 unless said; N = B·T rows; shapes next to each):
//   per model:  LoRA A [r×in], B [out×r], dA, dB; norms, biases, rope tables
//   per (B, T): per layer what its backward reads, shared scratch for the
//               rest (allocated on the first step of a shape, reused after)
import * as ops from "./ops.js";
import { attention, attentionBackward } from "./attention.js";
import { GPULimitError } from "./engine.js";

/** SLOTS are the linear slots of a block, in the plan's layer objects. */
export const SLOTS = ["q", "k", "v", "o", "gate", "up", "down"];

// lossChunkFloats and minLossRows size the loss's chunks as llama/loss.go's lossRows.
const lossChunkFloats = 1 << 23;
const minLossRows = 32;

/** lossRows is the rows per chunk of the cross-entropy over N rows of V logits (llama/loss.go). */
export function lossRows(N, V) {
  return Math.min(N, Math.max(minLossRows, Math.floor(lossChunkFloats / V)));
}

/**
 * createModel checks plan (the object docs/webgpu.md describes) against the
 * engine eng, uploads its norms, biases and rope tables, and returns the
 * model: setLoRA(packed), step({tokens, targets, B, T, dloss, backward}),
 * destroy() (then destroyed is true) and stats. It throws a RangeError or TypeError naming the
 * field of a malformed plan.
 */
export async function createModel(eng, plan) {
  checkPlan(eng, plan);
  return new GPUModel(eng, plan);
}

function fail(what) {
  throw new RangeError(`webgpu model: ${what}`);
}

function checkInt(v, what, min = 1) {
  if (!(Number.isInteger(v) && v >= min)) fail(`${what} must be an integer ≥ ${min}, got ${v}`);
}

function checkF32(v, n, what, optional = false) {
  if (v == null && optional) return;
  if (!(v instanceof Float32Array)) throw new TypeError(`webgpu model: ${what} must be a Float32Array`);
  if (v.length !== n) fail(`${what} has ${v.length} values, want ${n}`);
}

// checkPlan validates every field the step reads, so that a bad plan fails
// here with its name and not as a GPU validation error mid-step.
function checkPlan(eng, p) {
  if (!p || typeof p !== "object") throw new TypeError("webgpu model: the plan must be an object");
  for (const k of ["C", "L", "NH", "NKV", "HS", "F", "V", "P"]) checkInt(p[k], `plan.${k}`);
  if (p.NH % p.NKV !== 0) fail(`plan.NH=${p.NH} is not a multiple of plan.NKV=${p.NKV}`);
  if (p.HS % 2 !== 0) fail(`plan.HS=${p.HS} must be even (rope pairs)`);
  if (!(p.eps > 0)) fail(`plan.eps must be > 0, got ${p.eps}`);
  if (!(p.embedScale > 0)) fail(`plan.embedScale must be > 0, got ${p.embedScale}`);
  if (!(p.softcap >= 0)) fail(`plan.softcap must be ≥ 0, got ${p.softcap}`);
  checkF32(p.ropeCos, (p.P * p.HS) / 2, "plan.ropeCos");
  checkF32(p.ropeSin, (p.P * p.HS) / 2, "plan.ropeSin");
  checkF32(p.ropeCosLocal, (p.P * p.HS) / 2, "plan.ropeCosLocal", true);
  checkF32(p.ropeSinLocal, (p.P * p.HS) / 2, "plan.ropeSinLocal", true);
  if ((p.ropeCosLocal == null) !== (p.ropeSinLocal == null)) fail("plan.ropeCosLocal and plan.ropeSinLocal must both be given or both null");
  checkF32(p.outputNorm, p.C, "plan.outputNorm");
  const weight = (h, rows, cols, what) => {
    let w;
    try {
      w = eng.weight(h);
    } catch {
      fail(`${what} is not a weight resident in the engine (handle ${h})`);
    }
    if (w.rows !== rows || w.cols !== cols) fail(`${what} is ${w.rows}×${w.cols}, want ${rows}×${cols}`);
  };
  weight(p.embed, p.V, p.C, "plan.embed");
  weight(p.output, p.V, p.C, "plan.output");
  if (!Array.isArray(p.layers) || p.layers.length !== p.L) fail(`plan.layers must be an array of L=${p.L} layers`);
  if (!Array.isArray(p.loras)) throw new TypeError("webgpu model: plan.loras must be an array");
  const qC = p.NH * p.HS, kvC = p.NKV * p.HS;
  const dims = { q: [qC, p.C], k: [kvC, p.C], v: [kvC, p.C], o: [p.C, qC], gate: [p.F, p.C], up: [p.F, p.C], down: [p.C, p.F] };
  const used = new Set();
  const useLora = (i, layer, slot, rows, cols, what) => {
    if (i === -1 || i == null) return;
    const lo = p.loras[i];
    if (!Number.isInteger(i) || !lo) fail(`${what}.lora = ${i} is not an index into plan.loras`);
    if (used.has(i)) fail(`plan.loras[${i}] is used by two slots`);
    used.add(i);
    const sameLayer = lo.layer === layer || (layer === -1 && lo.layer == null);
    if (!sameLayer || lo.slot !== slot) fail(`plan.loras[${i}] is for ${lo.layer}/${lo.slot}, but ${what} points to it`);
    if (lo.in !== cols || lo.out !== rows) fail(`plan.loras[${i}] is ${lo.in}→${lo.out}, ${what} is ${cols}→${rows}`);
    checkInt(lo.r, `plan.loras[${i}].r`);
    if (!Number.isFinite(lo.scale)) fail(`plan.loras[${i}].scale must be a number`);
  };
  p.layers.forEach((ly, l) => {
    const at = `plan.layers[${l}]`;
    for (const k of ["attnNorm", "ffnNorm"]) checkF32(ly[k], p.C, `${at}.${k}`);
    for (const k of ["postAttnNorm", "postFFNNorm"]) checkF32(ly[k], p.C, `${at}.${k}`, true);
    checkF32(ly.qBias, qC, `${at}.qBias`, true);
    checkF32(ly.kBias, kvC, `${at}.kBias`, true);
    checkF32(ly.vBias, kvC, `${at}.vBias`, true);
    checkF32(ly.qNorm, p.HS, `${at}.qNorm`, true);
    checkF32(ly.kNorm, p.HS, `${at}.kNorm`, true);
    if ((ly.qNorm == null) !== (ly.kNorm == null)) fail(`${at}: qNorm and kNorm must both be given or both null`);
    checkInt(ly.window ?? 0, `${at}.window`, 0);
    if (!(ly.scale > 0)) fail(`${at}.scale must be > 0, got ${ly.scale}`);
    if (ly.local && p.ropeCosLocal == null) fail(`${at} is local but the plan has no local rope tables`);
    for (const s of SLOTS) {
      const sl = ly[s];
      if (!sl || typeof sl !== "object") fail(`${at}.${s} is missing`);
      const [rows, cols] = dims[s];
      if (sl.rows !== rows || sl.cols !== cols) fail(`${at}.${s} is ${sl.rows}×${sl.cols}, want ${rows}×${cols}`);
      weight(sl.w, rows, cols, `${at}.${s}.w`);
      useLora(sl.lora, l, s, rows, cols, `${at}.${s}`);
    }
  });
  useLora(p.outputLora ?? -1, -1, "output", p.V, p.C, "plan.outputLora");
  if (used.size !== p.loras.length) fail(`plan.loras has ${p.loras.length} entries but the slots use ${used.size}`);
}

/** GPUModel is createModel's result: one model's step on one engine. */
class GPUModel {
  constructor(eng, plan) {
    this.eng = eng;
    this.plan = plan;
    this.keep = []; // per-model buffers
    this.acts = null; // per-(B, T) buffers
    const c = (arr, label) => {
      if (arr == null) return null;
      const b = eng.buffer(arr.length, label);
      eng.write(b, arr);
      this.keep.push(b);
      return b;
    };
    this.outputNorm = c(plan.outputNorm, "output_norm");
    this.rope = { cos: c(plan.ropeCos, "rope cos"), sin: c(plan.ropeSin, "rope sin") };
    this.ropeLocal = plan.ropeCosLocal ? { cos: c(plan.ropeCosLocal, "rope cos (local)"), sin: c(plan.ropeSinLocal, "rope sin (local)") } : null;
    this.layers = plan.layers.map((ly, l) => ({
      attnNorm: c(ly.attnNorm, `blk.${l}.attn_norm`),
      ffnNorm: c(ly.ffnNorm, `blk.${l}.ffn_norm`),
      postAttnNorm: c(ly.postAttnNorm, `blk.${l}.post_attention_norm`),
      postFFNNorm: c(ly.postFFNNorm, `blk.${l}.post_ffw_norm`),
      qBias: c(ly.qBias, `blk.${l}.attn_q.bias`),
      kBias: c(ly.kBias, `blk.${l}.attn_k.bias`),
      vBias: c(ly.vBias, `blk.${l}.attn_v.bias`),
      qNorm: c(ly.qNorm, `blk.${l}.attn_q_norm`),
      kNorm: c(ly.kNorm, `blk.${l}.attn_k_norm`),
      rope: ly.local && this.ropeLocal ? this.ropeLocal : this.rope,
    }));
    // The LoRA parameters and their gradients, each its own buffer; off is
    // the lora's place in setLoRA's packed array (A, then B).
    let off = 0;
    this.loras = plan.loras.map((lo, i) => {
      const nA = lo.r * lo.in, nB = lo.out * lo.r;
      const buf = (n, what) => {
        const b = eng.buffer(n, `lora ${i} ${what}`);
        this.keep.push(b);
        return b;
      };
      const e = { ...lo, off, nA, nB, A: buf(nA, "A"), B: buf(nB, "B"), dA: buf(nA, "dA"), dB: buf(nB, "dB"), t: null, seen: false };
      off += nA + nB;
      return e;
    });
    this.packedLen = off;
    this.maxR = Math.max(1, ...plan.loras.map((lo) => lo.r));
    this.mark = { ...eng.stats };
    this.lastEnd = null;
    // stats: the last call's figures (what crossed since the call before it:
    // setLoRA's upload included), and the last training step's under train
    this.stats = { steps: 0, evals: 0, backward: false, dispatches: 0, bytesUploaded: 0, bytesReadBack: 0, embed: 0, layers: [], head: 0,
      recordMs: 0, waitMs: 0, betweenMs: null, train: null };
  }

  /** setLoRA uploads the LoRA parameters: for each plan.loras entry in order, A (r·in) then B (out·r). */
  async setLoRA(packed) {
    if (!(packed instanceof Float32Array)) throw new TypeError("webgpu model: setLoRA takes a Float32Array");
    if (packed.length !== this.packedLen) fail(`setLoRA got ${packed.length} values, the plan's LoRA has ${this.packedLen}`);
    for (const lo of this.loras) {
      this.eng.write(lo.A, packed.subarray(lo.off, lo.off + lo.nA));
      this.eng.write(lo.B, packed.subarray(lo.off + lo.nA, lo.off + lo.nA + lo.nB));
    }
  }

  /**
   * step runs the forward pass and the loss on tokens/targets [B·T] (and,
   * with backward, the backward pass) and returns {losses} [B·T] (0 for
   * ignored rows) and {grads}, this step's LoRA gradients packed as setLoRA
   * takes them, with dloss the gradient of each counted row's loss.
   */
  async step({ tokens, targets, B, T, dloss = 0, backward = true }) {
    const p = this.plan, eng = this.eng;
    checkInt(B, "step's B");
    checkInt(T, "step's T");
    if (T > p.P) fail(`step's T=${T} is past the ${p.P} positions of the rope tables`);
    const N = B * T;
    for (const [v, what] of [[tokens, "tokens"], [targets, "targets"]]) {
      if (!(v instanceof Int32Array)) throw new TypeError(`webgpu model: step's ${what} must be an Int32Array`);
      if (v.length !== N) fail(`step's ${what} has ${v.length} ids, want B·T = ${N}`);
    }
    if (backward && !Number.isFinite(dloss)) fail(`step's dloss must be a number, got ${dloss}`);
    eng.checkAlive();
    const t0 = performance.now();
    const a = await this.reserve(B, T);
    eng.write(a.tokens, tokens);
    eng.write(a.targets, targets);
    const enc = eng.device.createCommandEncoder({ label: "webtune step" });
    const st = { embed: 0, layers: new Array(p.L).fill(0), head: 0 };
    let d = eng.stats.dispatches;
    const lap = () => {
      const n = eng.stats.dispatches - d;
      d = eng.stats.dispatches;
      return n;
    };
    ops.embed(eng, enc, { w: p.embed, tokens: a.tokens, out: a.layers[0].resid, n: N, scale: p.embedScale });
    st.embed = lap();
    for (let l = 0; l < p.L; l++) {
      this.blockForward(enc, l, a);
      st.layers[l] += lap();
    }
    ops.rmsnorm(eng, enc, { x: a.resid, w: this.outputNorm, out: a.lnf, rstd: a.rstdf, rows: N, cols: p.C, eps: p.eps });
    this.headLoss(enc, a, dloss, backward);
    st.head = lap();
    let G = 0;
    if (backward) {
      this.backwardTrunk(enc, a, st, lap);
      G = this.packedLen;
      for (const lo of this.loras) {
        const at = (N + lo.off) * 4;
        enc.copyBufferToBuffer(lo.dA, 0, a.out, at, lo.nA * 4);
        enc.copyBufferToBuffer(lo.dB, 0, a.out, at + lo.nA * 4, lo.nB * 4);
      }
    }
    const t1 = performance.now();
    const res = await eng.read(a.out, N + G, enc);
    const t2 = performance.now();
    const now = eng.stats;
    const last = {
      backward,
      dispatches: now.dispatches - this.mark.dispatches,
      bytesUploaded: now.bytesUploaded - this.mark.bytesUploaded,
      bytesReadBack: now.bytesReadBack - this.mark.bytesReadBack,
      ...st,
      recordMs: t1 - t0,
      waitMs: t2 - t1,
      // the caller's time since the last call returned (Go: the optimizer, packing the LoRA, setLoRA)
      betweenMs: this.lastEnd === null ? null : t0 - this.lastEnd,
    };
    this.lastEnd = performance.now();
    this.mark = { ...now };
    const train = backward ? { ...last, layers: [...st.layers] } : this.stats.train;
    this.stats = { steps: this.stats.steps + (backward ? 1 : 0), evals: this.stats.evals + (backward ? 0 : 1), ...last, train };
    return { losses: res.subarray(0, N), grads: backward ? res.subarray(N) : null };
  }

  /**
   * reserve allocates the activations of a (B, T) step now (step does it on
   * a new shape) and returns them; a shape whose buffers pass the device's
   * binding limit or memory throws a GPULimitError naming the step's shape
   * and bytes, and holds nothing. acts.bytes is what they take.
   */
  async reserve(B, T) {
    checkInt(B, "B");
    checkInt(T, "T");
    if (T > this.plan.P) fail(`T=${T} is past the ${this.plan.P} positions of the rope tables`);
    const a0 = this.acts;
    if (a0 && a0.T === T && B <= a0.B) return this.ensureActs(B, T); // no allocation
    const dev = this.eng.device;
    dev.pushErrorScope("out-of-memory");
    let a, thrown = null;
    try {
      a = this.ensureActs(B, T);
    } catch (e) {
      thrown = e;
    }
    const oom = await dev.popErrorScope();
    if (!thrown && !oom) return a;
    const bytes = this.pending;
    this.freeActs();
    const why = thrown ? thrown.message.replace(/^webgpu: /, "") : `out of GPU memory after ${(bytes / 2 ** 20).toFixed(0)} MiB: ${oom.message}`;
    throw new GPULimitError(`the activations of a step of ${B}×${T} tokens do not fit this GPU: ${why}`);
  }

  // ensureActs returns the buffers for a (B, T) step: those of the last
  // allocation when it has the same T and at least B rows of sequences
  // (an evaluation batch smaller than the training batch reuses them: every
  // op takes its sizes from the step, not from the buffers), else new ones.
  ensureActs(B, T) {
    const a0 = this.acts;
    if (a0 && a0.T === T && B <= a0.B) return B === a0.B ? a0 : { ...a0, B, N: B * T, rows: lossRows(B * T, this.plan.V) };
    this.freeActs();
    const p = this.plan, N = B * T, C = p.C, F = p.F, qC = p.NH * p.HS, kvC = p.NKV * p.HS;
    const list = [];
    this.pending = 0;
    const buf = (n, label) => {
      this.pending += 4 * n;
      const b = this.eng.buffer(n, label);
      list.push(b);
      return b;
    };
    const rows = lossRows(N, p.V);
    // the largest buffers first, before allocating anything
    const lim = this.eng.maxBindingBytes;
    for (const [what, n] of [[`its attention probabilities [${B}×${p.NH}×${T}×${T}]`, B * p.NH * T * T], [`its feed-forward activations [${N}×${F}]`, N * F],
      [`its residual stream [${N}×${Math.max(C, qC)}]`, N * Math.max(C, qC)], [`its logits chunk [${rows}×${p.V}]`, rows * p.V]]) {
      if (4 * n > lim) throw new GPULimitError(`${what} take ${4 * n} bytes, over the storage binding limit of ${lim}`);
    }
    const shared = {}; // one buffer for what no backward reads
    const scratch = (name, n) => (shared[name] ??= buf(n, `${name} (scratch)`));
    const lora = (slot) => slot.lora >= 0; // false for -1, null or undefined
    const a = { B, T, N, rows, list };
    this.partial = list; // freed by freeActs if an allocation below throws
    a.tokens = buf(N, "tokens");
    a.targets = buf(N, "targets");
    a.layers = p.layers.map((ly, l) => {
      const x = (name, n, kept) => (kept ? buf(n, `blk.${l}.${name}`) : scratch(name, n));
      const qk = ly.qNorm != null;
      const la = {
        resid: buf(N * C, `blk.${l}.resid`), // [N, C]
        ln1: x("ln1", N * C, lora(ly.q) || lora(ly.k) || lora(ly.v)), // [N, C] read by q/k/v LoRA backward
        rstd1: buf(N, `blk.${l}.rstd1`),
        q: buf(N * qC, `blk.${l}.q`), // [N, NH·HS] rotated
        k: buf(N * kvC, `blk.${l}.k`), // [N, NKV·HS] rotated
        v: buf(N * kvC, `blk.${l}.v`),
        qraw: qk ? buf(N * qC, `blk.${l}.qraw`) : null, // q/k norms' inputs
        kraw: qk ? buf(N * kvC, `blk.${l}.kraw`) : null,
        rstdq: qk ? buf(N * p.NH, `blk.${l}.rstdq`) : null,
        rstdk: qk ? buf(N * p.NKV, `blk.${l}.rstdk`) : null,
        att: buf(B * p.NH * T * T, `blk.${l}.att`), // [B, NH, T, T]
        atty: x("atty", N * qC, lora(ly.o)),
        o: x("o", N * C, ly.postAttnNorm != null),
        po: ly.postAttnNorm ? scratch("po", N * C) : null,
        rstdPA: ly.postAttnNorm ? buf(N, `blk.${l}.rstdPA`) : null,
        resid2: buf(N * C, `blk.${l}.resid2`),
        ln2: x("ln2", N * C, lora(ly.gate) || lora(ly.up)),
        rstd2: buf(N, `blk.${l}.rstd2`),
        gate: buf(N * F, `blk.${l}.gate`),
        up: buf(N * F, `blk.${l}.up`),
        hidden: x("hidden", N * F, lora(ly.down)),
        d: x("d", N * C, ly.postFFNNorm != null),
        pf: ly.postFFNNorm ? scratch("pf", N * C) : null,
        rstdPF: ly.postFFNNorm ? buf(N, `blk.${l}.rstdPF`) : null,
      };
      return la;
    });
    a.resid = buf(N * C, "resid"); // [N, C] the last block's output
    a.lnf = buf(N * C, "lnf");
    a.rstdf = buf(N, "rstdf");
    a.logits = buf(rows * p.V, "logits chunk"); // [rows, V]
    a.dlogits = buf(rows * p.V, "dlogits chunk");
    a.lse = buf(N, "lse");
    a.out = buf(N + this.packedLen, "losses and grads"); // [N] losses, then the packed LoRA gradients
    if (p.outputLora >= 0) {
      a.xch = buf(rows * C, "head input chunk");
      a.dxch = buf(rows * C, "head input gradient chunk");
    }
    for (const lo of this.loras) lo.t = buf(Math.max(N, rows) * lo.r, `lora ${lo.layer}/${lo.slot} x·Aᵀ`); // [N, r]
    a.u = buf(Math.max(N, rows) * this.maxR, "lora dy·B"); // [N, r]
    // backward scratch
    a.dlnf = buf(N * C, "dlnf");
    a.dres = buf(N * C, "dres");
    a.dln = buf(N * C, "dln");
    a.dpost = buf(N * C, "dpost");
    a.dh = buf(N * F, "dh");
    a.dgate = buf(N * F, "dgate");
    a.dup = buf(N * F, "dup");
    a.datty = buf(N * qC, "datty");
    a.dq = buf(N * qC, "dq");
    a.dqr = buf(N * qC, "dqr");
    a.dk = buf(N * kvC, "dk");
    a.dkr = buf(N * kvC, "dkr");
    a.dv = buf(N * kvC, "dv");
    a.bytes = this.pending;
    this.acts = a;
    return a;
  }

  freeActs() {
    for (const b of this.acts?.list ?? this.partial ?? []) b.destroy();
    this.acts = null;
    this.partial = null;
  }

  // linear records y (= or +=) x·Wᵀ for a slot, plus its LoRA:
  // t = x·Aᵀ [n×r]; y += s·t·Bᵀ (lora.go's loraForward).
  linear(enc, slot, x, y, n, acc = false) {
    const eng = this.eng;
    ops.linearInto(eng, enc, { w: slot.w, x, y, n, acc });
    if (!(slot.lora >= 0)) return;
    const lo = this.loras[slot.lora];
    ops.matmulInto(eng, enc, { a: x, b: lo.A, c: lo.t, m: n, k: lo.in, n: lo.r, transB: true });
    ops.matmulInto(eng, enc, { a: lo.t, b: lo.B, c: y, m: n, k: lo.r, n: lo.out, transB: true, alpha: lo.scale, acc: true });
  }

  // linearBackward is linear in reverse for dy [n×out] and the input x: with
  // needDX, dx (= or +=) dy·W, then the LoRA (lora.go's loraBackward, t kept
  // from the forward): dB += s·dyᵀ·t; u = s·dy·B; dA += uᵀ·x; dx += u·A.
  // Each LoRA gradient starts this step at its first contribution.
  linearBackward(enc, slot, dy, x, dx, n, accDX, needDX = true) {
    const eng = this.eng, a = this.acts;
    if (needDX) ops.linearBackwardInto(eng, enc, { w: slot.w, dy, dx, n, acc: accDX });
    if (!(slot.lora >= 0)) return;
    const lo = this.loras[slot.lora];
    ops.matmulInto(eng, enc, { a: dy, b: lo.t, c: lo.dB, m: lo.out, k: n, n: lo.r, transA: true, alpha: lo.scale, acc: lo.seen });
    ops.matmulInto(eng, enc, { a: dy, b: lo.B, c: a.u, m: n, k: lo.out, n: lo.r, alpha: lo.scale });
    ops.matmulInto(eng, enc, { a: a.u, b: x, c: lo.dA, m: lo.r, k: n, n: lo.in, transA: true, acc: lo.seen });
    if (needDX) ops.matmulInto(eng, enc, { a: a.u, b: lo.A, c: dx, m: n, k: lo.r, n: lo.in, acc: true });
    lo.seen = true;
  }

  // blockForward records layer l (llama/forward.go's blockForward): its
  // input is a.layers[l].resid, its output the next layer's resid (a.resid
  // after the last).
  blockForward(enc, l, a) {
    const p = this.plan, eng = this.eng, ly = p.layers[l], g = this.layers[l], la = a.layers[l];
    const { B, T, N } = a, C = p.C, NH = p.NH, NKV = p.NKV, HS = p.HS;
    const next = l + 1 < p.L ? a.layers[l + 1].resid : a.resid;
    const qk = g.qNorm != null;
    ops.rmsnorm(eng, enc, { x: la.resid, w: g.attnNorm, out: la.ln1, rstd: la.rstd1, rows: N, cols: C, eps: p.eps });
    const qout = qk ? la.qraw : la.q, kout = qk ? la.kraw : la.k;
    this.linear(enc, ly.q, la.ln1, qout, N);
    this.linear(enc, ly.k, la.ln1, kout, N);
    this.linear(enc, ly.v, la.ln1, la.v, N);
    if (g.qBias) ops.bias(eng, enc, { y: qout, b: g.qBias, rows: N, cols: NH * HS });
    if (g.kBias) ops.bias(eng, enc, { y: kout, b: g.kBias, rows: N, cols: NKV * HS });
    if (g.vBias) ops.bias(eng, enc, { y: la.v, b: g.vBias, rows: N, cols: NKV * HS });
    if (qk) {
      ops.rmsnorm(eng, enc, { x: la.qraw, w: g.qNorm, out: la.q, rstd: la.rstdq, rows: N * NH, cols: HS, eps: p.eps });
      ops.rmsnorm(eng, enc, { x: la.kraw, w: g.kNorm, out: la.k, rstd: la.rstdk, rows: N * NKV, cols: HS, eps: p.eps });
    }
    const { cos, sin } = g.rope;
    ops.rope(eng, enc, { x: la.q, out: la.q, cos, sin, B, T, H: NH, HS, neox: p.neox });
    ops.rope(eng, enc, { x: la.k, out: la.k, cos, sin, B, T, H: NKV, HS, neox: p.neox });
    attention(eng, enc, { out: la.atty, att: la.att, q: la.q, k: la.k, v: la.v, B, T, NH, NKV, HS, scale: ly.scale, window: ly.window ?? 0 });
    this.linear(enc, ly.o, la.atty, la.o, N);
    let add = la.o;
    if (g.postAttnNorm) {
      ops.rmsnorm(eng, enc, { x: la.o, w: g.postAttnNorm, out: la.po, rstd: la.rstdPA, rows: N, cols: C, eps: p.eps });
      add = la.po;
    }
    ops.residual(eng, enc, { out: la.resid2, a: la.resid, b: add, n: N * C });
    ops.rmsnorm(eng, enc, { x: la.resid2, w: g.ffnNorm, out: la.ln2, rstd: la.rstd2, rows: N, cols: C, eps: p.eps });
    this.linear(enc, ly.gate, la.ln2, la.gate, N);
    this.linear(enc, ly.up, la.ln2, la.up, N);
    (p.gelu ? ops.geglu : ops.swiglu)(eng, enc, { out: la.hidden, gate: la.gate, up: la.up, n: N * p.F });
    this.linear(enc, ly.down, la.hidden, la.d, N);
    add = la.d;
    if (g.postFFNNorm) {
      ops.rmsnorm(eng, enc, { x: la.d, w: g.postFFNNorm, out: la.pf, rstd: la.rstdPF, rows: N, cols: C, eps: p.eps });
      add = la.pf;
    }
    ops.residual(eng, enc, { out: next, a: la.resid2, b: add, n: N * C });
  }

  // headLoss records the head and the cross-entropy a chunk of rows at a
  // time (llama/loss.go's headLoss): logits = lnf·Wᵀ (+ LoRA), softcap,
  // losses; with backward, each chunk's dlogits goes back through the
  // softcap and the head at once, into its rows of a.dlnf.
  headLoss(enc, a, dloss, backward) {
    const p = this.plan, eng = this.eng, C = p.C, V = p.V, N = a.N;
    const head = { w: p.output, lora: p.outputLora ?? -1 };
    const headLora = head.lora >= 0;
    for (let r0 = 0; r0 < N; r0 += a.rows) {
      const rc = Math.min(a.rows, N - r0);
      let x = null;
      if (headLora) {
        // the LoRA products read their input from offset 0: the chunk's rows of lnf
        enc.copyBufferToBuffer(a.lnf, r0 * C * 4, a.xch, 0, rc * C * 4);
        x = a.xch;
        this.linear(enc, head, x, a.logits, rc);
      } else {
        ops.linearInto(eng, enc, { w: p.output, x: a.lnf, y: a.logits, n: rc, xoff: r0 * C });
      }
      if (p.softcap > 0) ops.softcap(eng, enc, { x: a.logits, n: rc * V, cap: p.softcap });
      ops.crossEntropy(eng, enc, { losses: a.out, lse: a.lse, logits: a.logits, targets: a.targets, rows: rc, V, toff: r0, loff: r0 });
      if (!backward) continue;
      ops.crossEntropyBackward(eng, enc, { dlogits: a.dlogits, logits: a.logits, lse: a.lse, targets: a.targets, rows: rc, V, dloss, toff: r0, loff: r0 });
      if (p.softcap > 0) ops.softcapBackward(eng, enc, { dy: a.dlogits, y: a.logits, n: rc * V, cap: p.softcap });
      if (headLora) {
        this.linearBackward(enc, head, a.dlogits, x, a.dxch, rc, false);
        enc.copyBufferToBuffer(a.dxch, 0, a.dlnf, r0 * C * 4, rc * C * 4);
      } else {
        ops.linearBackwardInto(eng, enc, { w: p.output, dy: a.dlogits, dx: a.dlnf, n: rc, dxoff: r0 * C });
      }
    }
  }

  // backwardTrunk records llama/backward.go's backwardTrunk from a.dlnf:
  // the output norm, then every block in reverse.
  backwardTrunk(enc, a, st, lap) {
    const p = this.plan, eng = this.eng;
    ops.fill(eng, enc, { y: a.dres, n: a.N * p.C });
    ops.rmsnormBackward(eng, enc, { dx: a.dres, dy: a.dlnf, x: a.resid, w: this.outputNorm, rstd: a.rstdf, rows: a.N, cols: p.C });
    st.head += lap();
    for (let l = p.L - 1; l >= 0; l--) {
      this.blockBackward(enc, l, a, l > 0);
      st.layers[l] += lap();
    }
    // a LoRA no product reached (none today) still reports zeros, not stale values
    for (const lo of this.loras) {
      if (!lo.seen) {
        ops.fill(eng, enc, { y: lo.dA, n: lo.nA });
        ops.fill(eng, enc, { y: lo.dB, n: lo.nB });
      }
      lo.seen = false;
    }
  }

  // postNormBackward returns the gradient of a block output y that went
  // through a post-norm w (into a.dpost), or a.dres itself without one.
  postNormBackward(enc, a, w, y, rstd) {
    if (!w) return a.dres;
    const p = this.plan, eng = this.eng;
    ops.fill(eng, enc, { y: a.dpost, n: a.N * p.C });
    ops.rmsnormBackward(eng, enc, { dx: a.dpost, dy: a.dres, x: y, w, rstd, rows: a.N, cols: p.C });
    return a.dpost;
  }

  // blockBackward turns a.dres = dL/d(block l's output) into dL/d(its
  // input) in place and accumulates the block's LoRA gradients
  // (llama/backward.go's blockBackward). Without needDX (block 0, frozen
  // embeddings and norms) q/k/v give their LoRA gradients only.
  blockBackward(enc, l, a, needDX) {
    const p = this.plan, eng = this.eng, ly = p.layers[l], g = this.layers[l], la = a.layers[l];
    const { B, T, N } = a, C = p.C, NH = p.NH, NKV = p.NKV, HS = p.HS, qC = NH * HS, kvC = NKV * HS;
    // feed-forward: next = resid2 + [post_ffw_norm] down(act(gate)·up)
    this.linearBackward(enc, ly.down, this.postNormBackward(enc, a, g.postFFNNorm, la.d, la.rstdPF), la.hidden, a.dh, N, false);
    ops.fill(eng, enc, { y: a.dgate, n: N * p.F });
    ops.fill(eng, enc, { y: a.dup, n: N * p.F });
    (p.gelu ? ops.gegluBackward : ops.swigluBackward)(eng, enc, { dgate: a.dgate, dup: a.dup, dout: a.dh, gate: la.gate, up: la.up, n: N * p.F });
    this.linearBackward(enc, ly.gate, a.dgate, la.ln2, a.dln, N, false);
    this.linearBackward(enc, ly.up, a.dup, la.ln2, a.dln, N, true);
    ops.rmsnormBackward(eng, enc, { dx: a.dres, dy: a.dln, x: la.resid2, w: g.ffnNorm, rstd: la.rstd2, rows: N, cols: C });
    // attention: resid2 = resid + [post_attention_norm] o(attn(rope(q), rope(k), v))
    this.linearBackward(enc, ly.o, this.postNormBackward(enc, a, g.postAttnNorm, la.o, la.rstdPA), la.atty, a.datty, N, false);
    ops.fill(eng, enc, { y: a.dq, n: N * qC });
    ops.fill(eng, enc, { y: a.dk, n: N * kvC });
    ops.fill(eng, enc, { y: a.dv, n: N * kvC });
    attentionBackward(eng, enc, { dq: a.dq, dk: a.dk, dv: a.dv, dout: a.datty, q: la.q, k: la.k, v: la.v, att: la.att,
      B, T, NH, NKV, HS, scale: ly.scale, window: ly.window ?? 0 });
    ops.fill(eng, enc, { y: a.dqr, n: N * qC });
    ops.fill(eng, enc, { y: a.dkr, n: N * kvC });
    const { cos, sin } = g.rope;
    ops.ropeBackward(eng, enc, { dx: a.dqr, dy: a.dq, cos, sin, B, T, H: NH, HS, neox: p.neox });
    ops.ropeBackward(eng, enc, { dx: a.dkr, dy: a.dk, cos, sin, B, T, H: NKV, HS, neox: p.neox });
    let dq = a.dqr, dk = a.dkr;
    if (g.qNorm) {
      ops.fill(eng, enc, { y: a.dq, n: N * qC });
      ops.fill(eng, enc, { y: a.dk, n: N * kvC });
      ops.rmsnormBackward(eng, enc, { dx: a.dq, dy: a.dqr, x: la.qraw, w: g.qNorm, rstd: la.rstdq, rows: N * NH, cols: HS });
      ops.rmsnormBackward(eng, enc, { dx: a.dk, dy: a.dkr, x: la.kraw, w: g.kNorm, rstd: la.rstdk, rows: N * NKV, cols: HS });
      dq = a.dq;
      dk = a.dk;
    }
    this.linearBackward(enc, ly.q, dq, la.ln1, a.dln, N, false, needDX);
    this.linearBackward(enc, ly.k, dk, la.ln1, a.dln, N, true, needDX);
    this.linearBackward(enc, ly.v, a.dv, la.ln1, a.dln, N, true, needDX);
    if (needDX) ops.rmsnormBackward(eng, enc, { dx: a.dres, dy: a.dln, x: la.resid, w: g.attnNorm, rstd: la.rstd1, rows: N, cols: C });
  }

  /** destroy frees the model's own buffers (the weights stay: their owner frees them). */
  destroy() {
    this.freeActs();
    for (const b of this.keep) b.destroy();
    this.keep = [];
    this.destroyed = true;
  }
}
