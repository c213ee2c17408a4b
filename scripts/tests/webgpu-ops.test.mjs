// The buffer-level ops of a training step on the GPU (web/gpu/ops.js) in
// headless Chromium with WebGPU (SwiftShader here, a GPU elsewhere), each
// against the Go CPU kernel it mirrors on the same random inputs: `go run
// ./scripts/tests/webgpuopsgen` writes the inputs and package kernels'
// outputs (products: float64 sums over the weights dequantized by package
// gguf). Shapes are odd (37×83, 301 weight rows, 4099 elements, HS 10),
// norms reach C = 2048 and a row of tiny values where eps matters, rope runs
// both layouts with pos0 > 0 and in place, cross-entropy has V = 50000
// (its backward also in place over the logits),
// ignored targets, offsets into targets and losses and dloss ≠ 1, every "+="
// op adds into nonzero values and every "=" op overwrites them, products
// take offsets, alpha ≠ 1 and accumulate, and the quantized weights (F16,
// Q8_0, Q4_K) are also uploaded under a binding cap that splits them into
// ≥ 3 row ranges (embed and both linears over the ranges). Every
// non-product case runs again with maxComputeWorkgroupsPerDimension forced
// down to 40, so the element-wise and row-wise ops take their 2-D grids.
//
// Bound: |gpu − go| ≤ 1e-5 · scale per element, scale = max |go| over the
// output (products: Σ|a·b|·|alpha| + |prior value| per element). Measured
// on SwiftShader: products ≤ 2.6e-7 (linearInto), rmsnorm 1.7e-7, softcap
// 1.3e-7, crossEntropyBackward 1.6e-7, crossEntropy 5.4e-8, the gated
// activations ≤ 1.1e-7; embed, rope, bias, residual, axpy, fill exact.
// Mutations caught: rmsnorm without eps (error 0.7), rope ignoring pos0 (1.95).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openGPUHarness } from "../lib/gpuharness.mjs";

const TOL = 1e-5;
let harness, page;

before(async () => {
  harness = await openGPUHarness({ modules: { E: "engine", O: "ops" }, gen: "./scripts/tests/webgpuopsgen", onConsole: true });
  page = harness.page;
});

after(async () => {
  await harness?.close();
});

// runCases runs the manifest's cases in the page (with the per-dimension
// workgroup limit forced to `limit` when given: non-product cases only) and
// returns each output's worst error relative to its scale.
async function runCases(limit) {
  return page.evaluate(async (limit) => {
    const manifest = await (await fetch("/data/manifest.json")).json();
    const load = async (f) => (await fetch(`/data/${f}`)).arrayBuffer();
    const root = await E.requestEngine();
    root.device.pushErrorScope("validation");
    const out = [];
    for (const c of manifest) {
      if (limit && c.product) continue;
      const eng = c.weight?.cap || limit ? new E.GPUEngine(root.adapter, root.device, { maxBindingBytes: c.weight?.cap }) : root;
      if (limit) eng.limits = { ...eng.limits, maxComputeWorkgroupsPerDimension: limit };
      const args = { ...c.args }, made = [];
      for (const [name, b] of Object.entries(c.bufs)) {
        if (b.alias) continue;
        const buf = eng.buffer(b.len, name);
        eng.write(buf, new Uint8Array(await load(b.file)));
        args[name] = buf;
        made.push(buf);
      }
      for (const [name, b] of Object.entries(c.bufs)) if (b.alias) args[name] = args[b.alias];
      let chunks = 0, h = null;
      if (c.weight) {
        const w = c.weight;
        h = eng.uploadWeight(w.type, w.rows, w.cols, new Uint8Array(await load(w.file)));
        chunks = eng.weightChunks(h);
        args[w.arg] = h;
      }
      let enc = eng.device.createCommandEncoder();
      O[c.op](eng, enc, args);
      for (const o of c.outs) {
        const got = await eng.read(args[o.arg], o.len, enc);
        enc = null;
        const ref = new Float32Array(await load(o.ref));
        const scales = o.scales ? new Float32Array(await load(o.scales)) : null;
        let worst = 0, at = -1;
        for (let i = 0; i < o.len; i++) {
          const s = Math.max(scales ? scales[i] : o.scale, 1e-30);
          const e = Math.abs(got[i] - ref[i]) / s;
          if (!(e <= worst)) [worst, at] = [Number.isNaN(e) ? Infinity : e, i];
        }
        out.push({ name: c.name, op: c.op, arg: o.arg, worst, at, got: got[at], ref: ref[at], chunks, cap: c.weight?.cap ?? 0 });
      }
      if (h !== null) eng.freeWeight(h);
      made.forEach((b) => b.destroy());
    }
    const err = await root.device.popErrorScope();
    root.destroy();
    return { out, validation: err ? err.message : null };
  }, limit ?? 0);
}

