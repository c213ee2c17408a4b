// A data-parallel worker of the bench page: its own Go wasm instance (the
// bench program), its own copy of W, a share of the batch. The page sends
// {op: "init", engine, r0, r1}, then per step {op: "grads"} (answered with
// this share's dA, dB; carrying the previous step's mean dA, dB, applied
// first) and {op: "apply", dA, dB} (the workers' mean) to finish.
importScripts("wasm_exec.js");

let id;
const ready = new Promise((res) => { self.__benchReady = res; });
(async () => {
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch("bench.wasm"), go.importObject);
  go.run(instance);
})();

self.onmessage = async (ev) => {
  const m = ev.data;
  const bench = await ready;
  try {
    if (m.op === "init") {
      id = bench.newPart(m.engine, m.r0, m.r1);
      postMessage({ ok: true, engines: bench.engines() });
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
