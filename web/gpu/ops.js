// ops.js — the buffer-level ops of a training step on the GPU: each
// `op(eng, enc, {...})` records dispatches into the GPUCommandEncoder enc
// (eng is a GPUEngine of engine.js) on GPUBuffers that stay on the GPU
// between ops, so a forward/backward crosses to the CPU only for what it
// must return. Every op mirrors a CPU kernel of the Go package kernels,
// formula and evaluation order (docs/webgpu.md):
//
//   linearInto, linearBackwardInto, matmulInto   the tiled products of engine.js (resident weights, float32 operands)
//   embed                                       rows of a resident weight (any stored type)      = EncoderForward
//   rmsnorm, rmsnormBackward                    kernels.RMSNormForward / RMSNormBackward (dx only)
//   bias, rope, ropeBackward                    BiasForward, RopeForward / RopeBackward
//   swiglu, geglu (+Backward)                   SwiGLUForward/Backward, GeGLUForward/Backward
//   residual, axpy, fill                        ResidualForward, y += αx, y = v
//   softcap, softcapBackward                    SoftcapForward / SoftcapBackward
//   crossEntropy, crossEntropyBackward          CrossEntropyForward / CrossEntropyBackward
//
// Shapes are row-major; offsets and sizes count 4-byte elements. "+=" ops
// (the backward ones, like Go's) add into their output; the others
// overwrite. Arithmetic is float32 throughout. Where Go sums in float64 (the
// RMS sum of squares, the log-sum-exp) a row is reduced by one workgroup of
// 256 threads: strided partial sums, then a tree in workgroup memory, whose
// float32 error grows with log2 of the row instead of its length. Where Go
// evaluates a transcendental in float64 (tanh of softcap and GELU) the
// kernels use forms without cancellation (tanh near 0 by its series, GELU
// through the logistic function), so each element stays within a few
// float32 roundings of Go's.
//
// Element-wise ops run 256 threads per workgroup; a dimension of the grid is
// capped by maxComputeWorkgroupsPerDimension (65535), so a long vector uses
// a 2-D grid. A buffer may be passed as two arguments (out = x): the op then
// binds it once, read-write (WebGPU forbids binding one buffer as both a
// read-only and a writable storage binding in one dispatch).
import { GPULimitError, TILE, f32bits, floatKernel, weightKernel } from "./engine.js";

const WG = 256;

// ---- checks ----

function checkInts(op, dims) {
  for (const [name, v] of Object.entries(dims)) {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`webgpu: ${op}: ${name} must be a positive integer, got ${v}`);
  }
}

function checkOffsets(op, offs) {
  for (const [name, v] of Object.entries(offs)) {
    if (!(Number.isInteger(v) && v >= 0)) throw new RangeError(`webgpu: ${op}: ${name} must be a non-negative integer, got ${v}`);
  }
}

// need checks that buf is a buffer holding at least elems 4-byte elements.
function need(op, name, buf, elems) {
  if (!buf || typeof buf.size !== "number" || typeof buf.destroy !== "function") {
    throw new TypeError(`webgpu: ${op}: ${name} must be a GPUBuffer`);
  }
  if (buf.size < elems * 4) throw new RangeError(`webgpu: ${op}: ${name} holds ${buf.size / 4} elements, needs ${elems}`);
}

// ---- the generic recorder ----

