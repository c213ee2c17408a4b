// The WebGPU engine's kernels (web/gpu/engine.js) in real headless Chromium
// with WebGPU on (SwiftShader here, a GPU elsewhere): every product against
// a float64 CPU reference. The frozen weights are bytes from our Go encoders
// (go run ./scripts/tests/webgpugen) with their dequantization by package
// gguf (ggml's arithmetic), so the in-kernel dequantization is checked
// against ggml's; NF4 (QLoRA) rows are packed as wasm/gpu sends them and
// checked against package nf4's dequantization. Shapes are odd (37 rows, 7 activation rows, not multiples
// of the 16-wide tile); each weight is also uploaded to an engine whose
// storage-binding cap is forced below the weight's size, so the split into
// row ranges runs. Errors: float32 accumulation against float64, measured
// per element relative to Σ|a·b| (the bound of a float32 dot product),
// must stay under 1e-5.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openGPUHarness } from "../lib/gpuharness.mjs";

const TOL = 1e-5;
let harness, page;

before(async () => {
  harness = await openGPUHarness({ modules: { E: "engine" }, gen: "./scripts/tests/webgpugen" });
  page = harness.page;
});

after(async () => {
  await harness?.close();
});

test("WebGPU adapter in headless Chromium", { timeout: 120_000 }, async () => {
  const info = await page.evaluate(async () => {
    const eng = await E.requestEngine();
    const r = { info: eng.info, limits: eng.limits, maxBindingBytes: eng.maxBindingBytes };
    eng.destroy();
    return r;
  });
  console.log(`adapter: ${JSON.stringify(info.info)} limits: ${JSON.stringify(info.limits)}`);
  assert.ok(info.info.vendor || info.info.architecture, "the adapter names a vendor or an architecture");
  assert.ok(info.maxBindingBytes >= 128 << 20, `binding limit ${info.maxBindingBytes} below WebGPU's default`);
});

test("float32 matmul in the three training layouts", { timeout: 300_000 }, async () => {
  const res = await page.evaluate(async (tol) => {
    const eng = await E.requestEngine();
    const rnd = (len, seed) => {
      let s = seed >>> 0;
      return Float32Array.from({ length: len }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
    };
    const out = [];
    // m×k times k×n; A stored k×m when transA, B stored n×k when transB.
    for (const [m, k, n, transA, transB, name] of [
      [7, 45, 23, false, true, "x·Wᵀ"],
      [7, 23, 45, false, false, "dy·W"],
      [45, 7, 23, true, false, "xᵀ·dy"],
      [1, 1, 1, false, false, "1×1"],
      [33, 130, 17, true, true, "Aᵀ·Bᵀ"],
    ]) {
      const a = rnd(m * k, m * 31 + k), b = rnd(k * n, n * 17 + 5);
      const c = await eng.matmul(a, b, { m, k, n, transA, transB });
      let worst = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0, bound = 0;
          for (let q = 0; q < k; q++) {
            const av = transA ? a[q * m + i] : a[i * k + q];
            const bv = transB ? b[j * k + q] : b[q * n + j];
            s += av * bv;
            bound += Math.abs(av * bv);
          }
          worst = Math.max(worst, Math.abs(c[i * n + j] - s) / Math.max(bound, 1e-30));
        }
      }
      out.push({ name, m, k, n, worst, len: c.length });
    }
    eng.destroy();
    return out;
  }, TOL);
  for (const r of res) {
    console.log(`matmul ${r.name} ${r.m}×${r.k}·${r.k}×${r.n}: max error ${r.worst.toExponential(2)} of Σ|a·b|`);
    assert.equal(r.len, r.m * r.n);
    assert.ok(r.worst < TOL, `${r.name}: error ${r.worst} over ${TOL}`);
  }
});

