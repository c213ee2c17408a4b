// attention.js — causal grouped-query attention, forward and backward, as
// WebGPU dispatches recorded into a caller's command encoder: the same math
// as package kernels' AttentionForward/AttentionBackward with Tq = Tk = T
// (kernels/attention.go), activations staying in GPUBuffers.
//
//	out  [B, T, NH, HS]
//	att  [B, NH, T, T]   probabilities, masked entries exactly 0 (kept for the backward)
//	q    [B, T, NH, HS]  already rotated
//	k, v [B, T, NKV, HS] k already rotated
//
// Query head h reads kv head h/(NH/NKV). A query at position t sees keys
// first(t) ≤ j ≤ t, first(t) = max(0, t−window+1) when window > 0, else 0.
//
// Forward, per (b, h):  S = scale·Q_h·K_hᵀ;  P = softmax of each row over its
// visible keys (max subtracted);  O_h = P·V_h.
// Backward (+= into dq, dk, dv):
//
//	dP = dO_h·V_hᵀ            dS = P∘(dP − rowsum(P∘dP))·scale
//	dQ_h += dS·K_h            dK_kh += Σ_{h in group} dS_hᵀ·Q_h
//	                          dV_kh += Σ_{h in group} P_hᵀ·dO_h
//
// Every product is one tiled kernel (16×16 outputs per workgroup, tiles of
// both operands in workgroup memory) over a batch of heads in the grid's z;
// the reduction only spans the keys (or queries) a tile can see, and score
// tiles wholly under the mask are skipped. The kv gradients sum over the
// group's heads inside one workgroup (its reduction runs over head × query),
// so no atomics are needed and results are deterministic. The softmax and
// the dS step run one workgroup per query row.

import { f32bits } from "./engine.js";

const ROW_WG = 128;

// The products' tiles: each workgroup of 16×16 threads computes a
// TILE×TILE block of C, each thread 2×2 outputs (rows l.y and l.y+16, columns
// l.x and l.x+16: stores stay contiguous), over the reduction in steps of KT.
const TILE = 32;
const KT = 16;

// Reduction ranges [lo, hi) of the product kernel's three shapes:
//  scores: rows i are queries, columns j keys, the reduction runs over HS;
//          a tile wholly masked (all keys after all queries, or all before
//          every query's window) is skipped: the row kernels write its zeros.
//  keys:   rows i are queries, the reduction runs over keys j, only those
//          some query of the tile sees (the rest have P = 0 or dS = 0).
//  queries: rows i are keys, the reduction runs over the queries t that see
//          some key of the tile: t ≥ i0 and, with a window, t < i0+TILE−1+window.
const ranges = {
  scores: `
  if (j0 > i0 + ${TILE - 1}u) { return; }
  if (p.window > 0u && j0 + ${TILE - 1}u + p.window <= i0) { return; }
  let lo = 0u;
  let hi = p.K;`,
  keys: `
  var lo = 0u;
  if (p.window > 0u && i0 + 1u > p.window) { lo = i0 + 1u - p.window; }
  let hi = min(p.K, i0 + ${TILE}u);`,
  queries: `
  let lo = i0;
  var hi = p.K;
  if (p.window > 0u) { hi = min(p.K, i0 + ${TILE - 1}u + p.window); }`,
};

// tileLoad is the WGSL loading one operand's tile (R rows × Q reduction
// steps, or Q × R for B) into workgroup memory, two elements per thread.
// Consecutive threads read consecutive addresses: along the reduction when
// the operand is contiguous there (alongQ), else along its rows or columns.
function tileLoad(op, alongQ) {
  const [arr, sr, sq, rows0, n] = op === "a" ? ["As", "p.ai", "p.aq", "i0", "p.M"] : ["Bs", "p.bj", "p.bq", "j0", "p.N"];
  const idx = alongQ ? `let qq = e % ${KT}u; let rr = e / ${KT}u;` : `let rr = e % ${TILE}u; let qq = e / ${TILE}u;`;
  const store = op === "a" ? `${arr}[rr][qq]` : `${arr}[qq][rr]`;
  return `
      for (var u = 0u; u < 2u; u++) {
        let e = l.y * 16u + l.x + 256u * u;
        ${idx}
        let r = ${rows0} + rr; let qg = q0 + qq;
        var x = 0.0;
        if (r < ${n} && qg < hi) { x = ${op}[${op}o + r * ${sr} + qg * ${sq}]; }
        ${store} = x;
      }`;
}

