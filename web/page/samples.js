// samples.js — the Try it section: the same prompt through the base model
// and through base + adapter, side by side.
import { $ } from "./dom.js";
import { state } from "./state.js";

/** SAMPLE are the sampling settings. */
export const SAMPLE = { maxTokens: 60, temperature: 0.8, topK: 40, seed: 7 };

/** generateSamples fills both sample boxes for the prompt. */
export async function generateSamples() {
  if (!state.model) return;
  const prompt = $("sample-prompt").value || "Once upon a time";
  $("sample-base").textContent = "…";
  $("sample-adapted").textContent = "…";
  const base = await state.model.generate(prompt, { ...SAMPLE, adapter: false });
  $("sample-base").textContent = prompt + base.text;
  if (!state.hasAdapter) {
    $("sample-adapted").textContent = "(no adapter yet: train or load one)";
    return;
  }
  const tuned = await state.model.generate(prompt, { ...SAMPLE, adapter: true });
  $("sample-adapted").textContent = prompt + tuned.text;
}
