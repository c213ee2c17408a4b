// data.js — the Training text section: the default text, .txt/.jsonl files
// and the token and window counts of the text.
import { $, fmt } from "./dom.js";
import { state } from "./state.js";

/** DEFAULT_TEXT is the text the page starts with. */
export const DEFAULT_TEXT = `The sea was calm that morning. Gulls wheeled over the harbour and the fishing boats rocked at their moorings.
An old sailor sat on the wall, mending a net and humming a song about the wind.
"Fair weather," he said to the boy beside him. "But the tide turns at noon, and the sea never forgets it."
The boy watched the water. Far out, a sail caught the light and turned toward the shore.
"Is that my father's boat?" the boy asked. The old man squinted and nodded slowly.
"Red sail, patched twice. That's him. He'll want his supper and a dry coat."
They walked along the quay together while the bells of the church rang eleven.
The fishwives were already setting out their baskets, and the smell of tar and salt hung over everything.
When the boat bumped against the stones, the boy caught the rope and made it fast, just as he had been taught.
His father laughed, tired and wet, and held up a silver fish as long as the boy's arm.
`;

/** jsonlText joins the texts of a .jsonl file's records. */
export function jsonlText(raw) {
  const parts = [];
  raw.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      throw new Error(`Line ${i + 1} of the .jsonl file is not valid JSON.`);
    }
    if (typeof o === "string") parts.push(o);
    else if (typeof o.text === "string") parts.push(o.text);
    else if (Array.isArray(o.messages)) parts.push(o.messages.map((m) => m.content).join("\n"));
    else if (o.prompt !== undefined || o.completion !== undefined) parts.push(`${o.prompt ?? ""}${o.completion ?? ""}`);
    else if (o.instruction !== undefined) parts.push([o.instruction, o.input, o.output].filter(Boolean).join("\n"));
    else throw new Error(`Line ${i + 1} of the .jsonl file has no "text", "messages" or "prompt"/"completion" field.`);
  });
  return parts.join("\n\n");
}

/** openDataFile puts a .txt or .jsonl file's text into the text box. */
export async function openDataFile(file) {
  if (!file) return;
  const raw = await file.text();
  $("training-text").value = /\.jsonl?$/i.test(file.name) ? jsonlText(raw) : raw;
  updateStats();
}

let statsTimer = 0;

/** updateStats counts the text's tokens and windows (debounced). */
export function updateStats() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(async () => {
    const text = $("training-text").value;
    if (!text.trim()) {
      $("data-stats").textContent = "No text yet.";
      return;
    }
    if (!state.model) {
      $("data-stats").textContent = "Load a model to count the tokens of this text.";
      return;
    }
    try {
      const s = await state.model.textStats(text, { seqLen: +$("seqlen").value || 64, evalFraction: 0.1 });
      $("data-stats").textContent =
        `${fmt(s.tokens)} tokens · ${fmt(s.trainWindows)} training windows of ${s.seqLen} tokens · ` +
        `${fmt(s.evalWindows)} held out for evaluation.` + (s.trainWindows === 0 ? " Add more text to train." : "");
    } catch (e) {
      $("data-stats").textContent = e.message;
    }
  }, 250);
}
