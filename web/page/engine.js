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
 * WebGPU runs only the frozen weights' products so far, never the whole step,
 * and only for quantized, F16/BF16 or NF4 weights: the label says whether this
 * run's products did (checkGPUUse, after its first step).
 */
export function engineLabel(e = state.wt?.engine) {
  if (!e) return "";
  const cpu = e.cpuEngine.startsWith("wasm-simd") ? "CPU (WebAssembly SIMD)" : "CPU (WebAssembly)";
  if (e.training !== "webgpu-partial" || gpuUsed === null) return cpu;
  return gpuUsed ? `${cpu} + WebGPU for the frozen weights` : `${cpu} (nothing of this model on WebGPU: float32 weights)`;
}

// gpuUsed says whether the current run's frozen products ran on the GPU (null: not known yet).
let gpuUsed = null;

/** checkGPUUse asks the engine whether this run's products ran on the GPU (after its first step); forgetGPUUse resets it for a new run. */
export async function checkGPUUse() {
  if (state.wt?.engine?.training !== "webgpu-partial") return;
  const s = await state.wt.gpuStats().catch(() => null);
  gpuUsed = !!s && s.offloaded > 0;
}

export function forgetGPUUse() {
  gpuUsed = null;
}

function adapterName(g) {
  return [g.vendor, g.architecture, g.device].filter(Boolean).join(" ") || "unnamed adapter";
}

/** engineText says in plain words which engine trains and which GPU adapter, if any, was found. */
export function engineText(e) {
  const runs = `Training runs on the ${engineLabel(e)}.`;
  if (e.training === "webgpu-partial") {
    return `${runs} WebGPU adapter: ${adapterName(e.gpu)}. Only the products with the frozen weights run on it, when they are quantized, F16 or NF4 (QLoRA); the LoRA, attention and every other part of the step run on the CPU, and a model with float32 weights (the built-in one) trained without QLoRA runs wholly on the CPU.`;
  }
  if (e.gpu.available) {
    return `${runs} WebGPU adapter: ${adapterName(e.gpu)}. It is opened, but with Auto the training step does not run on it yet: choose WebGPU to run the frozen weights' products there.`;
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