test("resident weights: x·Wᵀ and dy·W dequantized in the kernel, whole and split", { timeout: 600_000 }, async () => {
  const res = await page.evaluate(async () => {
    const manifest = await (await fetch("/data/manifest.json")).json();
    const base = await E.requestEngine();
    const rnd = (len, seed) => {
      let s = seed >>> 0;
      return Float32Array.from({ length: len }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
    };
    const out = [];
    for (const e of manifest) {
      const bytes = new Uint8Array(await (await fetch(`/data/${e.bytes}`)).arrayBuffer());
      const W = new Float32Array(await (await fetch(`/data/${e.floats}`)).arrayBuffer());
      const { rows, cols } = e;
      for (const n of [7, 1]) {
        const x = rnd(n * cols, cols + n), dy = rnd(n * rows, rows + 3 * n);
        // References in float64 from ggml's dequantization.
        const worst = { y: 0, dx: 0 };
        const yRef = new Float64Array(n * rows), yB = new Float64Array(n * rows);
        const dxRef = new Float64Array(n * cols), dxB = new Float64Array(n * cols);
        for (let i = 0; i < n; i++) {
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < cols; c++) {
              const w = W[r * cols + c];
              yRef[i * rows + r] += x[i * cols + c] * w;
              yB[i * rows + r] += Math.abs(x[i * cols + c] * w);
              dxRef[i * cols + c] += dy[i * rows + r] * w;
              dxB[i * cols + c] += Math.abs(dy[i * rows + r] * w);
            }
          }
        }
        // The whole weight in one binding; for one activation row also under a cap
        // (a third of the weight's bytes, above the activations' own size) that
        // splits it into at least three row ranges.
        const actBytes = 4 * n * Math.max(rows, cols);
        const caps = n === 1 ? [0, Math.max(actBytes, Math.floor(bytes.length / 3))] : [0];
        for (const cap of caps) {
          const eng = cap ? new E.GPUEngine(base.adapter, base.device, { maxBindingBytes: cap }) : base;
          const opts = e.type === "NF4" ? { blockSize: e.blockSize, code: Float32Array.from(e.code) } : {};
          const h = eng.uploadWeight(e.type, rows, cols, bytes, opts);
          const chunks = eng.weightChunks(h);
          const y = await eng.linear(h, x, n);
          const dx = await eng.linearBackward(h, dy, n);
          eng.freeWeight(h);
          let ey = 0, edx = 0;
          for (let k = 0; k < y.length; k++) ey = Math.max(ey, Math.abs(y[k] - yRef[k]) / Math.max(yB[k], 1e-30));
          for (let k = 0; k < dx.length; k++) edx = Math.max(edx, Math.abs(dx[k] - dxRef[k]) / Math.max(dxB[k], 1e-30));
          out.push({ type: e.type, rows, cols, n, chunks, cap, ey, edx, ylen: y.length, dxlen: dx.length });
        }
      }
    }
    base.destroy();
    return out;
  });
  const types = new Set();
  assert.equal(res.filter((r) => r.cap).length, 12, "every type was also checked split");
  for (const r of res) {
    types.add(r.type);
    const what = `${r.type} ${r.rows}×${r.cols} n=${r.n} in ${r.chunks} range(s)`;
    console.log(`${what}: x·Wᵀ ${r.ey.toExponential(2)}, dy·W ${r.edx.toExponential(2)} of Σ|a·b|`);
    assert.equal(r.ylen, r.n * r.rows, what);
    assert.equal(r.dxlen, r.n * r.cols, what);
    assert.ok(r.ey < TOL, `${what}: x·Wᵀ error ${r.ey}`);
    assert.ok(r.edx < TOL, `${what}: dy·W error ${r.edx}`);
    if (r.cap) assert.ok(r.chunks >= 3, `${what}: the cap ${r.cap} should have split the weight`);
    else assert.equal(r.chunks, 1, what);
  }
  for (const t of ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "NF4"]) {
    assert.ok(types.has(t), `${t} was not checked`);
  }
});

test("bad input gets a clear error", { timeout: 120_000 }, async () => {
  const errs = await page.evaluate(async () => {
    const eng = await E.requestEngine();
    const small = new E.GPUEngine(eng.adapter, eng.device, { maxBindingBytes: 256 });
    const got = {};
    const catchIt = async (name, fn) => {
      try {
        await fn();
        got[name] = "no error";
      } catch (e) {
        got[name] = `${e.name}: ${e.message}`;
      }
    };
    await catchIt("length", () => eng.uploadWeight("Q8_0", 2, 64, new Uint8Array(100)));
    await catchIt("cols", () => eng.uploadWeight("Q4_K", 2, 100, new Uint8Array(288)));
    await catchIt("type", () => eng.uploadWeight("Q2_K", 1, 256, new Uint8Array(84)));
    await catchIt("row", () => small.uploadWeight("F32", 2, 100, new Uint8Array(800)));
    const h = eng.uploadWeight("F32", 2, 3, new Uint8Array(24));
    await catchIt("x", () => eng.linear(h, new Float32Array(5), 2));
    await catchIt("handle", () => eng.linear(999, new Float32Array(3), 1));
    await catchIt("matmul", () => eng.matmul(new Float32Array(3), new Float32Array(3), { m: 2, k: 2, n: 1 }));
    eng.destroy();
    return got;
  });
  assert.match(errs.length, /RangeError: webgpu: Q8_0 weight 2×64 needs 136 bytes, got 100/);
  assert.match(errs.cols, /RangeError: .*100 columns, not a multiple of 256/);
  assert.match(errs.type, /TypeError: webgpu: unsupported weight type Q2_K/);
  assert.match(errs.row, /GPULimitError: webgpu: F32 weight row of 400 bytes exceeds the storage binding limit of 256/);
  assert.match(errs.x, /RangeError: webgpu: x has 5 values, want 2×3/);
  assert.match(errs.handle, /RangeError: webgpu: no weight with handle 999/);
  assert.match(errs.matmul, /RangeError: webgpu: A must be a Float32Array of 2×2/);
});
