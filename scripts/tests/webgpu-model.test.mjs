// The whole-step model (web/gpu/model.js) on its own, in real headless
// Chromium with WebGPU on (SwiftShader here): tiny random float32 models
// built as plans in JS, one per recipe (llama with GQA and a LoRA on every
// slot and the head; qwen2's biases with neox rope; gemma3's q/k norms,
// post-norms, GeGLU, √C embedding scale, sliding window with its own rope
// table, and a final softcap). For each, the LoRA gradients a step returns
// equal central differences of the step's own losses (half their sum over
// the rows: dloss 0.5); an evaluation of a smaller batch on the buffers of a larger one
// gives a fresh model's losses bit for bit; per step exactly the LoRA
// parameters, ids and targets go up and the losses and gradients come back.
// Malformed plans and calls are refused with the field named. The
// agreement with the Go CPU engine is scripts/tests/webgpu-page.test.mjs's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openGPUHarness } from "../lib/gpuharness.mjs";

let harness, page;

before(async () => {
  harness = await openGPUHarness({ modules: { E: "engine", M: "model" } });
  page = harness.page;
  await page.evaluate(async () => {
    window.eng = await window.E.requestEngine();
  });
});

after(async () => {
  await harness?.close();
});

// The page-side builder of a random plan: cfg picks the recipe's parts.
const buildPlan = `(cfg) => {
  let seed = cfg.seed ?? 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return (seed / 2147483648) * 2 - 1; };
  const f32 = (n, s = 1, c = 0) => Float32Array.from({ length: n }, () => c + s * rnd());
  const C = 32, L = 2, NH = 4, NKV = cfg.NKV ?? 2, HS = 8, F = 48, V = 40, P = 12;
  const w = (rows, cols) => eng.uploadWeight("F32", rows, cols, f32(rows * cols, 0.3));
  const table = (base) => {
    const cos = new Float32Array((P * HS) / 2), sin = new Float32Array((P * HS) / 2);
    for (let p = 0; p < P; p++) for (let i = 0; i < HS / 2; i++) {
      const th = p * Math.pow(base, (-2 * i) / HS);
      cos[(p * HS) / 2 + i] = Math.cos(th);
      sin[(p * HS) / 2 + i] = Math.sin(th);
    }
    return [cos, sin];
  };
  const [cos, sin] = table(10000), [cosL, sinL] = table(100);
  const loras = [];
  const slot = (l, name, rows, cols) => {
    const s = { w: w(rows, cols), rows, cols, lora: -1 };
    if (cfg.slots.includes(name)) {
      s.lora = loras.length;
      loras.push({ layer: l, slot: name, in: cols, out: rows, r: 2, scale: 1.5 });
    }
    return s;
  };
  const qC = NH * HS, kvC = NKV * HS;
  const layers = [];
  for (let l = 0; l < L; l++) {
    const local = !!cfg.window && l === 0;
    layers.push({
      attnNorm: f32(C, 0.1, 1), ffnNorm: f32(C, 0.1, 1),
      qBias: cfg.bias ? f32(qC, 0.2) : null, kBias: cfg.bias ? f32(kvC, 0.2) : null, vBias: cfg.bias ? f32(kvC, 0.2) : null,
      qNorm: cfg.qk ? f32(HS, 0.1, 1) : null, kNorm: cfg.qk ? f32(HS, 0.1, 1) : null,
      postAttnNorm: cfg.post ? f32(C, 0.1, 1) : null, postFFNNorm: cfg.post ? f32(C, 0.1, 1) : null,
      local, window: local ? cfg.window : 0, scale: cfg.qk ? 0.25 : 1 / Math.sqrt(HS),
      q: slot(l, "q", qC, C), k: slot(l, "k", kvC, C), v: slot(l, "v", kvC, C), o: slot(l, "o", C, qC),
      gate: slot(l, "gate", F, C), up: slot(l, "up", F, C), down: slot(l, "down", C, F),
    });
  }
  const embed = w(V, C);
  let outputLora = -1;
  if (cfg.head) {
    outputLora = loras.length;
    loras.push({ layer: -1, slot: "output", in: C, out: V, r: 2, scale: 1.5 });
  }
  return { arch: "test", C, L, NH, NKV, HS, F, V, eps: 1e-5, neox: !!cfg.neox, gelu: !!cfg.gelu,
    embedScale: cfg.embedScale ? Math.fround(Math.sqrt(C)) : 1, softcap: cfg.softcap ?? 0, P,
    ropeCos: cos, ropeSin: sin, ropeCosLocal: cfg.window ? cosL : null, ropeSinLocal: cfg.window ? sinL : null,
    embed, output: cfg.tied ? embed : w(V, C), outputNorm: f32(C, 0.1, 1), layers, loras, outputLora };
}`;