// The product C_z[i, j] (= or +=) alpha·Σ_{g<G} Σ_{lo≤q<hi} A(z,g)[i, q]·B(z,g)[q, j]
// for the batch z = b·Hz + hz of the grid's z. Operand X of group step g is
// at X[b·xB + ((hz·G + g)/xDiv)·xH + …]: xDiv maps a query head to its kv
// head (the group size) where X holds kv heads. C is at c[b·cB + hz·cH + i·ci + j].
// aQ, bQ: whether A, B are contiguous along the reduction (aq = 1, bq = 1).
function productKernel(range, aQ, bQ) {
  return /* wgsl */ `
struct Params {
  M: u32, N: u32, K: u32, G: u32, Hz: u32,
  aB: u32, aH: u32, aDiv: u32, ai: u32, aq: u32,
  bB: u32, bH: u32, bDiv: u32, bq: u32, bj: u32,
  cB: u32, cH: u32, ci: u32, alpha: f32, acc: u32, window: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
var<workgroup> As: array<array<f32, ${KT}>, ${TILE}>;
var<workgroup> Bs: array<array<f32, ${TILE}>, ${KT}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let bi = wg.z / p.Hz;
  let hz = wg.z % p.Hz;
  let i0 = wg.y * ${TILE}u;
  let j0 = wg.x * ${TILE}u;
  ${ranges[range]}
  var s00 = 0.0; var s01 = 0.0; var s10 = 0.0; var s11 = 0.0;
  for (var g = 0u; g < p.G; g++) {
    let hh = hz * p.G + g;
    let ao = bi * p.aB + (hh / p.aDiv) * p.aH;
    let bo = bi * p.bB + (hh / p.bDiv) * p.bH;
    for (var q0 = lo; q0 < hi; q0 += ${KT}u) {
      ${tileLoad("a", aQ)}
      ${tileLoad("b", bQ)}
      workgroupBarrier();
      for (var t = 0u; t < ${KT}u; t++) {
        let a0 = As[l.y][t]; let a1 = As[l.y + 16u][t];
        let b0 = Bs[t][l.x]; let b1 = Bs[t][l.x + 16u];
        s00 += a0 * b0; s01 += a0 * b1; s10 += a1 * b0; s11 += a1 * b1;
      }
      workgroupBarrier();
    }
  }
  let i = i0 + l.y;
  let j = j0 + l.x;
  store(bi, hz, i, j, s00);
  store(bi, hz, i, j + 16u, s01);
  store(bi, hz, i + 16u, j, s10);
  store(bi, hz, i + 16u, j + 16u, s11);
}
fn store(bi: u32, hz: u32, i: u32, j: u32, s: f32) {
  if (i < p.M && j < p.N) {
    let o = bi * p.cB + hz * p.cH + i * p.ci + j;
    if (p.acc != 0u) { c[o] += p.alpha * s; } else { c[o] = p.alpha * s; }
  }
}`;
}

// Row kernels: one workgroup of ROW_WG threads per query row t (grid x) of
// head row r = b·NH + h (grid y); the row is att[(r·T + t)·T …], its visible
// keys first..t. reduce() leaves the workgroup's max or sum in red[0].
const rowHeader = /* wgsl */ `
var<workgroup> red: array<f32, ${ROW_WG}>;
fn reduce(l: u32, isMax: bool) {
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (l < s) { red[l] = select(red[l] + red[l + s], max(red[l], red[l + s]), isMax); }
  }
  workgroupBarrier();
}
// firstKey is the first key query t sees: 0, or t + 1 − window on a windowed layer.
fn firstKey(t: u32, window: u32) -> u32 {
  if (window > 0u && t + 1u > window) { return t + 1u - window; }
  return 0u;
}`;

// softmax turns the scores of each row into probabilities in place: the max
// over the visible keys subtracted, exp, divided by the sum (as Go: p = e·(1/sum));
// masked entries become exactly 0.
const softmaxKernel = /* wgsl */ `
struct Params { T: u32, window: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> att: array<f32>;
${rowHeader}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let l = lid.x;
  let t = wg.x;
  let row = (wg.y * p.T + t) * p.T;
  let first = firstKey(t, p.window);
  var m = -3.4028234663852886e38;
  for (var j = first + l; j <= t; j += ${ROW_WG}u) { m = max(m, att[row + j]); }
  red[l] = m;
  reduce(l, true);
  let mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = first + l; j <= t; j += ${ROW_WG}u) {
    let e = exp(att[row + j] - mx);
    att[row + j] = e;
    sum += e;
  }
  red[l] = sum;
  reduce(l, false);
  let inv = 1.0 / red[0];
  for (var j = l; j < p.T; j += ${ROW_WG}u) {
    if (j >= first && j <= t) { att[row + j] *= inv; } else { att[row + j] = 0.0; }
  }
}`;