// record compiles (once per key and aliasing) and dispatches a kernel
// whose uniform struct is params ([name, "u32"|"i32"|"f32", value]) and
// whose buffers are bufs ([name, GPUBuffer, "r"|"w", elemType?]). The body
// reads a buffer with ld_NAME(i) and writes with st_NAME(i, v); a buffer
// passed under two names binds once. A buffer flagged raw is declared under
// its own name (the weight `w` of the dequantizers).
function record(eng, enc, key, params, bufs, body, groups) {
  const uniq = [];
  const slot = bufs.map(([, buf]) => {
    const k = uniq.findIndex((u) => u.buf === buf);
    if (k >= 0) return k;
    uniq.push({ buf, write: false, type: "f32", raw: null });
    return uniq.length - 1;
  });
  bufs.forEach(([name, , mode, type = "f32", raw = false], i) => {
    const u = uniq[slot[i]];
    if (mode === "w") u.write = true;
    u.type = type;
    if (raw) u.raw = name;
  });
  const fullKey = `${key}|${slot.join(",")}`;
  let code = codeCache.get(fullKey);
  if (!code) {
    const fields = params.length ? params.map(([n, t]) => `${n}: ${t}`).join(", ") : "pad: u32";
    const decls = uniq.map((u, k) => {
      const acc = u.write ? "read_write" : "read";
      return `@group(0) @binding(${k + 1}) var<storage, ${acc}> ${u.raw ?? `B${k}`}: array<${u.type}>;`;
    });
    const fns = bufs.map(([name, , mode, type = "f32"], i) => {
      const v = uniq[slot[i]].raw ?? `B${slot[i]}`;
      let f = `fn ld_${name}(i: u32) -> ${type} { return ${v}[i]; }`;
      if (mode === "w") f += `\nfn st_${name}(i: u32, x: ${type}) { ${v}[i] = x; }`;
      return f;
    });
    code = `struct P { ${fields} };\n@group(0) @binding(0) var<uniform> p: P;\n${decls.join("\n")}\n${fns.join("\n")}\n${body}`;
    codeCache.set(fullKey, code);
  }
  const words = new Uint32Array(Math.max(1, params.length));
  params.forEach(([, t, v], i) => (words[i] = t === "f32" ? f32bits(v) : v >>> 0));
  eng.kernel(enc, fullKey, code, words, uniq.map((u) => u.buf), groups);
}
const codeCache = new Map();

// grid spreads count workgroups over x (and y when x would pass the device's per-dimension limit).
function grid(eng, count, op) {
  const lim = eng.limits.maxComputeWorkgroupsPerDimension;
  const c = Math.max(1, count);
  if (c <= lim) return [c];
  const gy = Math.ceil(c / lim);
  if (gy > lim) throw new GPULimitError(`${op}: ${c} workgroups exceed ${lim}² (maxComputeWorkgroupsPerDimension)`);
  return [Math.ceil(c / gy), gy];
}

// elementwise wraps a body that sees i < p.n (one thread per element or pair).
function elementwise(body, extra = "") {
  return `${extra}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = (wg.y * nw.x + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
${body}
}`;
}

// rowwise wraps a body run by one workgroup per row (row < p.rows, thread l)
// with reduceSum and reduceMax over the workgroup.
function rowwise(body, extra = "") {
  return `var<workgroup> red: array<f32, ${WG}>;
fn reduceSum(l: u32, v: f32) -> f32 {
  red[l] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l < s) { red[l] = red[l] + red[l + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceMax(l: u32, v: f32) -> f32 {
  red[l] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l < s) { red[l] = max(red[l], red[l + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
${extra}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = wg.y * nw.x + wg.x;
  if (row >= p.rows) { return; }
  let l = lid.x;
${body}
}`;
}

function runElementwise(eng, enc, key, n, params, bufs, body, extra) {
  record(eng, enc, key, [["n", "u32", n], ...params], bufs, elementwise(body, extra), grid(eng, Math.ceil(n / WG), key));
}

function runRowwise(eng, enc, key, rows, params, bufs, body, extra) {
  record(eng, enc, key, [["rows", "u32", rows], ...params], bufs, rowwise(body, extra), grid(eng, rows, key));
}

// ---- products (the tiled kernels of engine.js on buffers) ----

const productCode = new Map();
function productKernel(key, make) {
  let c = productCode.get(key);
  if (!c) productCode.set(key, (c = make()));
  return c;
}

// product dispatches a tiled kernel: words are the template's params after M, N, K (sai … aoff).
function product(eng, enc, key, code, M, N, K, words, bufs, alpha = 1) {
  const params = new Uint32Array(13);
  params.set([M, N, K, ...words]);
  params[12] = f32bits(alpha);
  eng.kernel(enc, key, code, params, bufs, [Math.ceil(N / TILE), Math.ceil(M / TILE)]);
}

