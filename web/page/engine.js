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
  engineRefused = refused;
  forgetGPUUse();
  $("engine-info").textContent = refused + engineText(state.wt.engine);
}

/**
 * engineLabel names what runs the training step, for the progress line:
 * "WebGPU (<adapter>): whole step" when the run's steps run whole on the
 * GPU, else the CPU engine, with the reason when a GPU was opened but cannot
 * run this model's step (Model.gpuStep, asked by checkGPUUse), and, under
 * the engine "webgpu" without a whole step, whether the frozen weights'
 * products ran on the GPU.
 */
export function engineLabel(e = state.wt?.engine) {
  if (!e) return "";
  const cpu = cpuName(e);
  if (gpuStep?.on) return `WebGPU (${adapterName(e.gpu)}): whole step`;
  const partial = partialUsed === null ? "" : partialUsed ? " + WebGPU for the frozen weights" : " (nothing of this model on WebGPU: float32 weights)";
  if (gpuStep?.reason) return `${cpu}${partial}: WebGPU cannot run this step (${gpuStep.reason})`;
  return cpu + partial;
}

// gpuStep is how the current run trains (Model.gpuStep: {on, reason}), null
// until asked; partialUsed says whether its frozen products ran on the GPU
// under the engine "webgpu" without a whole step (null: not known or not asked).
let gpuStep = null;
let partialUsed = null;

/**
 * checkGPUUse asks the model (the page's, unless given) how its run trains
 * (after train() and again after the first step) and refreshes the engine
 * line; forgetGPUUse resets it for a new run.
 */
export async function checkGPUUse(model = state.model) {
  const e = state.wt?.engine;
  if (!e || e.training === "cpu" || !model) return;
  gpuStep = await model.gpuStep().catch(() => null);
  partialUsed = null;
  if (!gpuStep?.on && e.choice === "webgpu") {
    const s = await state.wt.gpuStats().catch(() => null);
    if (s && s.offloaded !== undefined) partialUsed = s.offloaded > 0;
  }
  $("engine-info").textContent = engineRefused + engineText(e);
}

export function forgetGPUUse() {
  gpuStep = null;
  partialUsed = null;
}

function adapterName(g) {
  return [g.vendor, g.architecture, g.device].filter(Boolean).join(" ") || "unnamed adapter";
}

// engineRefused is the sentence on a WebGPU choice that could not run, kept before the engine line.
let engineRefused = "";

/** engineText says in plain words which engine trains and which GPU adapter, if any, was found. */
export function engineText(e) {
  const runs = `Training runs on the ${engineLabel(e)}.`;
  const gpu = e.gpu.available ? adapterName(e.gpu) : "";
  const partialNote = "Only the products with the frozen weights run on it, when they are quantized, F16 or NF4 (QLoRA); the LoRA, attention and every other part of the step run on the CPU";
  if (gpuStep?.on) {
    return `Training runs on WebGPU (${gpu}): the whole step (forward, loss and backward) runs on the GPU; only the optimizer (AdamW) runs on the ${cpuName(e)}.`;
  }
  if (gpuStep?.reason) {
    const partial = e.choice === "webgpu" ? ` ${partialNote}.` : "";
    return `Training runs on the ${cpuName(e)}: WebGPU (${gpu}) cannot run this step: ${gpuStep.reason.replace(/\.?$/, ".")}${partial}`;
  }
  if (e.training === "webgpu") {
    return `Training runs on WebGPU (${gpu}) when the model allows it: the whole step on the GPU (LoRA without dropout); otherwise on the ${cpuName(e)}, and the page says why.`;
  }
  if (e.training === "webgpu-partial") {
    return `${runs} WebGPU adapter: ${gpu}. ${partialNote}, and a model with float32 weights trained without QLoRA runs wholly on the CPU.`;
  }
  if (e.choice === "cpu" || e.gpu.available) return runs;
  if (e.gpu.fallback) return `${runs} Not WebGPU: ${e.gpu.reason}.`;
  return `${runs} No WebGPU here: ${e.gpu.reason}`;
}

function cpuName(e) {
  return e.cpuEngine.startsWith("wasm-simd") ? "CPU (WebAssembly SIMD)" : "CPU (WebAssembly)";
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
