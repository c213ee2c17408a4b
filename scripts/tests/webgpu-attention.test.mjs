// web/gpu/attention.js in real headless Chromium with WebGPU (SwiftShader
// here, a GPU elsewhere) against package kernels' AttentionForward and
// AttentionBackward on the same random inputs (go run
// ./scripts/tests/webgpuattngen: float32, the default Go engine). Cases: B=2,
// odd T (37, 21, 70: no multiple of the 16-wide tiles; and T=1), MHA and GQA
// (3/3, 6/2, 4/1, 14/2, 9/3), no window, a window of 5 < T and one over T,
// head sizes 8, 16, 64 and 256, gemma's score scale 1/√(C/NH) beside 1/√HS,
// and dq, dk, dv pre-filled (the backward adds). out and att start as NaN so
// every element must be written; masked att entries must be exactly 0; the
// backward run twice gives identical bits (no atomics).
//
// Error per element: |gpu − go| / (|go| + mean|go| of the array), must stay
// under 1e-5; measured worst 2.7e-6 (dv, SwiftShader in headless Chromium),
// most arrays under 1.5e-6. Each case's worst per array is logged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { openGPUHarness } from "../lib/gpuharness.mjs";

const TOL = 1e-5;
let harness, page, manifest;

before(async () => {
  harness = await openGPUHarness({ modules: { E: "engine", A: "attention" }, gen: "./scripts/tests/webgpuattngen" });
  page = harness.page;
  manifest = JSON.parse(readFileSync(path.join(harness.dir, "manifest.json"), "utf8"));
});

after(async () => {
  await harness?.close();
});

// runCase runs the forward and the backward (twice, from the same pre-fill)
// of one manifest case in the page and returns the worst errors per array.
function runCase(c) {
  return page.evaluate(async (c) => {
    const eng = (window.eng ??= await E.requestEngine());
    const get = async (name) => new Float32Array(await (await fetch(`/data/${c.files[name]}`)).arrayBuffer());
    const { B, T, NH, NKV, HS, scale, window: win } = c;
    const nq = B * T * NH * HS, nkv = B * T * NKV * HS, natt = B * NH * T * T;
    const up = async (name, n) => {
      const buf = eng.buffer(n, name);
      eng.write(buf, await get(name));
      return buf;
    };
    const nanFill = (n, name) => {
      const buf = eng.buffer(n, name);
      eng.write(buf, new Float32Array(n).fill(NaN));
      return buf;
    };
    const q = await up("q", nq), k = await up("k", nkv), v = await up("v", nkv), dout = await up("dout", nq);
    const out = nanFill(nq, "out"), att = nanFill(natt, "att");
    const sh = { B, T, NH, NKV, HS, scale, window: win };
    eng.device.pushErrorScope("validation");
    let enc = eng.device.createCommandEncoder();
    A.attention(eng, enc, { out, att, q, k, v, ...sh });
    const gotOut = await eng.read(out, nq, enc);
    const gotAtt = await eng.read(att, natt);
    const grads = [];
    for (let rep = 0; rep < 2; rep++) {
      const dq = await up("dq0", nq), dk = await up("dk0", nkv), dv = await up("dv0", nkv);
      enc = eng.device.createCommandEncoder();
      A.attentionBackward(eng, enc, { dq, dk, dv, dout, q, k, v, att, ...sh });
      eng.submit(enc);
      grads.push({ dq: await eng.read(dq, nq), dk: await eng.read(dk, nkv), dv: await eng.read(dv, nkv) });
      for (const b of [dq, dk, dv]) b.destroy();
    }
    const gpuErr = await eng.device.popErrorScope();
    for (const b of [q, k, v, dout, out, att]) b.destroy();
    if (gpuErr) return { gpuError: gpuErr.message };

    const worst = async (name, got) => {
      const ref = await get(name);
      let mean = 0;
      for (const x of ref) mean += Math.abs(x);
      mean /= ref.length;
      let w = 0, at = -1;
      for (let i = 0; i < ref.length; i++) {
        const e = Math.abs(got[i] - ref[i]) / (Math.abs(ref[i]) + mean);
        if (!(e <= w)) [w, at] = [e, i];
      }
      return { err: w, at, got: got[at], ref: ref[at], len: got.length };
    };
    // Masked probabilities must be exactly 0 (and the visible ones not NaN).
    let maskedNonZero = 0;
    for (let r = 0; r < B * NH; r++) {
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < T; j++) {
          const masked = j > t || (win > 0 && j <= t - win);
          if (masked && !Object.is(gotAtt[(r * T + t) * T + j], 0)) maskedNonZero++;
        }
      }
    }
    const same = (a, b) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
    return {
      out: await worst("out", gotOut),
      att: await worst("att", gotAtt),
      dq: await worst("dq", grads[0].dq),
      dk: await worst("dk", grads[0].dk),
      dv: await worst("dv", grads[0].dv),
      maskedNonZero,
      deterministic: same(grads[0].dq, grads[1].dq) && same(grads[0].dk, grads[1].dk) && same(grads[0].dv, grads[1].dv),
    };
  }, c);
}