/**
 * linearInto records y[yoff + i·rows + r] (= or +=, acc) Σ_c x[xoff + i·cols + c]·W[r, c]
 * for i < n: y = x·Wᵀ with x [n×cols], W the resident weight w [rows×cols] (every
 * row range of it), y [n×rows].
 */
export function linearInto(eng, enc, { w, x, y, n, acc = false, xoff = 0, yoff = 0 }) {
  const wt = eng.weight(w);
  checkInts("linearInto", { n });
  checkOffsets("linearInto", { xoff, yoff });
  need("linearInto", "x", x, xoff + n * wt.cols);
  need("linearInto", "y", y, yoff + n * wt.rows);
  if (x === y) throw new RangeError("webgpu: linearInto: x and y must be different buffers");
  const key = `${wt.type}/xwt`;
  const code = productKernel(key, () => weightKernel(wt.type, true));
  for (const ch of wt.chunks) {
    // Output columns r0..r1 of y from rows r0..r1 of W (the chunk's row 0 is W's row r0).
    const words = [wt.cols, 1, 0, 0, wt.rows, yoff + ch.r0, acc ? 1 : 0, wt.rb, xoff];
    product(eng, enc, key, code, n, ch.r1 - ch.r0, wt.cols, words, [x, ch.buf, y]);
  }
}

/**
 * linearBackwardInto records dx (= or +=, acc) dy·W: dy [n×rows] from dyoff,
 * dx [n×cols] from dxoff, W the resident weight w [rows×cols]; the row ranges
 * after the first add into dx.
 */
export function linearBackwardInto(eng, enc, { w, dy, dx, n, acc = false, dyoff = 0, dxoff = 0 }) {
  const wt = eng.weight(w);
  checkInts("linearBackwardInto", { n });
  checkOffsets("linearBackwardInto", { dyoff, dxoff });
  need("linearBackwardInto", "dy", dy, dyoff + n * wt.rows);
  need("linearBackwardInto", "dx", dx, dxoff + n * wt.cols);
  if (dx === dy) throw new RangeError("webgpu: linearBackwardInto: dy and dx must be different buffers");
  const key = `${wt.type}/dyw`;
  const code = productKernel(key, () => weightKernel(wt.type, false));
  wt.chunks.forEach((ch, idx) => {
    // dx (+)= dy[:, r0:r1]·W[r0:r1, :]: A is dy read from column r0 (aoff), B the chunk.
    const words = [wt.rows, 1, 0, 0, wt.cols, dxoff, acc || idx > 0 ? 1 : 0, wt.rb, dyoff + ch.r0];
    product(eng, enc, key, code, n, wt.cols, ch.r1 - ch.r0, words, [dy, ch.buf, dx]);
  });
}

/**
 * matmulInto records C (= or +=, acc) alpha·op(A)·op(B) on float32 buffers:
 * op(A) [m×k] (A stored [k×m] when transA), op(B) [k×n] (B stored [n×k] when
 * transB), C [m×n]; aoff and coff (elements) start A and C inside larger buffers.
 * The LoRA products: t = x·Aᵀ, y += s·t·Bᵀ, dB += s·dyᵀ·t, u = dy·B, dA += s·uᵀ·x, dx += s·u·A.
 */
export function matmulInto(eng, enc, { a, b, c, m, k, n, transA = false, transB = false, alpha = 1, acc = false, aoff = 0, coff = 0 }) {
  checkInts("matmulInto", { m, k, n });
  checkOffsets("matmulInto", { aoff, coff });
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) throw new RangeError(`webgpu: matmulInto: alpha must be a finite number, got ${alpha}`);
  need("matmulInto", "a", a, aoff + m * k);
  need("matmulInto", "b", b, k * n);
  need("matmulInto", "c", c, coff + m * n);
  if (c === a || c === b) throw new RangeError("webgpu: matmulInto: c must be a buffer other than a and b");
  const [sai, sap] = transA ? [1, m] : [k, 1];
  const [sbq, sbj] = transB ? [1, k] : [n, 1];
  const words = [sai, sap, sbq, sbj, n, coff, acc ? 1 : 0, 0, aoff];
  product(eng, enc, "f32/matmul", floatKernel, m, n, k, words, [a, b, c], alpha);
}