// dsKernel turns dP (in ds) into dS = P∘(dP − Σ_j P·dP)·scale in place; the
// entries outside the visible keys become 0 without being read (the scores
// kernel skipped those tiles, so they may hold anything).
const dsKernel = /* wgsl */ `
struct Params { T: u32, window: u32, scale: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> att: array<f32>;
@group(0) @binding(2) var<storage, read_write> ds: array<f32>;
${rowHeader}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let l = lid.x;
  let t = wg.x;
  let row = (wg.y * p.T + t) * p.T;
  let first = firstKey(t, p.window);
  var sum = 0.0;
  for (var j = first + l; j <= t; j += ${ROW_WG}u) { sum += att[row + j] * ds[row + j]; }
  red[l] = sum;
  reduce(l, false);
  let pdp = red[0];
  for (var j = l; j < p.T; j += ${ROW_WG}u) {
    if (j >= first && j <= t) {
      ds[row + j] = att[row + j] * (ds[row + j] - pdp) * p.scale;
    } else {
      ds[row + j] = 0.0;
    }
  }
}`;

// checkShape validates the shape and the buffers' sizes once per call.
function checkShape(what, o, bufs) {
  const { B, T, NH, NKV, HS, scale, window = 0 } = o;
  for (const [v, name] of [[B, "B"], [T, "T"], [NH, "NH"], [NKV, "NKV"], [HS, "HS"]]) {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`webgpu: ${what}: ${name} must be a positive integer, got ${v}`);
  }
  if (NH % NKV !== 0) throw new RangeError(`webgpu: ${what}: NH=${NH} is not a multiple of NKV=${NKV}`);
  if (!(Number.isInteger(window) && window >= 0)) throw new RangeError(`webgpu: ${what}: window must be a non-negative integer, got ${window}`);
  if (!(typeof scale === "number" && Number.isFinite(scale) && scale !== 0)) {
    throw new RangeError(`webgpu: ${what}: scale must be a finite non-zero number, got ${scale}`);
  }
  const sizes = { q: B * T * NH * HS, kv: B * T * NKV * HS, att: B * NH * T * T };
  for (const [name, kind] of bufs) {
    const buf = o[name];
    if (!buf || typeof buf.size !== "number") throw new TypeError(`webgpu: ${what}: ${name} must be a GPUBuffer`);
    if (buf.size < sizes[kind] * 4) {
      throw new RangeError(`webgpu: ${what}: ${name} holds ${buf.size / 4} floats, want ${sizes[kind]} (B=${B} T=${T} NH=${NH} NKV=${NKV} HS=${HS})`);
    }
  }
}

// product records one productKernel dispatch: M×N outputs per batch entry, Z batch entries.
function product(eng, enc, range, s, a, b, c) {
  const words = new Uint32Array([
    s.M, s.N, s.K, s.G, s.Hz,
    s.aB, s.aH, s.aDiv, s.ai, s.aq,
    s.bB, s.bH, s.bDiv, s.bq, s.bj,
    s.cB, s.cH, s.ci, f32bits(s.alpha), s.acc ? 1 : 0, s.window,
  ]);
  const groups = [Math.ceil(s.N / TILE), Math.ceil(s.M / TILE), s.Z];
  const aQ = s.aq === 1, bQ = s.bq === 1;
  eng.kernel(enc, `attn/product/${range}/${aQ ? "aq" : "ai"}/${bQ ? "bq" : "bj"}`, productKernel(range, aQ, bQ), words, [a, b, c], groups);
}

/**
 * attention records kernels.AttentionForward (Tq = Tk = T) into enc:
 * out [B,T,NH,HS] = softmax(scale·q·kᵀ, causal, window)·v, and att
 * [B,NH,T,T] the probabilities (masked entries 0) for attentionBackward.
 */