const RECIPES = {
  "llama (GQA, LoRA on every slot and the tied head)": { slots: ["q", "k", "v", "o", "gate", "up", "down"], head: true, tied: true },
  "qwen2 (q/k/v biases, neox rope, MQA)": { slots: ["q", "v", "gate"], bias: true, neox: true, NKV: 1 },
  "gemma3 (q/k norms, post-norms, GeGLU, √C embedding, window 3 with its own rope, softcap)": {
    slots: ["q", "k", "v", "o", "up", "down"], head: true, qk: true, post: true, gelu: true, embedScale: true, window: 3, neox: true, softcap: 3 },
};

for (const [name, cfg] of Object.entries(RECIPES)) {
  test(`whole step, ${name}: LoRA gradients equal central differences of the losses; a smaller evaluation batch reuses the buffers exactly`, { timeout: 300_000 }, async () => {
    const r = await page.evaluate(async ([cfg, buildPlan]) => {
      const plan = eval(buildPlan)(cfg);
      const m = await M.createModel(eng, plan);
      let n = 0;
      for (const lo of plan.loras) n += lo.r * lo.in + lo.out * lo.r;
      let seed = 99;
      const packed = Float32Array.from({ length: n }, () => ((seed = (seed * 69069 + 1) % 4294967296) / 4294967296 - 0.5) * 0.4);
      const B = 2, T = 6, N = B * T, V = plan.V;
      const tokens = Int32Array.from({ length: N }, (_, i) => (i * 7 + 3) % V);
      const targets = Int32Array.from({ length: N }, (_, i) => (i === 4 ? -1 : (i * 11 + 5) % V));
      await m.setLoRA(packed);
      const first = await m.step({ tokens, targets, B, T, dloss: 0.5, backward: true });
      const grads = Float32Array.from(first.grads), losses = Array.from(first.losses);
      const train = { ...m.stats };
      const sum = async (p) => {
        await m.setLoRA(p);
        const o = await m.step({ tokens, targets, B, T, backward: false });
        let s = 0;
        for (const x of o.losses) s += x;
        return s;
      };
      // central differences at two entries of every A and every B
      const h = 1e-2;
      const rows = [];
      let off = 0;
      for (const lo of plan.loras) {
        const nA = lo.r * lo.in, nB = lo.out * lo.r;
        for (const [part, start, len] of [["A", off, nA], ["B", off + nA, nB]]) {
          for (const f of [0.3, 0.8]) {
            const j = start + Math.floor(f * len);
            const p = Float32Array.from(packed);
            p[j] = packed[j] + h;
            const up = await sum(p);
            p[j] = packed[j] - h;
            const down = await sum(p);
            rows.push({ at: `${lo.layer}/${lo.slot}.${part}[${j - start}]`, g: grads[j], fd: (0.5 * (up - down)) / (2 * h) }); // dloss 0.5
          }
        }
        off += nA + nB;
      }
      // an evaluation of the first sequence only, on the (B = 2) buffers, against a fresh model's
      await m.setLoRA(packed);
      const small = Array.from((await m.step({ tokens: tokens.subarray(0, T), targets: targets.subarray(0, T), B: 1, T, backward: false })).losses);
      const fresh = await M.createModel(eng, plan);
      await fresh.setLoRA(packed);
      const alone = Array.from((await fresh.step({ tokens: tokens.subarray(0, T), targets: targets.subarray(0, T), B: 1, T, backward: false })).losses);
      fresh.destroy();
      m.destroy();
      return { rows, losses, small, alone, n, N, train, eval: { ...m.stats } };
    }, [cfg, buildPlan]);
    let worst = 0;
    for (const x of r.rows) {
      const d = Math.abs(x.g - x.fd);
      worst = Math.max(worst, d / Math.max(0.05, Math.abs(x.fd)));
      assert.ok(d <= 2e-3 + 1e-2 * Math.abs(x.fd), `${x.at}: gradient ${x.g}, central difference ${x.fd}`);
    }
    assert.ok(r.rows.some((x) => Math.abs(x.fd) > 1e-2), "every sampled gradient is ~0: the check would not see a wrong one");
    console.log(`${name}: ${r.rows.length} LoRA gradients vs central differences, worst ${worst.toExponential(2)} relative; ` +
      `${r.train.dispatches} dispatches per step (${r.train.layers.join(", ")} per layer, head ${r.train.head})`);
    assert.equal(r.losses[4], 0, "an ignored target's loss is 0");
    assert.ok(r.losses.every((l, i) => i === 4 || l > 0));
    assert.deepEqual(r.small, r.alone, "a smaller batch on the larger buffers");
    assert.deepEqual(r.small, r.losses.slice(0, 6), "the first sequence's losses do not depend on the second");
    assert.equal(r.train.steps, 1);
    assert.equal(r.train.bytesUploaded, 4 * (r.n + 2 * r.N), "per step up: the LoRA parameters, ids, targets");
    assert.equal(r.train.bytesReadBack, 4 * (r.n + r.N), "per step down: the losses and the LoRA gradients");
    assert.equal(r.train.dispatches, r.train.embed + r.train.head + r.train.layers.reduce((a, b) => a + b, 0));
    assert.equal(r.eval.backward, false);
    assert.equal(r.eval.bytesReadBack, 4 * 6, "an evaluation reads back the losses only");
    assert.equal(r.eval.train.bytesReadBack, r.train.bytesReadBack, "the last training step's figures are kept");
  });
}