// ---- embedding ----

/**
 * embed records out[i, :] = deq(W[tokens[i], :])·scale for i < n: W the resident
 * weight w [V×C] in its stored type (each row range its own dispatch), tokens
 * a u32 buffer [n] of ids < V (checked by the caller: the GPU cannot refuse one),
 * out [n×C]. scale (gemma's √C, already rounded to float32) multiplies in float32.
 */
export function embed(eng, enc, { w, tokens, out, n, scale = 1 }) {
  const wt = eng.weight(w);
  checkInts("embed", { n });
  need("embed", "tokens", tokens, n);
  need("embed", "out", out, n * wt.cols);
  const dq = deqSource(wt.type);
  for (const ch of wt.chunks) {
    record(eng, enc, `embed/${wt.type}`,
      [["n", "u32", n * wt.cols], ["cols", "u32", wt.cols], ["r0", "u32", ch.r0], ["r1", "u32", ch.r1], ["rb", "u32", wt.rb], ["scale", "f32", scale]],
      [["tokens", tokens, "r", "u32"], ["w", ch.buf, "r", "u32", true], ["out", out, "w"]],
      `${dq}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = (wg.y * nw.x + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let tok = ld_tokens(i / p.cols);
  if (tok < p.r0 || tok >= p.r1) { return; }
  st_out(i, deq(tok - p.r0, i % p.cols) * p.scale);
}`,
      grid(eng, Math.ceil((n * wt.cols) / WG), "embed"));
  }
}

// deqSource is the WGSL fn deq(r, c) of a weight type, cut from the product kernel's source.
function deqSource(type) {
  let s = deqCache.get(type);
  if (!s) {
    const code = weightKernel(type, true);
    const from = code.indexOf("fn wbyte");
    const to = code.indexOf("fn loadB");
    s = code.slice(from, to);
    deqCache.set(type, s);
  }
  return s;
}
const deqCache = new Map();

// ---- RMSNorm ----

/**
 * rmsnorm records kernels.RMSNormForward: out = x·s·w per row with
 * s = 1/√(mean(x²) + eps), rstd[row] = s. x, out [rows×cols], w [cols],
 * rstd [rows]; a per-head norm is rows = N·heads, cols = HS. out may be x.
 */
export function rmsnorm(eng, enc, { x, w, out, rstd, rows, cols, eps }) {
  checkInts("rmsnorm", { rows, cols });
  if (!(eps >= 0)) throw new RangeError(`webgpu: rmsnorm: eps must be a non-negative number, got ${eps}`);
  need("rmsnorm", "x", x, rows * cols);
  need("rmsnorm", "out", out, rows * cols);
  need("rmsnorm", "w", w, cols);
  need("rmsnorm", "rstd", rstd, rows);
  runRowwise(eng, enc, "rmsnorm", rows, [["cols", "u32", cols], ["eps", "f32", eps]],
    [["x", x, "r"], ["w", w, "r"], ["out", out, "w"], ["rstd", rstd, "w"]],
    `  let base = row * p.cols;
  var s = 0.0;
  for (var c = l; c < p.cols; c += ${WG}u) { let v = ld_x(base + c); s += v * v; }
  let sum = reduceSum(l, s);
  let r = 1.0 / sqrt(sum / f32(p.cols) + p.eps);
  if (l == 0u) { st_rstd(row, r); }
  for (var c = l; c < p.cols; c += ${WG}u) { st_out(base + c, ld_x(base + c) * r * ld_w(c)); }`);
}

/**
 * rmsnormBackward records the input gradient of kernels.RMSNormBackward:
 * dx += s·w·dy − s³/cols · x · Σ dy·w·x per row (s = rstd[row]).
 */
