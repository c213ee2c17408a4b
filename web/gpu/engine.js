// engine.js — webtune's WebGPU engine: it owns the GPUDevice and the WGSL
// compute kernels of the products a LoRA/QLoRA training step needs, and
// keeps frozen weights resident on the GPU in their stored GGUF type.
//
// Why a JS module and not WGSL in Go strings driven through syscall/js:
// WebGPU is an asynchronous, object-heavy JS API (promises for the device
// and every read-back, GPUBuffer/GPUBindGroup objects). Driving it call by
// call through syscall/js would cross the Go↔JS boundary for every object
// and method; here each product is one call carrying typed arrays, the
// module can be tested in Chromium on its own (scripts/tests/webgpu.test.mjs)
// and benchmarked on any browser with a GPU (scripts/bench/webgpu.mjs), and
// the Go engine in the training worker drives it with a handful of calls
// per product (upload a weight once per model load; then x·Wᵀ, dy·W, xᵀ·dy).
// Go wasm can wait on the returned promises from a goroutine (the runtime
// yields to the worker's event loop), so the Go side stays synchronous.
//
// The products (row-major, float32 accumulation):
//   linear(w, x, n)        y  = x·Wᵀ   x [n×cols], W [rows×cols] → y [n×rows]
//   linearBackward(w, dy, n) dx = dy·W  dy [n×rows]              → dx [n×cols]
//   matmul(a, b, {m,k,n,transA,transB})  C = op(A)·op(B), float32 operands
//     uploaded per call: covers xᵀ·dy (weight and LoRA gradients) and the
//     LoRA products.
// W is uploaded once with uploadWeight in any of F32, F16, BF16, Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K or NF4 (QLoRA); the quantized types are
// dequantized inside the kernel with ggml's arithmetic (the layouts of
// ggml-common.h, the same as package gguf's decoders). A weight larger than
// the storage-binding limit is split into row ranges, each its own buffer:
// x·Wᵀ writes each range's output columns, dy·W sums the ranges' products.

