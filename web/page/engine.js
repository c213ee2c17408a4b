// engine.js — the training engine (webtune.js in its Web Workers): starting
// it with the Workers choice, and the memory line.
import { WebTune } from "../webtune.js";
import { $, mb } from "./dom.js";
import { state } from "./state.js";

let exitHandler = null;

/**
 * startEngine starts the engine on as many workers as the Workers choice
 * says; onExit(err) runs if it dies (out of memory). Without onExit it
 * keeps the last one given.
 */
export async function startEngine(onExit = exitHandler) {
  exitHandler = onExit;
  state.workers = +$("workers").value || 1;
  state.engineChoice = $("engine").value || "auto";
  let refused = "";
  try {
    state.wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: state.workers, engine: state.engineChoice });
  } catch (e) {
    if (state.engineChoice !== "webgpu") throw e;
    // WebGPU was asked for but cannot run here: train on the CPU and say so.
    refused = `${e.message.replace(/\.?$/, ".")} `;
    state.wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: state.workers, engine: "cpu" });
  }
  state.wt.onExit = onExit;
  $("engine-info").textContent = refused + engineText(state.wt.engine);
}

/**
 * engineLabel names what runs the training step, for the progress line.
 * Only the CPU runs it today: the WebGPU kernels are not yet part of the step.
 */
export function engineLabel(e = state.wt?.engine) {
  if (!e) return "";
  const cpu = e.cpuEngine.startsWith("wasm-simd") ? "CPU (WebAssembly SIMD)" : "CPU (WebAssembly)";
  return e.training === "webgpu" ? `WebGPU (${adapterName(e.gpu)})` : cpu;
}

function adapterName(g) {
  return [g.vendor, g.architecture, g.device].filter(Boolean).join(" ") || "unnamed adapter";
}

/** engineText says in plain words which engine trains and which GPU adapter, if any, was found. */
export function engineText(e) {
  const runs = `Training runs on the ${engineLabel(e)}.`;
  if (e.gpu.available) {
    return `${runs} WebGPU adapter: ${adapterName(e.gpu)}. It is opened, but the training step does not run on it yet (the GPU kernels are being built).`;
  }
  if (e.choice === "cpu") return runs;
  return `${runs} No WebGPU here: ${e.gpu.reason}`;
}

/** stopEngine ends the engine and every model in it. */
export function stopEngine() {
  if (!state.wt) return;
  state.wt.onExit = null;
  state.wt.terminate();
  state.wt = null;
  state.model = null;
}

let lastMemory = 0;

/** memoryAge is how many milliseconds ago the memory line was updated. */
export const memoryAge = () => Date.now() - lastMemory;

/** updateMemory refreshes the memory line. */
export async function updateMemory() {
  if (!state.wt) return;
  lastMemory = Date.now();
  try {
    const m = await state.wt.memory();
    // replicas hold their own copy of the model: about as much again each
    const w = state.wt.workers > 1 ? ` per worker, ${state.wt.workers} workers` : "";
    $("memory").textContent = `Memory: ${mb(m.heapInUse)} in use (wasm ${mb(m.wasmMemory)})${w}`;
  } catch {
    // the next poll will tell
  }
}
