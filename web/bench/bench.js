// Bench page driver: starts the Go bench program (bench.wasm, built from
// scripts/bench/wasmbench), runs the same LoRA step in webtune's engines and
// in TF.js's wasm backend, and leaves the results on window.__benchResult
// (read by scripts/bench/browser-bench.mjs).

const N = 256, IN = 512, OUT = 512, R = 8, ALPHA = 16, LR = 0.01;
const STEP_FLOPS = 2 * N * IN * OUT + 2 * N * R * (2 * IN + 3 * OUT);
const params = new URLSearchParams(location.search);
const quick = params.has("quick");

const status = (s) => { document.getElementById("status").textContent += "\n" + s; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const rows = [];
function row(what, ms, flops, runs, extra = {}) {
  const r = { what, ms: median(ms), min: Math.min(...ms), gflops: flops / median(ms) / 1e6,
    gflopsBest: flops / Math.min(...ms) / 1e6, runs: ms.length,
    samples: ms.map((x) => Math.round(x * 1000) / 1000), ...extra };
  rows.push(r);
  const tr = document.createElement("tr");
  tr.innerHTML = `<td>${what}</td><td>${r.ms.toFixed(2)}</td><td>${r.min.toFixed(2)}</td><td>${r.gflops.toFixed(1)}</td><td>${r.gflopsBest.toFixed(1)}</td><td>${r.runs}</td>`;
  document.querySelector("#results tbody").append(tr);
  return r;
}

async function startGo() {
  const ready = new Promise((res) => { globalThis.__benchReady = res; });
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch("bench.wasm"), go.importObject);
  go.run(instance);
  return ready;
}

// transpose returns the [cols, rows] transpose of a row-major [rows, cols].
function transpose(a, rows, cols) {
  const t = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

function timeSync(f, warm, runs) {
  for (let i = 0; i < warm; i++) f();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    ms.push(performance.now() - t);
  }
  return ms;
}

// tfStep builds TF.js's step with weights in its fastest layout (W as
// [in, out], A as [in, r], B as [r, out]: no transposes) and returns a
// function that runs one step and returns the loss.
function tfStep(d, manual, explicit) {
  const x = tf.tensor2d(d.x, [N, IN]);
  const target = tf.tensor2d(d.target, [N, OUT]);
  const wt = tf.tensor2d(transpose(d.w, OUT, IN), [IN, OUT]);
  const at = tf.variable(tf.tensor2d(transpose(d.a, R, IN), [IN, R]));
  const bt = tf.variable(tf.tensor2d(transpose(d.b, OUT, R), [R, OUT]));
  const s = ALPHA / R;
  if (!manual) {
    const opt = tf.train.sgd(LR);
    const f = () => {
      const loss = opt.minimize(() => {
        const y = tf.add(tf.matMul(x, wt), tf.mul(tf.matMul(tf.matMul(x, at), bt), s));
        return tf.losses.meanSquaredError(target, y);
      }, true, [at, bt]);
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    };
    return { f, at, bt };
  }
  // hand-written gradients: the least TF.js can do for this step
  const f = () => {
    const v = tf.tidy(() => {
      const h = tf.matMul(x, at);                           // [N, r]
      const y = tf.add(tf.matMul(x, wt), tf.mul(tf.matMul(h, bt), s));
      const diff = tf.sub(y, target);
      const loss = tf.mean(tf.square(diff));
      const dy = tf.mul(diff, 2 / (N * OUT));                  // [N, out]
      // TF.js's wasm matMul is slow with a transposed operand (see the
      // kernel table), so the "explicit" variant transposes first
      const mm = (p, q, ta, tb) => explicit
        ? tf.matMul(ta ? tf.transpose(p) : p, tb ? tf.transpose(q) : q)
        : tf.matMul(p, q, ta, tb);
      const dbt = tf.mul(mm(h, dy, true, false), s);        // [r, out]
      const dh = tf.mul(mm(dy, bt, false, true), s);        // [N, r]
      const dat = mm(x, dh, true, false);                   // [in, r]
      at.assign(tf.sub(at, tf.mul(dat, LR)));
      bt.assign(tf.sub(bt, tf.mul(dbt, LR)));
      return loss;
    });
    const l = v.dataSync()[0];
    v.dispose();
    return l;
  };
  return { f, at, bt };
}

// meanGrads averages the workers' {dA, dB}.
function meanGrads(gs, w) {
  const dA = new Float32Array(gs[0].dA.length), dB = new Float32Array(gs[0].dB.length);
  for (const g of gs) {
    for (let i = 0; i < dA.length; i++) dA[i] += g.dA[i] / w;
    for (let i = 0; i < dB.length; i++) dB[i] += g.dB[i] / w;
  }
  return { dA, dB };
}