/** GGUF tensor types the engine holds, with their block size and bytes per block. */
export const TYPES = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q4_1: { id: 3, block: 32, bytes: 20 },
  Q5_0: { id: 6, block: 32, bytes: 22 },
  Q5_1: { id: 7, block: 32, bytes: 24 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q5_K: { id: 13, block: 256, bytes: 176 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  BF16: { id: 30, block: 1, bytes: 2 },
  // NF4 (bitsandbytes' QLoRA 4-bit): not a GGUF type; rows as wasm/gpu.PackNF4Rows packs them
  // (per row: the float32 scale of each block, then the codes two per byte, high nibble first),
  // with uploadWeight's opts {blockSize, code} (the 16 code values).
  NF4: { id: -1, block: 0, bytes: 0 },
};

// NF4_PREFIX is the bytes before the rows in each NF4 chunk: the 16 code values, the block size and the columns.
const NF4_PREFIX = 80;

/** TILE is the side of the product kernels' square tile of C per workgroup. */
export const TILE = 16;

// bindCacheSize bounds the kernels' kept uniform buffers and bind groups
// (a 30-layer model's step uses about 1,600).
const bindCacheSize = 8192;

/** f32bits returns the bits of a float32 as a u32 word (for f32 fields of a kernel's params). */
export function f32bits(x) {
  f32v[0] = x;
  return u32v[0];
}
const f32v = new Float32Array(1);
const u32v = new Uint32Array(f32v.buffer);

/** GPUUnavailableError: no WebGPU, no adapter, or a device that could not be created. */
export class GPUUnavailableError extends Error {
  constructor(msg) {
    super(`webgpu: ${msg}`);
    this.name = "GPUUnavailableError";
  }
}

/** GPULimitError: a matrix does not fit the device's buffer limits. */
export class GPULimitError extends Error {
  constructor(msg) {
    super(`webgpu: ${msg}`);
    this.name = "GPULimitError";
  }
}

// WGSL helpers reading the weight buffer (array<u32>) as bytes.
const byteHelpers = /* wgsl */ `
fn wbyte(o: u32) -> u32 { return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn wsbyte(o: u32) -> i32 { return (i32(wbyte(o)) << 24u) >> 24u; }
fn wu16(o: u32) -> u32 { return wbyte(o) | (wbyte(o + 1u) << 8u); }
fn wu32(o: u32) -> u32 { return wu16(o) | (wu16(o + 2u) << 16u); }
// f16 bits to f32, exactly (subnormals included; no reliance on unpack2x16float's flushing rules).
fn h2f(h: u32) -> f32 {
  let s = (h >> 15u) << 31u;
  let e = (h >> 10u) & 31u;
  let m = h & 1023u;
  if (e == 0u) {
    let v = f32(m) * 5.9604644775390625e-8; // m·2^-24
    return select(v, -v, s != 0u);
  }
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn wf16(o: u32) -> f32 { return h2f(wu16(o)); }
`;

// deq[type] is the WGSL body of fn deq(r, c) -> f32: element (r, c) of W,
// with o the byte offset of the block holding it and e its index in the
// block. The arithmetic mirrors ggml's dequantize_row_* (package gguf).
const deq = {
  F32: `return bitcast<f32>(w[(r * p.rb) / 4u + c]);`,
  F16: `return wf16(r * p.rb + 2u * c);`,
  BF16: `return bitcast<f32>(wu16(r * p.rb + 2u * c) << 16u);`,
  Q8_0: `let o = r * p.rb + (c / 32u) * 34u; let e = c % 32u;
  return f32(wsbyte(o + 2u + e)) * wf16(o);`,
  Q4_0: `let o = r * p.rb + (c / 32u) * 18u; let e = c % 32u;
  let b = wbyte(o + 2u + (e % 16u));
  let q = select(b & 15u, b >> 4u, e >= 16u);
  return f32(i32(q) - 8) * wf16(o);`,
  Q4_1: `let o = r * p.rb + (c / 32u) * 20u; let e = c % 32u;
  let b = wbyte(o + 4u + (e % 16u));
  let q = select(b & 15u, b >> 4u, e >= 16u);
  return f32(q) * wf16(o) + wf16(o + 2u);`,
  Q5_0: `let o = r * p.rb + (c / 32u) * 22u; let e = c % 32u;
  let b = wbyte(o + 6u + (e % 16u));
  let q = select(b & 15u, b >> 4u, e >= 16u) | (((wu32(o + 2u) >> e) & 1u) << 4u);
  return f32(i32(q) - 16) * wf16(o);`,
  Q5_1: `let o = r * p.rb + (c / 32u) * 24u; let e = c % 32u;
  let b = wbyte(o + 8u + (e % 16u));
  let q = select(b & 15u, b >> 4u, e >= 16u) | (((wu32(o + 4u) >> e) & 1u) << 4u);
  return f32(q) * wf16(o) + wf16(o + 2u);`,
  Q4_K: `let o = r * p.rb + (c / 256u) * 144u; let e = c % 256u;
  let g = e / 64u; let hi = (e % 64u) >= 32u; let l = e % 32u;
  let sm = scaleMinK4(o + 4u, 2u * g + select(0u, 1u, hi));
  let b = wbyte(o + 16u + 32u * g + l);
  let q = select(b & 15u, b >> 4u, hi);
  return wf16(o) * f32(sm.x) * f32(q) - wf16(o + 2u) * f32(sm.y);`,
  Q5_K: `let o = r * p.rb + (c / 256u) * 176u; let e = c % 256u;
  let g = e / 64u; let hi = (e % 64u) >= 32u; let l = e % 32u;
  let sub = 2u * g + select(0u, 1u, hi);
  let sm = scaleMinK4(o + 4u, sub);
  let b = wbyte(o + 48u + 32u * g + l);
  let q = select(b & 15u, b >> 4u, hi) | (((wbyte(o + 16u + l) >> sub) & 1u) << 4u);
  return wf16(o) * f32(sm.x) * f32(q) - wf16(o + 2u) * f32(sm.y);`,
  NF4: `let bs = w[16]; let cols = w[17]; let o = ${NF4_PREFIX}u + r * p.rb;
  let sc = bitcast<f32>(w[(o + 4u * (c / bs)) / 4u]);
  let b = wbyte(o + 4u * (cols / bs) + c / 2u);
  let q = select(b & 15u, b >> 4u, (c & 1u) == 0u);
  return bitcast<f32>(w[q]) * sc;`,
  Q6_K: `let o = r * p.rb + (c / 256u) * 210u; let e = c % 256u;
  let h = e / 128u; let k = (e % 128u) / 32u; let l = e % 32u;
  let b = wbyte(o + 64u * h + l + 32u * (k & 1u));
  let lo = select(b & 15u, b >> 4u, k >= 2u);
  let q = i32(lo | (((wbyte(o + 128u + 32u * h + l) >> (2u * k)) & 3u) << 4u)) - 32;
  let sc = wsbyte(o + 192u + 8u * h + l / 16u + 2u * k);
  return wf16(o + 208u) * f32(sc) * f32(q);`,
};

// scaleMinK4 unpacks the 6-bit scale and min of K-quant sub-block j from the 12 bytes at o.
const scaleMinK4 = /* wgsl */ `
fn scaleMinK4(o: u32, j: u32) -> vec2u {
  if (j < 4u) { return vec2u(wbyte(o + j) & 63u, wbyte(o + j + 4u) & 63u); }
  let s = (wbyte(o + j + 4u) & 15u) | ((wbyte(o + j - 4u) >> 6u) << 4u);
  let m = (wbyte(o + j + 4u) >> 4u) | ((wbyte(o + j) >> 6u) << 4u);
  return vec2u(s, m);
}
`;

// The tiled product C[i·ldc + coff + j] (= or +=) alpha · Σ_q A[aoff + i·sai + q·sap] · B(q, j)
// for i < M, j < N, q < K; B(q, j) is loadB (strided float32, or an element
// of the resident weight W dequantized in place). alpha is 1 except for the
// scaled LoRA products of ops.js (matmulInto); multiplying by 1 is exact.
function kernel(loadB, extra = "") {
  return /* wgsl */ `
struct Params { M: u32, N: u32, K: u32, sai: u32, sap: u32, sbq: u32, sbj: u32, ldc: u32, coff: u32, acc: u32, rb: u32, aoff: u32, alpha: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
${extra}
fn loadB(q: u32, j: u32) -> f32 { ${loadB} }
var<workgroup> As: array<array<f32, ${TILE}>, ${TILE}>;
var<workgroup> Bs: array<array<f32, ${TILE}>, ${TILE}>;
@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = wg.y * ${TILE}u + l.y;
  let j = wg.x * ${TILE}u + l.x;
  var s = 0.0;
  for (var q0 = 0u; q0 < p.K; q0 += ${TILE}u) {
    let qa = q0 + l.x;
    var av = 0.0;
    if (i < p.M && qa < p.K) { av = a[p.aoff + i * p.sai + qa * p.sap]; }
    As[l.y][l.x] = av;
    let qb = q0 + l.y;
    var bv = 0.0;
    if (qb < p.K && j < p.N) { bv = loadB(qb, j); }
    Bs[l.y][l.x] = bv;
    workgroupBarrier();
    for (var t = 0u; t < ${TILE}u; t++) { s += As[l.y][t] * Bs[t][l.x]; }
    workgroupBarrier();
  }
  if (i < p.M && j < p.N) {
    let o = i * p.ldc + p.coff + j;
    let v = p.alpha * s;
    if (p.acc != 0u) { c[o] += v; } else { c[o] = v; }
  }
}`;
}

/** weightKernel is the WGSL of x·Wᵀ (transposed) or dy·W for a resident weight of the given type (for ops.js). */
export function weightKernel(type, transposed) {
  // x·Wᵀ: B(q, j) = W[j, q]; dy·W: B(q, j) = W[q, j].
  const call = transposed ? "deq(j, q)" : "deq(q, j)";
  const extra = `${byteHelpers}${type.endsWith("_K") && type !== "Q6_K" ? scaleMinK4 : ""}
fn deq(r: u32, c: u32) -> f32 { ${deq[type]} }`;
  return kernel(`return ${call};`, extra);
}

/** floatKernel is the WGSL of a product of two float32 buffers with B strided by sbq, sbj (for ops.js). */
export const floatKernel = kernel(`return bitcast<f32>(w[q * p.sbq + j * p.sbj]);`);

/**
 * requestEngine opens the WebGPU device. Options: gpu (defaults to
 * navigator.gpu), powerPreference, maxBindingBytes (cap the storage binding
 * size below the adapter's: the tests force a small one to exercise the
 * splitting). Throws GPUUnavailableError when there is no WebGPU adapter.
 */
export async function requestEngine(opts = {}) {
  const gpu = opts.gpu ?? globalThis.navigator?.gpu;
  if (!gpu) throw new GPUUnavailableError("this browser exposes no WebGPU (navigator.gpu is missing)");
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? "high-performance" });
  if (!adapter) throw new GPUUnavailableError("no WebGPU adapter (requestAdapter returned null)");
  const al = adapter.limits;
  // Ask for the adapter's full buffer limits: the defaults (128/256 MiB) split more than needed.
  let device;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
        maxBufferSize: al.maxBufferSize,
      },
    });
  } catch (e) {
    throw new GPUUnavailableError(`requestDevice failed: ${e.message}`);
  }
  return new GPUEngine(adapter, device, opts);
}