export function rmsnormBackward(eng, enc, { dx, dy, x, w, rstd, rows, cols }) {
  checkInts("rmsnormBackward", { rows, cols });
  for (const [nm, b] of [["dx", dx], ["dy", dy], ["x", x]]) need("rmsnormBackward", nm, b, rows * cols);
  need("rmsnormBackward", "w", w, cols);
  need("rmsnormBackward", "rstd", rstd, rows);
  runRowwise(eng, enc, "rmsnormBackward", rows, [["cols", "u32", cols]],
    [["dy", dy, "r"], ["x", x, "r"], ["w", w, "r"], ["rstd", rstd, "r"], ["dx", dx, "w"]],
    `  let base = row * p.cols;
  var d = 0.0;
  for (var c = l; c < p.cols; c += ${WG}u) { d += ld_dy(base + c) * ld_w(c) * ld_x(base + c); }
  let dot = reduceSum(l, d);
  let s = ld_rstd(row);
  let k = s * s * s * dot / f32(p.cols);
  for (var c = l; c < p.cols; c += ${WG}u) {
    let o = base + c;
    st_dx(o, ld_dx(o) + (s * ld_w(c) * ld_dy(o) - k * ld_x(o)));
  }`);
}

// ---- bias, residual, axpy, fill ----

/** bias records y[r, c] += b[c] for y [rows×cols] in place (kernels.BiasForward). */
export function bias(eng, enc, { y, b, rows, cols }) {
  checkInts("bias", { rows, cols });
  need("bias", "y", y, rows * cols);
  need("bias", "b", b, cols);
  runElementwise(eng, enc, "bias", rows * cols, [["cols", "u32", cols]], [["b", b, "r"], ["y", y, "w"]],
    `  st_y(i, ld_y(i) + ld_b(i % p.cols));`);
}

/** residual records out = a + b over n elements (kernels.ResidualForward); out may be a or b. */
export function residual(eng, enc, { out, a, b, n }) {
  checkInts("residual", { n });
  for (const [nm, v] of [["out", out], ["a", a], ["b", b]]) need("residual", nm, v, n);
  runElementwise(eng, enc, "residual", n, [], [["a", a, "r"], ["b", b, "r"], ["out", out, "w"]],
    `  st_out(i, ld_a(i) + ld_b(i));`);
}

/** axpy records y += alpha·x over n elements. */
export function axpy(eng, enc, { y, x, n, alpha = 1 }) {
  checkInts("axpy", { n });
  need("axpy", "y", y, n);
  need("axpy", "x", x, n);
  runElementwise(eng, enc, "axpy", n, [["alpha", "f32", alpha]], [["x", x, "r"], ["y", y, "w"]],
    `  st_y(i, ld_y(i) + p.alpha * ld_x(i));`);
}

/** fill records y = value over n elements. */
export function fill(eng, enc, { y, n, value = 0 }) {
  checkInts("fill", { n });
  need("fill", "y", y, n);
  runElementwise(eng, enc, "fill", n, [["value", "f32", value]], [["y", y, "w"]], `  st_y(i, p.value);`);
}


// ---- rotary position embedding ----

function checkRope(op, { B, T, H, HS, pos0 }, bufs, cos, sin) {
  checkInts(op, { B, T, H, HS });
  checkOffsets(op, { pos0 });
  if (HS % 2) throw new RangeError(`webgpu: ${op}: HS must be even, got ${HS}`);
  for (const [nm, b] of bufs) need(op, nm, b, B * T * H * HS);
  need(op, "cos", cos, (pos0 + T) * (HS / 2));
  need(op, "sin", sin, (pos0 + T) * (HS / 2));
}

// ropePair is the WGSL prologue of both rope ops: one thread per pair (a, b) of a
// head, pair pi of the head starting at base, angle of position pos0 + t.
const ropePair = `  let half = p.hs / 2u;
  let pi = i % half;
  let head = i / half;
  let pos = p.pos0 + (head / p.h) % p.t;
  let a = head * p.hs + select(2u * pi, pi, p.neox != 0u);
  let b = a + select(1u, half, p.neox != 0u);
  let c = ld_cos(pos * half + pi);
  let s = ld_sin(pos * half + pi);`;

function ropeParams({ T, H, HS, pos0, neox }) {
  return [["t", "u32", T], ["h", "u32", H], ["hs", "u32", HS], ["pos0", "u32", pos0], ["neox", "u32", neox ? 1 : 0]];
}