// tfGemm times c = op(a)·op(b) in TF.js.
function tfGemm(ta, tb, m, n, k, runs, reps) {
  const a = tf.randomUniform(ta ? [k, m] : [m, k]);
  const b = tf.randomUniform(tb ? [n, k] : [k, n]);
  const one = () => { const c = tf.matMul(a, b, ta, tb); c.dataSync(); c.dispose(); };
  const ms = timeSync(() => { for (let i = 0; i < reps; i++) one(); }, 1, runs).map((x) => x / reps);
  a.dispose(); b.dispose();
  return ms;
}

async function main() {
  const result = { userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: globalThis.crossOriginIsolated, rows };
  try {
    const bench = await startGo();
    const engines = bench.engines();
    result.engines = engines;
    result.simdError = bench.simdError;
    status(`webtune engines: ${engines.join(", ")} ${bench.simdError}`);
    tf.wasm.setWasmPaths("/scripts/node_modules/@tensorflow/tfjs-backend-wasm/dist/");
    if (params.get("tfthreads")) tf.wasm.setThreadsCount(+params.get("tfthreads"));
    await tf.setBackend("wasm");
    result.tf = { version: tf.version_core, backend: tf.getBackend(),
      simd: await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"),
      threads: await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
      threadsCount: tf.wasm.getThreadsCount() };
    status(`tf.js ${JSON.stringify(result.tf)}`);
    const d = bench.data();

    // the step: contenders interleaved round by round so that they share
    // whatever load the machine has; each round times `per` steps of each.
    const rounds = quick ? 3 : 10, per = 3;
    const contenders = [];
    for (const e of engines) {
      const id = bench.newStep(e);
      const first = bench.runStep(id, 1).loss;
      contenders.push({ name: `step webtune ${e}`, first, slow: e === "cpu",
        run: (n) => bench.runStep(id, n).ms });
    }
    const tfs = [false, true].map((explicit) => {
      const t = tfStep(d, true, explicit);
      contenders.push({ name: `step tfjs-wasm (hand-written grads${explicit ? ", explicit transposes" : ""})`,
        first: t.f(), run: (n) => timeSync(t.f, 0, n) });
      return t;
    });
    for (const c of contenders) { c.run(2); c.ms = []; }  // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const c of contenders) {
        if (c.slow && r % 3 !== 0) continue; // pure Go is 20-50x slower: fewer samples
        c.ms.push(...c.run(c.slow ? 1 : per));
      }
    }
    for (const c of contenders) {
      const r = row(c.name, c.ms, STEP_FLOPS, c.ms.length, { firstLoss: c.first });
      status(`${c.name}: ${r.ms.toFixed(2)} ms, first loss ${c.first}`);
    }
    for (const t of tfs) { t.at.dispose(); t.bt.dispose(); }
    // correctness: one step from the same start, compare A after the update
    {
      const best = engines[engines.length - 1];
      const w = bench.runStep(bench.newStep(best), 1);
      const t2 = tfStep(d, true);
      t2.f();
      const at = t2.at.dataSync();
      let maxd = 0;
      for (let i = 0; i < R; i++) for (let j = 0; j < IN; j++) maxd = Math.max(maxd, Math.abs(w.a[i * IN + j] - at[j * R + i]));
      result.crossCheck = { engine: best, maxAbsDiffA: maxd };
      status(`cross-check: |A_webtune - A_tf| max ${maxd}`);
      t2.at.dispose(); t2.bt.dispose();
    }
    // data-parallel: W workers, each with its own wasm instance and a copy
    // of W, the batch split in equal shares; per step only dA and dB (8K
    // floats) travel, averaged here. Interleaved with the single-instance
    // SIMD step and TF.js as above.
    const simdName = engines[engines.length - 1];
    if (simdName !== "cpu" && !params.has("noworkers")) {
      const counts = [...new Set([2, navigator.hardwareConcurrency])].filter((w) => w >= 2);
      const groups = [];
      for (const w of counts) {
        const ws = await Promise.all(Array.from({ length: w }, async (_, i) => {
          const wk = new Worker("worker.js");
          const call = (msg) => new Promise((res, rej) => {
            wk.onmessage = (e) => e.data.error ? rej(new Error(e.data.error)) : res(e.data);
            wk.postMessage(msg);
          });
          await call({ op: "init", engine: simdName, r0: i * N / w, r1: (i + 1) * N / w });
          return { wk, call };
        }));
        // one round trip per step: the mean gradients of step s travel with
        // the request for step s+1's gradients (the update is applied there)
        let mean = {};
        const computeMs = [];
        const stepAll = async () => {
          const gs = await Promise.all(ws.map((x) => x.call({ op: "grads", ...mean })));
          computeMs.push(Math.max(...gs.map((g) => g.ms)));
          mean = meanGrads(gs, w);
        };
        groups.push({ w, ws, stepAll, ms: [], computeMs });
      }
      // shared memory (crossOriginIsolated pages only): the workers run the
      // steps on their own and meet at a barrier in a SharedArrayBuffer; the
      // step time is barrier to barrier in worker 0 (the first step of each
      // round, which includes this page's dispatch, is left out of it and
      // shows in the wall-clock row instead)
      const sharedGroups = [];
      const newShared = async (w) => {
        const floats = R * IN + OUT * R;
        const sab = new SharedArrayBuffer(64 + 2 * w * floats * 4);
        const ws = await Promise.all(Array.from({ length: w }, async (_, i) => {
          const wk = new Worker("worker.js");
          const call = (msg) => new Promise((res, rej) => {
            wk.onmessage = (e) => e.data.error ? rej(new Error(e.data.error)) : res(e.data);
            wk.postMessage(msg);
          });
          await call({ op: "initShared", engine: simdName, r0: i * N / w, r1: (i + 1) * N / w, sab, w, i, floats });
          return { wk, call };
        }));
        const run = async (steps, wantA) => {
          const t0 = performance.now();
          const rs = await Promise.all(ws.map((x) => x.call({ op: "run", steps, wantA })));
          return { rs, wall: performance.now() - t0 };
        };
        return { w, ws, run, ms: [], wallMs: [] };
      };
      result.sharedMemory = !!globalThis.crossOriginIsolated;
      if (globalThis.crossOriginIsolated) {
        for (const w of counts) sharedGroups.push(await newShared(w));
        // V8 tiers hot wasm functions up in the background: warm up as long as
        // the single instance was (it ran every earlier section)
        for (const g of sharedGroups) await g.run(40);
      }
      const single = bench.newStep(simdName);
      const tDP = tfStep(d, true, true);
      const singleMs = [], tfMs = [];
      for (const g of groups) for (let i = 0; i < 20; i++) await g.stepAll();
      bench.runStep(single, 2); timeSync(tDP.f, 2, 0);
      for (let r = 0; r < (quick ? 3 : 15); r++) {
        for (const g of groups) {
          for (let i = 0; i < 2; i++) {
            const t0 = performance.now();
            await g.stepAll();
            g.ms.push(performance.now() - t0);
          }
        }
        for (const g of sharedGroups) {
          const steps = 5;
          const { rs, wall } = await g.run(steps);
          g.ms.push(...rs[0].ms.slice(1));
          g.wallMs.push(wall / steps);
        }
        singleMs.push(...bench.runStep(single, 2).ms);
        tfMs.push(...timeSync(tDP.f, 0, 2));
      }
      tDP.at.dispose(); tDP.bt.dispose();
      const rs = row(`step webtune ${simdName}, 1 instance (data-parallel run)`, singleMs, STEP_FLOPS, singleMs.length);
      const rt = row("step tfjs-wasm explicit transposes (data-parallel run)", tfMs, STEP_FLOPS, tfMs.length);
      for (const g of groups) {
        const rg = row(`step webtune ${simdName}, ${g.w} workers`, g.ms, STEP_FLOPS, g.ms.length);
        row(`  of which the slowest worker's own compute, ${g.w} workers`, g.computeMs, STEP_FLOPS, g.computeMs.length);
        status(`${g.w} workers: ${rg.ms.toFixed(2)} ms (1 instance ${rs.ms.toFixed(2)}, tf.js ${rt.ms.toFixed(2)})`);
      }
      for (const g of sharedGroups) {
        const rg = row(`step webtune ${simdName}, ${g.w} workers, shared memory`, g.ms, STEP_FLOPS, g.ms.length,
          { ratioToTF: 0 });
        rg.ratioToTF = rg.ms / rt.ms;
        row(`  wall clock per step of a 5-step round, ${g.w} workers, shared memory`, g.wallMs, STEP_FLOPS, g.wallMs.length);
        status(`${g.w} workers, shared memory: ${rg.ms.toFixed(2)} ms (1 instance ${rs.ms.toFixed(2)}, tf.js ${rt.ms.toFixed(2)}, ratio ${rg.ratioToTF.toFixed(2)})`);
      }
      // identical results: fresh workers and a fresh single instance, 3 steps
      {
        const w = counts[0];
        const fresh = await Promise.all(Array.from({ length: w }, async (_, i) => {
          const wk = new Worker("worker.js");
          const call = (msg) => new Promise((res) => { wk.onmessage = (e) => res(e.data); wk.postMessage(msg); });
          await call({ op: "init", engine: simdName, r0: i * N / w, r1: (i + 1) * N / w });
          return { wk, call };
        }));
        let mean = {};
        for (let s = 0; s < 3; s++) {
          mean = meanGrads(await Promise.all(fresh.map((x) => x.call({ op: "grads", ...mean }))), w);
        }
        const aPar = (await Promise.all(fresh.map((x) => x.call({ op: "apply", ...mean }))))[0].a;
        const aOne = bench.runStep(bench.newStep(simdName), 3).a;
        let maxd = 0;
        for (let i = 0; i < aOne.length; i++) maxd = Math.max(maxd, Math.abs(aOne[i] - aPar[i]));
        result.dataParallelCheck = { workers: w, steps: 3, maxAbsDiffA: maxd };
        status(`data-parallel check: max |A_1 - A_${w}| = ${maxd}`);
        for (const x of fresh) x.wk.terminate();
        if (globalThis.crossOriginIsolated) {
          const g = await newShared(w);
          const { rs } = await g.run(3, true);
          let d1 = 0, dw = 0;
          for (let i = 0; i < aOne.length; i++) d1 = Math.max(d1, Math.abs(aOne[i] - rs[0].a[i]));
          for (const r of rs) for (let i = 0; i < aOne.length; i++) dw = Math.max(dw, Math.abs(r.a[i] - rs[0].a[i]));
          result.sharedMemoryCheck = { workers: w, steps: 3, maxAbsDiffA: d1, maxAbsDiffBetweenWorkers: dw };
          status(`shared-memory check: max |A_1 - A_${w}| = ${d1}, between workers ${dw}`);
          for (const x of g.ws) x.wk.terminate();
        }
      }
      for (const g of [...groups, ...sharedGroups]) for (const x of g.ws) x.wk.terminate();
    }

    // training throughput: reference llama, 256 tokens per step, LoRA r=8
    if (!params.has("nollama")) {
      const rounds = quick ? 1 : 3;
      for (const model of ["builtin", "ref"]) {
        const ls = engines.map((e) => ({ e, id: bench.newLlama(e, model), ms: [] }));
        for (const l of ls) bench.runLlama(l.id, 1); // warm-up
        for (let r = 0; r < rounds; r++) {
          for (const l of ls) l.ms.push(...bench.runLlama(l.id, l.e === "cpu" && model === "ref" ? 1 : 3));
        }
        for (const l of ls) {
          const x = row(`llama ${model} train step (256 tokens) webtune ${l.e}`, l.ms, 0, l.ms.length);
          x.tokensPerSec = 256 / (x.ms / 1000);
          status(`llama ${model} ${l.e}: ${x.tokensPerSec.toFixed(1)} tokens/s`);
        }
      }
    }
    if (params.has("variants")) {
      // every generated kernel variant on the base product, interleaved
      const vs = bench.variants();
      const ms = Object.fromEntries(vs.map((v) => [v, []]));
      for (let r = 0; r < (quick ? 8 : 20); r++) {
        for (const v of vs) ms[v].push(...bench.gemm(v, false, true, N, OUT, IN, 2, 2));
      }
      for (const v of vs) row(`variant ${v} x·Wᵀ`, ms[v], 2 * N * OUT * IN, ms[v].length);
    }
    // kernels
    const shapes = [
      ["base fwd x·Wᵀ", false, true, N, OUT, IN],
      ["NN 256×512×512", false, false, N, OUT, IN],
      ["TN 512×512×256", true, false, IN, OUT, N],
      ["lora h=x·Aᵀ", false, true, N, R, IN],
      ["lora y+=h·Bᵀ", false, true, N, OUT, R],
      ["lora dB=dyᵀ·h", true, false, OUT, R, N],
      ["lora dA=dhᵀ·x", true, false, R, IN, N],
    ];
    for (const [name, ta, tb, m, n, k] of shapes) {
      const flops = 2 * m * n * k;
      const runs = quick ? 5 : 15;
      // repeat small products so that one sample is a few ms (timers are coarse)
      const reps = Math.max(1, Math.round(2e7 / flops));
      for (const e of engines) {
        const slow = e === "cpu";
        const ms = bench.gemm(e, ta, tb, m, n, k, (slow ? 3 : runs) + 1, slow ? Math.max(1, reps >> 4) : reps).slice(1);
        row(`gemm ${name} webtune ${e}`, ms, flops, ms.length);
      }
      row(`gemm ${name} tfjs-wasm`, tfGemm(ta, tb, m, n, k, runs, reps), flops, runs);
    }
    result.ok = true;
  } catch (e) {
    result.error = String(e && e.stack || e);
    status("error: " + result.error);
  }
  window.__benchResult = result;
  status("done");
}

main();