/** adapterInfo gives the plain fields of an adapter's info (vendor, architecture, device, description) and whether it is a software fallback. */
export function adapterInfo(adapter) {
  const i = adapter.info ?? {};
  const info = {
    vendor: i.vendor ?? "",
    architecture: i.architecture ?? "",
    device: i.device ?? "",
    description: i.description ?? "",
  };
  // fallback: a software rasterizer on the CPU (the browser's own flag, or
  // SwiftShader/llvmpipe/lavapipe by name), slower than our WebAssembly engine
  info.fallback = Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter) ||
    /swiftshader|llvmpipe|lavapipe|software/i.test(`${info.architecture} ${info.device} ${info.description}`);
  return info;
}

/** GPUEngine runs the products on one GPUDevice. */
export class GPUEngine {
  constructor(adapter, device, opts = {}) {
    this.adapter = adapter;
    this.device = device;
    this.info = adapterInfo(adapter);
    const dl = device.limits;
    this.limits = {
      maxStorageBufferBindingSize: dl.maxStorageBufferBindingSize,
      maxBufferSize: dl.maxBufferSize,
      maxComputeWorkgroupsPerDimension: dl.maxComputeWorkgroupsPerDimension,
    };
    // A binding of one buffer is at most min(binding limit, buffer limit), rounded down to 4 bytes.
    let cap = Math.min(dl.maxStorageBufferBindingSize, dl.maxBufferSize);
    if (opts.maxBindingBytes) cap = Math.min(cap, opts.maxBindingBytes);
    this.maxBindingBytes = cap - (cap % 4);
    this.pipelines = new Map();
    this.bindCache = new Map(); // kernel's uniform buffers and bind groups, least recently used first
    this.bufferIDs = new WeakMap();
    this.nextBufferID = 1;
    this.weights = new Map();
    this.nextWeight = 1;
    this.lost = null;
    device.lost.then((info) => {
      this.lost = info;
    });
    this.resetStats();
  }