/**
 * rope records kernels.RopeForward: x, out [B, T, H, HS], each head's pairs
 * (a, b) = (x[2i], x[2i+1]) or, neox, (x[i], x[i+HS/2]) rotated by the angle of
 * position pos0+t: out[a] = x[a]·cos − x[b]·sin, out[b] = x[a]·sin + x[b]·cos;
 * cos, sin [P, HS/2] with P ≥ pos0+T. out may be x.
 */
export function rope(eng, enc, { x, out, cos, sin, B, T, H, HS, pos0 = 0, neox }) {
  checkRope("rope", { B, T, H, HS, pos0 }, [["x", x], ["out", out]], cos, sin);
  runElementwise(eng, enc, "rope", (B * T * H * HS) / 2, ropeParams({ T, H, HS, pos0, neox }),
    [["cos", cos, "r"], ["sin", sin, "r"], ["x", x, "r"], ["out", out, "w"]],
    `${ropePair}
  let x0 = ld_x(a);
  let x1 = ld_x(b);
  st_out(a, x0 * c - x1 * s);
  st_out(b, x0 * s + x1 * c);`);
}

/** ropeBackward records kernels.RopeBackward: dx += Rᵀ·dy (the inverse rotation), layouts as rope. */
export function ropeBackward(eng, enc, { dx, dy, cos, sin, B, T, H, HS, pos0 = 0, neox }) {
  checkRope("ropeBackward", { B, T, H, HS, pos0 }, [["dx", dx], ["dy", dy]], cos, sin);
  if (dx === dy) throw new RangeError("webgpu: ropeBackward: dx and dy must be different buffers");
  runElementwise(eng, enc, "ropeBackward", (B * T * H * HS) / 2, ropeParams({ T, H, HS, pos0, neox }),
    [["cos", cos, "r"], ["sin", sin, "r"], ["dy", dy, "r"], ["dx", dx, "w"]],
    `${ropePair}
  let d0 = ld_dy(a);
  let d1 = ld_dy(b);
  st_dx(a, ld_dx(a) + (d0 * c + d1 * s));
  st_dx(b, ld_dx(b) + (-d0 * s + d1 * c));`);
}

// ---- gated activations ----

// σ(2u) and σ(−2u) without overflow or cancellation: ½(1 + tanh u) and ½(1 − tanh u).
// GELU's tanh form ½x(1 + tanh u) is then x·σ(2u), and 1 − tanh²u = 4σ(2u)σ(−2u).
const geluWGSL = `
const GELU_C: f32 = 0.7978845608028654;
fn sig2(u: f32) -> vec2f {
  let e = exp(-2.0 * abs(u));
  let hi = 1.0 / (1.0 + e);
  let lo = e / (1.0 + e);
  return select(vec2f(lo, hi), vec2f(hi, lo), u >= 0.0);
}
fn geluU(f: f32) -> f32 { return GELU_C * (f + 0.044715 * f * f * f); }
fn gelu(f: f32) -> f32 { return f * sig2(geluU(f)).x; }
fn geluGrad(f: f32) -> f32 {
  let s = sig2(geluU(f));
  return s.x + 2.0 * f * s.x * s.y * GELU_C * (1.0 + 3.0 * 0.044715 * f * f);
}`;

function checkGated(op, n, bufs) {
  checkInts(op, { n });
  for (const [nm, b] of bufs) need(op, nm, b, n);
}

/** swiglu records out = silu(gate)·up, silu(g) = g/(1 + e^(−g)), over n elements (kernels.SwiGLUForward). */
export function swiglu(eng, enc, { out, gate, up, n }) {
  checkGated("swiglu", n, [["out", out], ["gate", gate], ["up", up]]);
  runElementwise(eng, enc, "swiglu", n, [], [["gate", gate, "r"], ["up", up, "r"], ["out", out, "w"]],
    `  let g = ld_gate(i);
  st_out(i, g / (1.0 + exp(-g)) * ld_up(i));`);
}

/**
 * swigluBackward records kernels.SwiGLUBackward: dgate += dout·up·σ(g)·(1 + g·(1 − σ(g))),
 * dup += dout·g·σ(g).
 */
