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
  state.wt = await WebTune.load({ wasmURL: "webtune.wasm", workers: state.workers });
  state.wt.onExit = onExit;
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