test("malformed plans and calls are refused with the field named", { timeout: 120_000 }, async () => {
  const errs = await page.evaluate(async (buildPlan) => {
    const cfg = { slots: ["q", "v"] };
    const tryIt = async (f) => {
      try {
        await f();
        return "accepted";
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    };
    const out = {};
    let p = eval(buildPlan)(cfg);
    p.layers[1].q.rows = 31;
    out.rows = await tryIt(() => M.createModel(eng, p));
    p = eval(buildPlan)(cfg);
    p.layers[0].attnNorm = new Float32Array(3);
    out.norm = await tryIt(() => M.createModel(eng, p));
    p = eval(buildPlan)(cfg);
    p.layers[0].v.lora = 0;
    out.lora = await tryIt(() => M.createModel(eng, p));
    p = eval(buildPlan)(cfg);
    p.embed = 123456;
    out.embed = await tryIt(() => M.createModel(eng, p));
    p = eval(buildPlan)(cfg);
    const m = await M.createModel(eng, p);
    out.setLoRA = await tryIt(() => m.setLoRA(new Float32Array(5)));
    out.T = await tryIt(() => m.step({ tokens: new Int32Array(13), targets: new Int32Array(13), B: 1, T: 13 }));
    out.tokens = await tryIt(() => m.step({ tokens: new Int32Array(4), targets: new Int32Array(6), B: 1, T: 6 }));
    // a batch whose attention probabilities pass the binding limit: refused before any dispatch, nothing kept
    const big = Math.ceil(eng.maxBindingBytes / (4 * p.NH * 12 * 12)) + 1;
    out.big = await tryIt(() => m.reserve(big, 12));
    out.after = m.acts === null;
    await m.setLoRA(new Float32Array((await (async () => { let n = 0; for (const lo of p.loras) n += lo.r * lo.in + lo.out * lo.r; return n; })())));
    out.stillWorks = (await m.step({ tokens: new Int32Array(6), targets: new Int32Array(6), B: 1, T: 6, dloss: 1 })).losses.length;
    m.destroy();
    return out;
  }, buildPlan);
  assert.equal(errs.rows, "RangeError: webgpu model: plan.layers[1].q is 31×32, want 32×32");
  assert.equal(errs.norm, "RangeError: webgpu model: plan.layers[0].attnNorm has 3 values, want 32");
  assert.equal(errs.lora, "RangeError: webgpu model: plan.loras[0] is used by two slots");
  assert.equal(errs.embed, "RangeError: webgpu model: plan.embed is not a weight resident in the engine (handle 123456)");
  assert.match(errs.setLoRA, /^RangeError: webgpu model: setLoRA got 5 values, the plan's LoRA has \d+$/);
  assert.equal(errs.T, "RangeError: webgpu model: step's T=13 is past the 12 positions of the rope tables");
  assert.equal(errs.tokens, "RangeError: webgpu model: step's tokens has 4 ids, want B·T = 6");
  assert.match(errs.big, /^GPULimitError: webgpu: the activations of a step of \d+×12 tokens do not fit this GPU: its attention probabilities \[\d+×4×12×12\] take \d+ bytes, over the storage binding limit of \d+$/);
  assert.equal(errs.after, true, "a refused shape keeps no buffers");
  assert.equal(errs.stillWorks, 6, "the model still steps after a refused shape");
});