export function swigluBackward(eng, enc, { dgate, dup, dout, gate, up, n }) {
  checkGated("swigluBackward", n, [["dgate", dgate], ["dup", dup], ["dout", dout], ["gate", gate], ["up", up]]);
  runElementwise(eng, enc, "swigluBackward", n, [],
    [["dout", dout, "r"], ["gate", gate, "r"], ["up", up, "r"], ["dgate", dgate, "w"], ["dup", dup, "w"]],
    `  let g = ld_gate(i);
  let d = ld_dout(i);
  let sig = 1.0 / (1.0 + exp(-g));
  st_dgate(i, ld_dgate(i) + d * ld_up(i) * sig * (1.0 + g * (1.0 - sig)));
  st_dup(i, ld_dup(i) + d * g * sig);`);
}

/** geglu records out = gelu(gate)·up with GELU's tanh form (kernels.GeGLUForward). */
export function geglu(eng, enc, { out, gate, up, n }) {
  checkGated("geglu", n, [["out", out], ["gate", gate], ["up", up]]);
  runElementwise(eng, enc, "geglu", n, [], [["gate", gate, "r"], ["up", up, "r"], ["out", out, "w"]],
    `  st_out(i, gelu(ld_gate(i)) * ld_up(i));`, geluWGSL);
}

/** gegluBackward records kernels.GeGLUBackward: dgate += dout·up·gelu'(g), dup += dout·gelu(g). */
export function gegluBackward(eng, enc, { dgate, dup, dout, gate, up, n }) {
  checkGated("gegluBackward", n, [["dgate", dgate], ["dup", dup], ["dout", dout], ["gate", gate], ["up", up]]);
  runElementwise(eng, enc, "gegluBackward", n, [],
    [["dout", dout, "r"], ["gate", gate, "r"], ["up", up, "r"], ["dgate", dgate, "w"], ["dup", dup, "w"]],
    `  let g = ld_gate(i);
  let d = ld_dout(i);
  st_dgate(i, ld_dgate(i) + d * ld_up(i) * geluGrad(g));
  st_dup(i, ld_dup(i) + d * gelu(g));`, geluWGSL);
}

// ---- final logit softcap ----

// tanh without the cancellation of (e^x − e^−x)/(e^x + e^−x) near 0: its
// series below 1/4 (the first omitted term is under 1e-9 relative there),
// (1 − e^−2|x|)/(1 + e^−2|x|) above.
const tanhWGSL = `
fn tanhAcc(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let z = x * x;
    return x * (1.0 + z * (-0.33333334 + z * (0.13333334 + z * (-0.053968254 + z * (0.021869488 + z * -0.0088632355)))));
  }
  let e = exp(-2.0 * a);
  let t = (1.0 - e) / (1.0 + e);
  return select(-t, t, x >= 0.0);
}`;

function softcapParams(op, cap) {
  if (!(typeof cap === "number" && cap > 0 && Number.isFinite(cap))) throw new RangeError(`webgpu: ${op}: cap must be a positive number, got ${cap}`);
  const c = Math.fround(cap);
  return [["c", "f32", c], ["s", "f32", Math.fround(1 / c)]];
}

/** softcap records kernels.SoftcapForward in place: x = c·tanh(x·s) with s = 1/c rounded to float32. */
export function softcap(eng, enc, { x, n, cap }) {
  checkInts("softcap", { n });
  need("softcap", "x", x, n);
  runElementwise(eng, enc, "softcap", n, softcapParams("softcap", cap), [["x", x, "w"]],
    `  st_x(i, tanhAcc(ld_x(i) * p.s) * p.c);`, tanhWGSL);
}

/** softcapBackward records kernels.SoftcapBackward in place: dy = dy·c·s·(1 − (y/c)²) from the capped y. */
export function softcapBackward(eng, enc, { dy, y, n, cap }) {
  checkInts("softcapBackward", { n });
  need("softcapBackward", "dy", dy, n);
  need("softcapBackward", "y", y, n);
  runElementwise(eng, enc, "softcapBackward", n, softcapParams("softcapBackward", cap), [["y", y, "r"], ["dy", dy, "w"]],
    `  let t = ld_y(i) / p.c;
  st_dy(i, ld_dy(i) * (p.c * p.s * (1.0 - t * t)));`);
}