export function attention(eng, enc, o) {
  checkShape("attention", o, [["out", "q"], ["att", "att"], ["q", "q"], ["k", "kv"], ["v", "kv"]]);
  const { out, att, q, k, v, B, T, NH, NKV, HS, scale, window = 0 } = o;
  const group = NH / NKV;
  const qL = { B: T * NH * HS, H: HS, row: NH * HS }; // q, out, dq, dout
  const kvL = { B: T * NKV * HS, H: HS, row: NKV * HS }; // k, v, dk, dv
  const aL = { B: NH * T * T, H: T * T }; // att
  const base = { G: 1, Hz: NH, Z: B * NH, window };
  // S = scale·Q_h·K_hᵀ into att: A(t, d) = q, B(d, j) = k[j, d].
  product(eng, enc, "scores", {
    ...base, M: T, N: T, K: HS,
    aB: qL.B, aH: qL.H, aDiv: 1, ai: qL.row, aq: 1,
    bB: kvL.B, bH: kvL.H, bDiv: group, bq: 1, bj: kvL.row,
    cB: aL.B, cH: aL.H, ci: T, alpha: scale, acc: false,
  }, q, k, att);
  eng.kernel(enc, "attn/softmax", softmaxKernel, new Uint32Array([T, window]), [att], [T, B * NH]);
  // O_h = P·V_h: A(t, j) = att, B(j, d) = v.
  product(eng, enc, "keys", {
    ...base, M: T, N: HS, K: T,
    aB: aL.B, aH: aL.H, aDiv: 1, ai: T, aq: 1,
    bB: kvL.B, bH: kvL.H, bDiv: group, bq: kvL.row, bj: 1,
    cB: qL.B, cH: qL.H, ci: qL.row, alpha: 1, acc: false,
  }, att, v, out);
}

// scratchFor returns the engine's dS scratch buffer of at least n floats. It
// is shared by every attentionBackward recorded on eng: dispatches run in
// order, so one call's use ends before the next call's begins. A larger
// request replaces it; the old one is left to the garbage collector (an
// encoder not yet submitted may still name it, so it cannot be destroyed here).
const scratch = new WeakMap();
function scratchFor(eng, n) {
  let s = scratch.get(eng);
  if (!s || s.n < n) {
    s = { n, buf: eng.buffer(n, "attention dS") };
    scratch.set(eng, s);
  }
  return s.buf;
}

/**
 * attentionBackward records kernels.AttentionBackward (Tq = Tk = T) into
 * enc: it ADDS the gradients through attention into dq [B,T,NH,HS] and
 * dk, dv [B,T,NKV,HS], from dout [B,T,NH,HS] and the forward's q, k, v and
 * att. Needs a scratch of B·NH·T·T floats, kept on eng between calls.
 */
export function attentionBackward(eng, enc, o) {
  checkShape("attentionBackward", o, [["dq", "q"], ["dk", "kv"], ["dv", "kv"], ["dout", "q"], ["q", "q"], ["k", "kv"], ["v", "kv"], ["att", "att"]]);
  const { dq, dk, dv, dout, q, k, v, att, B, T, NH, NKV, HS, scale, window = 0 } = o;
  const group = NH / NKV;
  const qL = { B: T * NH * HS, H: HS, row: NH * HS };
  const kvL = { B: T * NKV * HS, H: HS, row: NKV * HS };
  const aL = { B: NH * T * T, H: T * T };
  const ds = scratchFor(eng, B * NH * T * T);
  const perHead = { G: 1, Hz: NH, Z: B * NH, window };
  const perKV = { G: group, Hz: NKV, Z: B * NKV, window };
  // dP = dO_h·V_hᵀ into ds: A(t, d) = dout, B(d, j) = v[j, d].
  product(eng, enc, "scores", {
    ...perHead, M: T, N: T, K: HS,
    aB: qL.B, aH: qL.H, aDiv: 1, ai: qL.row, aq: 1,
    bB: kvL.B, bH: kvL.H, bDiv: group, bq: 1, bj: kvL.row,
    cB: aL.B, cH: aL.H, ci: T, alpha: 1, acc: false,
  }, dout, v, ds);
  eng.kernel(enc, "attn/ds", dsKernel, new Uint32Array([T, window, f32bits(scale)]), [att, ds], [T, B * NH]);
  // dV_kh += Σ_h P_hᵀ·dO_h: A(j, t) = att[t, j], B(t, d) = dout.
  const kvGrad = {
    ...perKV, M: T, N: HS, K: T,
    aB: aL.B, aH: aL.H, aDiv: 1, ai: 1, aq: T,
    bB: qL.B, bH: qL.H, bDiv: 1, bq: qL.row, bj: 1,
    cB: kvL.B, cH: kvL.H, ci: kvL.row, alpha: 1, acc: true,
  };
  product(eng, enc, "queries", kvGrad, att, dout, dv);
  // dK_kh += Σ_h dS_hᵀ·Q_h: the same with dS and q.
  product(eng, enc, "queries", kvGrad, ds, q, dk);
  // dQ_h += dS·K_h: A(t, j) = dS, B(j, d) = k.
  product(eng, enc, "keys", {
    ...perHead, M: T, N: HS, K: T,
    aB: aL.B, aH: aL.H, aDiv: 1, ai: T, aq: 1,
    bB: kvL.B, bH: kvL.H, bDiv: group, bq: kvL.row, bj: 1,
    cB: qL.B, cH: qL.H, ci: qL.row, alpha: 1, acc: true,
  }, ds, k, dq);
}