function check(res, what) {
  assert.equal(res.validation, null, `${what}: WebGPU validation error`);
  const worstByOp = new Map();
  for (const r of res.out) {
    const label = `${r.name} → ${r.arg}${r.cap ? ` (${r.chunks} row ranges)` : ""}`;
    assert.ok(r.worst <= TOL, `${what}: ${label}: error ${r.worst} of the scale at ${r.at} (gpu ${r.got}, go ${r.ref})`);
    if (r.cap) assert.ok(r.chunks >= 3, `${label}: the cap ${r.cap} should split the weight`);
    worstByOp.set(r.op, Math.max(worstByOp.get(r.op) ?? 0, r.worst));
  }
  for (const [op, w] of worstByOp) console.log(`${what}: ${op}: worst ${w.toExponential(2)} of the scale`);
  return worstByOp;
}

const ALL_OPS = ["linearInto", "linearBackwardInto", "matmulInto", "embed", "rmsnorm", "rmsnormBackward", "bias", "rope",
  "ropeBackward", "swiglu", "swigluBackward", "geglu", "gegluBackward", "residual", "axpy", "fill", "softcap",
  "softcapBackward", "crossEntropy", "crossEntropyBackward"];

test("every op against the Go kernels", { timeout: 600_000 }, async () => {
  const byOp = check(await runCases(0), "1-D grids");
  for (const op of ALL_OPS) assert.ok(byOp.has(op), `${op} was not checked`);
});

test("every element-wise and row-wise op on 2-D grids (workgroups per dimension capped at 40)", { timeout: 600_000 }, async () => {
  const byOp = check(await runCases(40), "2-D grids");
  for (const op of ALL_OPS.slice(3)) assert.ok(byOp.has(op), `${op} was not checked on a 2-D grid`);
});

test("bad arguments get a clear error", { timeout: 120_000 }, async () => {
  const errs = await page.evaluate(async () => {
    const eng = await E.requestEngine();
    const got = {};
    const enc = eng.device.createCommandEncoder();
    const catchIt = (name, fn) => {
      try {
        fn();
        got[name] = "no error";
      } catch (e) {
        got[name] = `${e.name}: ${e.message}`;
      }
    };
    const a = eng.buffer(10), b = eng.buffer(10);
    catchIt("small", () => O.residual(eng, enc, { out: a, a, b, n: 11 }));
    catchIt("rows", () => O.rmsnorm(eng, enc, { x: a, w: a, out: b, rstd: b, rows: 0, cols: 2, eps: 1e-5 }));
    catchIt("hs", () => O.rope(eng, enc, { x: a, out: a, cos: b, sin: b, B: 1, T: 1, H: 1, HS: 3, neox: false }));
    catchIt("notbuf", () => O.axpy(eng, enc, { y: new Float32Array(4), x: a, n: 4 }));
    catchIt("alias", () => O.matmulInto(eng, enc, { a, b, c: a, m: 2, k: 2, n: 2 }));
    catchIt("cap", () => O.softcap(eng, enc, { x: a, n: 4, cap: 0 }));
    catchIt("handle", () => O.linearInto(eng, enc, { w: 77, x: a, y: b, n: 1 }));
    eng.destroy();
    return got;
  });
  assert.match(errs.small, /RangeError: webgpu: residual: out holds 10 elements, needs 11/);
  assert.match(errs.rows, /RangeError: webgpu: rmsnorm: rows must be a positive integer, got 0/);
  assert.match(errs.hs, /RangeError: webgpu: rope: HS must be even, got 3/);
  assert.match(errs.notbuf, /TypeError: webgpu: axpy: y must be a GPUBuffer/);
  assert.match(errs.alias, /RangeError: webgpu: matmulInto: c must be a buffer other than a and b/);
  assert.match(errs.cap, /RangeError: webgpu: softcap: cap must be a positive number, got 0/);
  assert.match(errs.handle, /RangeError: webgpu: no weight with handle 77/);
});