// ---- cross-entropy ----

function checkCE(op, { rows, V, toff, loff }, logits, targets) {
  checkInts(op, { rows, V });
  checkOffsets(op, { toff, loff });
  if (rows * V >= 2 ** 32) throw new RangeError(`webgpu: ${op}: ${rows}×${V} logits exceed 2³² elements`);
  need(op, "logits", logits, rows * V);
  need(op, "targets", targets, toff + rows);
}

/**
 * crossEntropy records kernels.CrossEntropyForward on rows of logits [rows×V]:
 * lse[loff+r] = log Σ e^logits (max-shifted), losses[loff+r] = lse − logits[r, t]
 * with t = targets[toff+r] (an i32 buffer); a target < 0 is ignored: loss 0,
 * lse left as it was (as Go). One workgroup per row: a max pass, then a sum of
 * exponentials, each reduced in workgroup memory.
 */
export function crossEntropy(eng, enc, { losses, lse, logits, targets, rows, V, toff = 0, loff = 0 }) {
  checkCE("crossEntropy", { rows, V, toff, loff }, logits, targets);
  need("crossEntropy", "losses", losses, loff + rows);
  need("crossEntropy", "lse", lse, loff + rows);
  runRowwise(eng, enc, "crossEntropy", rows, [["v", "u32", V], ["toff", "u32", toff], ["loff", "u32", loff]],
    [["logits", logits, "r"], ["targets", targets, "r", "i32"], ["losses", losses, "w"], ["lse", lse, "w"]],
    `  if (l == 0u) { tg = ld_targets(p.toff + row); }
  let t = workgroupUniformLoad(&tg);
  if (t < 0) {
    if (l == 0u) { st_losses(p.loff + row, 0.0); }
    return;
  }
  let base = row * p.v;
  var m = bitcast<f32>(0xff7fffffu); // -FLT_MAX
  for (var c = l; c < p.v; c += ${WG}u) { m = max(m, ld_logits(base + c)); }
  let mx = reduceMax(l, m);
  var s = 0.0;
  for (var c = l; c < p.v; c += ${WG}u) { s += exp(ld_logits(base + c) - mx); }
  let sum = reduceSum(l, s);
  if (l == 0u) {
    let e = mx + log(sum);
    st_lse(p.loff + row, e);
    st_losses(p.loff + row, e - ld_logits(base + u32(t)));
  }`, "var<workgroup> tg: i32;");
}

/**
 * crossEntropyBackward records dlogits = dloss·(softmax(logits) − onehot(t)) per
 * row, from crossEntropy's lse (kernels.CrossEntropyBackward into a cleared
 * dlogits: it overwrites), rows with an ignored target zeroed. dlogits may be logits.
 */
export function crossEntropyBackward(eng, enc, { dlogits, logits, lse, targets, rows, V, dloss, toff = 0, loff = 0 }) {
  checkCE("crossEntropyBackward", { rows, V, toff, loff }, logits, targets);
  need("crossEntropyBackward", "dlogits", dlogits, rows * V);
  need("crossEntropyBackward", "lse", lse, loff + rows);
  if (typeof dloss !== "number" || !Number.isFinite(dloss)) throw new RangeError(`webgpu: crossEntropyBackward: dloss must be a finite number, got ${dloss}`);
  runElementwise(eng, enc, "crossEntropyBackward", rows * V, [["v", "u32", V], ["toff", "u32", toff], ["loff", "u32", loff], ["dloss", "f32", dloss]],
    [["logits", logits, "r"], ["lse", lse, "r"], ["targets", targets, "r", "i32"], ["dlogits", dlogits, "w"]],
    `  let row = i / p.v;
  let t = ld_targets(p.toff + row);
  var d = 0.0;
  if (t >= 0) {
    d = p.dloss * exp(ld_logits(i) - ld_lse(p.loff + row));
    if (u32(t) == i % p.v) { d = d - p.dloss; }
  }
  st_dlogits(i, d);`);
}