  /** resetStats zeroes the counters of dispatches and bytes crossing to and from the GPU. */
  resetStats() {
    this.stats = { dispatches: 0, bytesUploaded: 0, bytesReadBack: 0, weightBytes: 0, bindGroupsReused: 0 };
  }

  pipeline(key, code) {
    let pl = this.pipelines.get(key);
    if (!pl) {
      const module = this.device.createShaderModule({ code, label: key });
      pl = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" }, label: key });
      this.pipelines.set(key, pl);
    }
    return pl;
  }

  checkAlive() {
    if (this.lost) throw new GPUUnavailableError(`the GPU device was lost: ${this.lost.message || this.lost.reason}`);
  }

  // upload copies a typed array into a new storage buffer (padded to 4 bytes).
  upload(view, label) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    if (size > this.maxBindingBytes) {
      throw new GPULimitError(`${label}: ${bytes.byteLength} bytes exceed the storage binding limit of ${this.maxBindingBytes}`);
    }
    const buf = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true, label });
    new Uint8Array(buf.getMappedRange()).set(bytes);
    buf.unmap();
    this.stats.bytesUploaded += bytes.byteLength;
    return buf;
  }

  output(floats, label) {
    const size = floats * 4;
    if (size > this.maxBindingBytes) {
      throw new GPULimitError(`${label}: ${size} bytes exceed the storage binding limit of ${this.maxBindingBytes}`);
    }
    return this.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, label });
  }

  /**
   * uploadWeight keeps W [rows × cols] of the given GGUF type (a key of
   * TYPES) on the GPU, split into row ranges that each fit one storage
   * binding; it returns a handle for linear/linearBackward. Upload once per
   * model load. NF4 takes opts {blockSize, code}.
   */
  uploadWeight(type, rows, cols, data, opts = {}) {
    this.checkAlive();
    const t = TYPES[type];
    if (!t) throw new TypeError(`webgpu: unsupported weight type ${type}`);
    if (!(rows > 0 && cols > 0 && Number.isInteger(rows) && Number.isInteger(cols))) {
      throw new RangeError(`webgpu: bad weight shape ${rows}×${cols}`);
    }
    let rb, prefix = null;
    if (type === "NF4") {
      const bs = opts.blockSize;
      if (!(Number.isInteger(bs) && bs >= 2 && bs % 2 === 0 && cols % bs === 0)) {
        throw new RangeError(`webgpu: NF4 weight has ${cols} columns, not a multiple of its block size ${bs}`);
      }
      if (!(opts.code instanceof Float32Array) || opts.code.length !== 16) throw new TypeError("webgpu: NF4 needs its 16 code values (opts.code)");
      rb = 4 * (cols / bs) + cols / 2;
      prefix = new Uint8Array(NF4_PREFIX);
      const pv = new DataView(prefix.buffer);
      opts.code.forEach((v, i) => pv.setFloat32(4 * i, v, true));
      pv.setUint32(64, bs, true);
      pv.setUint32(68, cols, true);
    } else {
      if (cols % t.block !== 0) throw new RangeError(`webgpu: ${type} weight has ${cols} columns, not a multiple of ${t.block}`);
      rb = (cols / t.block) * t.bytes;
    }
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength !== rows * rb) {
      throw new RangeError(`webgpu: ${type} weight ${rows}×${cols} needs ${rows * rb} bytes, got ${bytes.byteLength}`);
    }
    const pre = prefix ? prefix.length : 0;
    if (pre + rb > this.maxBindingBytes) {
      throw new GPULimitError(`${type} weight row of ${rb} bytes exceeds the storage binding limit of ${this.maxBindingBytes}`);
    }
    const perChunk = Math.floor((this.maxBindingBytes - pre) / rb);
    const chunks = [];
    for (let r0 = 0; r0 < rows; r0 += perChunk) {
      const r1 = Math.min(rows, r0 + perChunk);
      let part = bytes.subarray(r0 * rb, r1 * rb);
      if (prefix) {
        const joined = new Uint8Array(pre + part.length);
        joined.set(prefix);
        joined.set(part, pre);
        part = joined;
      }
      chunks.push({ r0, r1, buf: this.upload(part, `${type} rows ${r0}..${r1}`) });
    }
    this.stats.weightBytes += bytes.byteLength;
    const h = this.nextWeight++;
    this.weights.set(h, { type, rows, cols, rb, chunks });
    return h;
  }

  /** weightChunks is how many row ranges (buffers) a resident weight was split into. */
  weightChunks(h) {
    return this.weight(h).chunks.length;
  }

  /** freeWeight releases a weight's GPU buffers. */
  freeWeight(h) {
    const wt = this.weights.get(h);
    if (!wt) return;
    for (const c of wt.chunks) c.buf.destroy();
    this.weights.delete(h);
  }

  weight(h) {
    const wt = this.weights.get(h);
    if (!wt) throw new RangeError(`webgpu: no weight with handle ${h}`);
    return wt;
  }

  // dispatch records one tiled product into enc; params are the template's
  // first 12 words (alpha is 1 here).
  dispatch(enc, pl, params, a, w, c) {
    const [M, N] = params;
    const gx = Math.ceil(N / TILE);
    const gy = Math.ceil(M / TILE);
    const lim = this.limits.maxComputeWorkgroupsPerDimension;
    if (gx > lim || gy > lim) throw new GPULimitError(`product ${M}×${N} needs ${gx}×${gy} workgroups, over the limit ${lim}`);
    const u = this.device.createBuffer({ size: 64, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(u, 0, new Uint32Array([...params, f32bits(1)]));
    const bg = this.device.createBindGroup({
      layout: pl.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: u } },
        { binding: 1, resource: { buffer: a } },
        { binding: 2, resource: { buffer: w } },
        { binding: 3, resource: { buffer: c } },
      ],
    });
    const pass = enc.beginComputePass();
    pass.setPipeline(pl);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(gx, gy);
    pass.end();
    this.stats.dispatches++;
    return u;
  }

  // finish submits enc after copying c (floats) to a staging buffer, and reads it back.
  async finish(enc, c, floats, temps) {
    const staging = this.device.createBuffer({ size: Math.max(4, floats * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(c, 0, staging, 0, floats * 4);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
      this.checkAlive();
      const out = new Float32Array(staging.getMappedRange().slice(0, floats * 4));
      this.stats.bytesReadBack += floats * 4;
      return out;
    } finally {
      staging.destroy();
      c.destroy();
      for (const t of temps) t.destroy();
    }
  }

  checkActs(x, n, width, what) {
    if (!(x instanceof Float32Array)) throw new TypeError(`webgpu: ${what} must be a Float32Array`);
    if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`webgpu: bad row count ${n}`);
    if (x.length !== n * width) throw new RangeError(`webgpu: ${what} has ${x.length} values, want ${n}×${width}`);
  }

  /** linear returns y = x·Wᵀ [n × rows] for x [n × cols] and the resident weight w. */
  async linear(h, x, n) {
    this.checkAlive();
    const wt = this.weight(h);
    this.checkActs(x, n, wt.cols, "x");
    const pl = this.pipeline(`${wt.type}/xwt`, weightKernel(wt.type, true));
    const xa = this.upload(x, "x");
    const y = this.output(n * wt.rows, "y");
    const enc = this.device.createCommandEncoder();
    const temps = [xa];
    for (const ch of wt.chunks) {
      // Output columns r0..r1 of y from rows r0..r1 of W (the chunk's row 0 is W's row r0).
      const params = [n, ch.r1 - ch.r0, wt.cols, wt.cols, 1, 0, 0, wt.rows, ch.r0, 0, wt.rb, 0];
      temps.push(this.dispatch(enc, pl, params, xa, ch.buf, y));
    }
    return this.finish(enc, y, n * wt.rows, temps);
  }

  /** linearBackward returns dx = dy·W [n × cols] for dy [n × rows] and the resident weight w. */
  async linearBackward(h, dy, n) {
    this.checkAlive();
    const wt = this.weight(h);
    this.checkActs(dy, n, wt.rows, "dy");
    const pl = this.pipeline(`${wt.type}/dyw`, weightKernel(wt.type, false));
    const da = this.upload(dy, "dy");
    const dx = this.output(n * wt.cols, "dx");
    const enc = this.device.createCommandEncoder();
    const temps = [da];
    wt.chunks.forEach((ch, idx) => {
      // dx (+)= dy[:, r0:r1]·W[r0:r1, :]: A is dy read from column r0 (aoff), B the chunk.
      const params = [n, wt.cols, ch.r1 - ch.r0, wt.rows, 1, 0, 0, wt.cols, 0, idx > 0 ? 1 : 0, wt.rb, ch.r0];
      temps.push(this.dispatch(enc, pl, params, da, ch.buf, dx));
    });
    return this.finish(enc, dx, n * wt.cols, temps);
  }

  /**
   * matmul returns C = op(A)·op(B) [m × n] for float32 A and B uploaded
   * per call: op(A) is [m × k] (A stored [k × m] when transA), op(B) is
   * [k × n] (B stored [n × k] when transB). The three training layouts:
   * x·Wᵀ (transB), dy·W, and xᵀ·dy (transA) for weight and LoRA gradients.
   */
  async matmul(a, b, { m, k, n, transA = false, transB = false }) {
    this.checkAlive();
    for (const [v, name] of [[m, "m"], [k, "k"], [n, "n"]]) {
      if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`webgpu: bad matmul size ${name}=${v}`);
    }
    if (!(a instanceof Float32Array) || a.length !== m * k) throw new RangeError(`webgpu: A must be a Float32Array of ${m}×${k}`);
    if (!(b instanceof Float32Array) || b.length !== k * n) throw new RangeError(`webgpu: B must be a Float32Array of ${k}×${n}`);
    const pl = this.pipeline("f32/matmul", floatKernel);
    const aa = this.upload(a, "A");
    const bb = this.upload(b, "B");
    const c = this.output(m * n, "C");
    const enc = this.device.createCommandEncoder();
    const [sai, sap] = transA ? [1, m] : [k, 1];
    const [sbq, sbj] = transB ? [1, k] : [n, 1];
    const u = this.dispatch(enc, pl, [m, n, k, sai, sap, sbq, sbj, n, 0, 0, 0, 0], aa, bb, c);
    return this.finish(enc, c, m * n, [aa, bb, u]);
  }

  // ---- Buffer-level plumbing for a whole training step on the GPU ----
  // Activations stay in GPUBuffers between kernels: a step records many
  // dispatches into one GPUCommandEncoder and reads back only what the CPU
  // needs. Ops (web/gpu/ops.js, web/gpu/attention.js) are functions
  // (eng, enc, {...}) that record dispatches with eng.kernel.

  /** buffer returns a zeroed storage buffer of n 4-byte elements (f32, u32 or i32), usable for copies both ways. */
  buffer(n, label = "buffer") {
    const size = Math.max(4, n * 4);
    if (size > this.maxBindingBytes) {
      throw new GPULimitError(`${label}: ${size} bytes exceed the storage binding limit of ${this.maxBindingBytes}`);
    }
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label });
  }

  /** write copies a typed array into buf at byte offset off (queue order: before later submits); counted as uploaded. */
  write(buf, view, off = 0) {
    this.device.queue.writeBuffer(buf, off, view.buffer, view.byteOffset, view.byteLength);
    this.stats.bytesUploaded += view.byteLength;
  }

  /**
   * read submits enc (when given) after copying n floats of buf from element
   * offset off to a staging buffer, and returns them as a Float32Array.
   */
  async read(buf, n, enc = null, off = 0) {
    this.checkAlive();
    const e = enc ?? this.device.createCommandEncoder();
    const staging = this.device.createBuffer({ size: Math.max(4, n * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    e.copyBufferToBuffer(buf, off * 4, staging, 0, n * 4);
    this.submit(e);
    try {
      await staging.mapAsync(GPUMapMode.READ);
      this.checkAlive();
      this.stats.bytesReadBack += n * 4;
      return new Float32Array(staging.getMappedRange().slice(0, n * 4));
    } finally {
      staging.destroy();
    }
  }

  /**
   * kernel records one dispatch of the WGSL compute shader `code` (entry
   * point main; compiled once per key) into enc. params is the shader's
   * uniform struct at @binding(0) as 4-byte words (a Uint32Array; write an
   * f32 field with f32bits); buffers bind at 1, 2, … in order; groups is
   * [x, y?, z?] workgroups.
   *
   * A training step records the same ~50 dispatches per layer with the same
   * params and buffers every step, so the uniform buffer and bind group of
   * each (shader, params, buffers) are kept and reused (at most
   * bindCacheSize, least recently used dropped; a dropped uniform is
   * destroyed once the GPU is done with what was submitted): recording a
   * step then creates no GPU objects.
   */
  kernel(enc, key, code, params, buffers, groups) {
    const pl = this.pipeline(key, code);
    const lim = this.limits.maxComputeWorkgroupsPerDimension;
    const [gx, gy = 1, gz = 1] = groups;
    if (gx > lim || gy > lim || gz > lim) throw new GPULimitError(`${key}: ${gx}×${gy}×${gz} workgroups, over the limit ${lim}`);
    const words = params instanceof Uint32Array ? params : new Uint32Array(params);
    const cacheKey = `${key}|${words.join(",")}|${buffers.map((b) => this.bufferID(b)).join(",")}`;
    let bound = this.bindCache.get(cacheKey);
    if (bound) {
      this.bindCache.delete(cacheKey); // most recently used last
      this.stats.bindGroupsReused++;
    } else {
      const u = this.device.createBuffer({ size: Math.max(16, Math.ceil(words.byteLength / 16) * 16), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(u, 0, words);
      const entries = [{ binding: 0, resource: { buffer: u } }];
      buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b } }));
      bound = { u, bg: this.device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries }) };
      if (this.bindCache.size >= bindCacheSize) {
        const [oldest, old] = this.bindCache.entries().next().value;
        this.bindCache.delete(oldest);
        (this.pendingUniforms ??= []).push(old.u);
      }
    }
    this.bindCache.set(cacheKey, bound);
    const pass = enc.beginComputePass();
    pass.setPipeline(pl);
    pass.setBindGroup(0, bound.bg);
    pass.dispatchWorkgroups(gx, gy, gz);
    pass.end();
    this.stats.dispatches++;
  }

  // bufferID numbers GPUBuffers for the bind-group cache's keys (a buffer
  // made later never takes a destroyed one's number).
  bufferID(b) {
    let id = this.bufferIDs.get(b);
    if (id === undefined) {
      id = this.nextBufferID++;
      this.bufferIDs.set(b, id);
    }
    return id;
  }

  /** submit submits enc and frees the uniforms dropped from the cache so far once the GPU is done with them. */
  submit(enc) {
    this.device.queue.submit([enc.finish()]);
    this.releaseUniforms();
  }

  releaseUniforms() {
    const us = this.pendingUniforms ?? [];
    this.pendingUniforms = [];
    if (us.length) this.device.queue.onSubmittedWorkDone().then(() => us.forEach((u) => u.destroy()));
  }

  /** destroy releases every buffer and the device. */
  destroy() {
    for (const h of [...this.weights.keys()]) this.freeWeight(h);
    this.device.destroy();
  }
}
