// samples.js — the Try it section: the same prompt through the base model
// and through base + adapter, side by side, with the sampling settings
// (temperature, top-p, max tokens, seed; top-k is 40).
import { $ } from "./dom.js";
import { state } from "./state.js";
import { SettingError } from "./settings.js";

/** TOP_K is the number of likeliest tokens sampling chooses from. */
export const TOP_K = 40;

/** readSampleSettings returns the checked sampling settings or throws a SettingError. */
export function readSampleSettings() {
  const num = (id, name, lo, hi, int) => {
    const raw = $(id).value.trim();
    const v = Number(raw);
    if (raw === "" || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new SettingError(`${name} must be ${int ? "a whole number" : "a number"} from ${lo} to ${hi}.`, id);
    }
    return v;
  };
  return {
    temperature: num("sample-temperature", "Temperature", 0, 2, false),
    topP: num("sample-top-p", "Top-p", 0.01, 1, false),
    maxTokens: num("sample-max-tokens", "Max tokens", 1, 512, true),
    seed: num("sample-seed", "Seed", 0, 4294967295, true),
    topK: TOP_K,
  };
}

/**
 * setChatMode turns the Try it section into a chat box for a model with a
 * chat template (an instruct model): the prompt is the user's message, an
 * optional system message goes before it, and each side shows the answer.
 */
export function setChatMode(on) {
  state.chat = on;
  $("chat-system-field").hidden = !on;
  $("sample-prompt-label").textContent = on ? "Your message (rendered with the model's chat template)" : "Prompt";
  if (on && $("sample-prompt").value === "Once upon a time") $("sample-prompt").value = "Hello! Who are you?";
  if (!on && $("sample-prompt").value === "Hello! Who are you?") $("sample-prompt").value = "Once upon a time";
}

/** generateSamples fills both sample boxes for the prompt. */
export async function generateSamples() {
  if (!state.model) return;
  const opts = readSampleSettings();
  const chat = !!state.chat;
  if (chat) Object.assign(opts, { chat: true, system: $("sample-system").value });
  const prompt = $("sample-prompt").value || (chat ? "Hello! Who are you?" : "Once upon a time");
  const shown = (g) => (chat ? g.text : prompt + g.text);
  $("sample-base").textContent = "…";
  $("sample-adapted").textContent = "…";
  const base = await state.model.generate(prompt, { ...opts, adapter: false });
  $("sample-base").textContent = shown(base);
  if (!state.hasAdapter) {
    $("sample-adapted").textContent = "(no adapter yet: train or load one)";
    return;
  }
  const tuned = await state.model.generate(prompt, { ...opts, adapter: true });
  $("sample-adapted").textContent = shown(tuned);
}