test("attention forward and backward match package kernels", { timeout: 600_000 }, async () => {
  assert.ok(manifest.length >= 9, "the generator wrote the cases");
  for (const c of manifest) {
    const r = await runCase(c);
    assert.equal(r.gpuError, undefined, `${c.name}: WebGPU validation error ${r.gpuError}`);
    const line = ["out", "att", "dq", "dk", "dv"].map((n) => `${n} ${r[n].err.toExponential(2)}`).join(", ");
    console.log(`${c.name} (B=${c.B} T=${c.T} NH=${c.NH} NKV=${c.NKV} HS=${c.HS} window=${c.window}): worst ${line}`);
    for (const n of ["out", "att", "dq", "dk", "dv"]) {
      assert.ok(r[n].err < TOL, `${c.name} ${n}: error ${r[n].err} at ${r[n].at} (gpu ${r[n].got}, go ${r[n].ref}) over ${TOL}`);
    }
    assert.equal(r.maskedNonZero, 0, `${c.name}: masked probabilities not exactly 0`);
    assert.ok(r.deterministic, `${c.name}: two backward runs differ`);
  }
});

test("bad shapes and buffers get a clear error", { timeout: 120_000 }, async () => {
  const errs = await page.evaluate(async () => {
    const eng = (window.eng ??= await E.requestEngine());
    const buf = (n) => eng.buffer(n);
    const sh = { B: 1, T: 4, NH: 4, NKV: 2, HS: 8, scale: 0.35 };
    const q = buf(128), kv = buf(64), att = buf(64);
    const got = {};
    const catchIt = (name, fn) => {
      try {
        fn();
        got[name] = "no error";
      } catch (e) {
        got[name] = `${e.name}: ${e.message}`;
      }
    };
    const enc = eng.device.createCommandEncoder();
    catchIt("group", () => A.attention(eng, enc, { out: q, att, q, k: kv, v: kv, ...sh, NKV: 3 }));
    catchIt("small", () => A.attention(eng, enc, { out: q, att: buf(63), q, k: kv, v: kv, ...sh }));
    catchIt("T", () => A.attention(eng, enc, { out: q, att, q, k: kv, v: kv, ...sh, T: 0 }));
    catchIt("window", () => A.attention(eng, enc, { out: q, att, q, k: kv, v: kv, ...sh, window: -1 }));
    catchIt("scale", () => A.attentionBackward(eng, enc, { dq: q, dk: kv, dv: kv, dout: q, q, k: kv, v: kv, att, ...sh, scale: NaN }));
    catchIt("missing", () => A.attentionBackward(eng, enc, { dq: q, dk: kv, dout: q, q, k: kv, v: kv, att, ...sh }));
    return got;
  });
  assert.match(errs.group, /RangeError: webgpu: attention: NH=4 is not a multiple of NKV=3/);
  assert.match(errs.small, /RangeError: webgpu: attention: att holds 63 floats, want 64/);
  assert.match(errs.T, /RangeError: webgpu: attention: T must be a positive integer, got 0/);
  assert.match(errs.window, /RangeError: webgpu: attention: window must be a non-negative integer, got -1/);
  assert.match(errs.scale, /RangeError: webgpu: attentionBackward: scale must be a finite non-zero number, got NaN/);
  assert.match(errs.missing, /TypeError: webgpu: attentionBackward: dv must be a GPUBuffer/);
});
