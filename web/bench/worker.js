// A data-parallel worker of the bench page: its own Go wasm instance (the
// bench program), its own copy of W, a share of the batch. Two ways to sum
// the LoRA gradients between workers:
//
//   postMessage (works on any page): {op: "init", engine, r0, r1}, then per
//   step {op: "grads"} (answered with this share's dA, dB; carrying the
//   previous step's mean dA, dB, applied first) and {op: "apply", dA, dB}.
//
//   shared memory (crossOriginIsolated pages): {op: "initShared", engine, r0,
//   r1, sab, w, i}, then {op: "run", steps}: the workers run the steps on
//   their own, meeting at a barrier in the SharedArrayBuffer once a step;
//   answered with {ms: [...]} (per step, barrier to barrier) and A.
//
// SharedArrayBuffer layout: Int32 [arrived, generation] in the first 64
// bytes, then two sets (even and odd steps) of w slots of g floats (dA
// then dB). Double buffering lets a fast worker write step s+1's slot
// while a slow one still reads step s's, with one barrier a step.
importScripts("wasm_exec.js");

let id;
let shared; // {ctrl, slots: [[Float32Array per worker] per parity], mean, w, i}
const ready = new Promise((res) => { self.__benchReady = res; });
(async () => {
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch("bench.wasm"), go.importObject);
  go.run(instance);
})();

// barrier returns when all w workers have called it (generation counting:
// the last to arrive resets the count and wakes the others).
function barrier(ctrl, w) {
  const gen = Atomics.load(ctrl, 1);
  if (Atomics.add(ctrl, 0, 1) === w - 1) {
    Atomics.store(ctrl, 0, 0);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
    return;
  }
  for (let spin = 0; spin < 2000; spin++) if (Atomics.load(ctrl, 1) !== gen) return;
  while (Atomics.load(ctrl, 1) === gen) Atomics.wait(ctrl, 1, gen);
}

// runShared does `steps` data-parallel steps; every worker sums the slots
// in the same order, so all keep identical A and B.
function runShared(bench, steps) {
  const { ctrl, slots, mean, w, i } = shared;
  const ms = [];
  let t = performance.now();
  for (let s = 0; s < steps; s++) {
    const set = slots[shared.parity];
    shared.parity ^= 1;
    bench.gradsInto(id, set[i]);
    barrier(ctrl, w);
    mean.fill(0);
    for (const g of set) for (let k = 0; k < mean.length; k++) mean[k] += g[k] / w;
    bench.applyFrom(id, mean);
    const now = performance.now();
    ms.push(now - t);
    t = now;
  }
  return ms;
}

self.onmessage = async (ev) => {
  const m = ev.data;
  const bench = await ready;
  try {
    if (m.op === "init") {
      id = bench.newPart(m.engine, m.r0, m.r1);
      postMessage({ ok: true, engines: bench.engines() });
    } else if (m.op === "initShared") {
      id = bench.newPart(m.engine, m.r0, m.r1);
      const g = m.floats, per = g * 4;
      const slot = (p, j) => new Float32Array(m.sab, 64 + (p * m.w + j) * per, g);
      shared = { ctrl: new Int32Array(m.sab, 0, 2), w: m.w, i: m.i, parity: 0, mean: new Float32Array(g),
        slots: [0, 1].map((p) => Array.from({ length: m.w }, (_, j) => slot(p, j))) };
      postMessage({ ok: true });
    } else if (m.op === "run") {
      const ms = runShared(bench, m.steps);
      const a = m.wantA ? bench.weightsA(id) : null;
      postMessage({ ms, a });
    } else if (m.op === "grads") {
      // the previous step's mean gradients ride along: one round trip a step
      const t0 = performance.now();
      if (m.dA) bench.apply(id, m.dA, m.dB);
      const g = bench.grads(id);
      const ms = performance.now() - t0;
      postMessage({ loss: g.loss, dA: g.dA, dB: g.dB, ms }, [g.dA.buffer, g.dB.buffer]);
    } else if (m.op === "apply") {
      const a = bench.apply(id, m.dA, m.dB);
      postMessage({ a }, [a.buffer]);
    }
  } catch (e) {
    postMessage({ error: String(e && e.stack || e) });
  }
};
