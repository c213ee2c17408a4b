// data.js — the Training text section: the default text, .txt/.jsonl files
// and the token and window counts of the text.
import { $, fmt } from "./dom.js";
import { state } from "./state.js";

/**
 * DEFAULT_TEXT is the text the page starts with: the first eight stories of
 * web/models/corpus/pirate-stories.txt (generated, CC0), the built-in
 * model's own kind of story retold in pirate talk, so that the default run
 * visibly turns its samples into pirate talk.
 */
export const DEFAULT_TEXT = `Arr, once upon a time, there be a pirate girl named Rosie. At the garden, Rosie heard a sad sound. It be a frog. The frog be stuck under a log and could not get out. "Don't be scared," said Rosie. "I will help ye." Rosie called Grandma. Together they helped the frog get out. The frog be free! It flew around and looked mighty excited. Grandma said, "Ye be mighty brave, Rosie." Arr!
Arr, once upon a time, there be a little pirate girl named Zoe. She liked to draw pictures with her matey Lily. Zoe and Lily wanted to play catch at the farm. But then the sky got dark, and it started to rain. Zoe be upset. "What can we do now?" asked Lily. Zoe thought and thought. "Let's draw a big picture, arr!" said Zoe. They had so much fun. When the rain stopped, they saw a big rainbow outside. They laughed and jumped in the puddles. Yo ho ho!
Arr, once upon a time, in a small town, there lived a pirate boy named Finn. One sunny day, Finn went to the farm with Mom and Tim. They brought a brown drum and some apples. At the farm, they saw a little fox and many flowers. "Look, arr!" said Tim. "The fox wants to play with the drum, arr!" Finn threw the drum, and the fox ran after it. Everyone laughed. When it be time to go home, Finn said, "This be the best day ever, arr!" Arr!
Ahoy! One day, a pirate girl named Zoe went to the zoo. One morning, Zoe wanted to make cake with Mom. "We need flour and water," said Mom. Zoe mixed everything in a tiny bowl. She be mighty careful. Soon the cake be ready. It smelled so good! Zoe shared the cake with Noah. "This be yummy, arr!" said Noah. Zoe felt excited. Sharing made her happy. Arr!
Arr, once upon a time, there be a little pirate boy named Sam. He liked to read books with his matey Max. Sam and Max wanted to play ball at the zoo. But then the sky got dark, and it started to rain. Sam be worried. "What can we do now?" asked Max. Sam thought and thought. "Let's build a fort with pillows, arr!" said Sam. They had so much fun. When the rain stopped, they saw a puddle to jump in outside. Sam said, "Rainy days can be fun too, arr!" Yo ho ho!
Ahoy! One day, a pirate girl named Mia went to the zoo. Mia and Sara had a race to the top of the hill. "Ready, set, go, arr!" said Sara. They ran as fast as they could. Mia be in front, but then she fell down and hurt her knee. Sara stopped running. "Mia, be ye okay?" she asked, and helped her get up. They walked to the top of the hill together, hand in hand. the end, me hearties. Arr!
Ahoy! One day, a pirate girl named Anna went to the zoo. One sunny day, Anna went to the zoo with Grandma and Kate. They brought a pink doll and some cake. At the zoo, they saw a tiny duck and a big hill. "Look, arr!" said Kate. "The duck wants to play with the doll, arr!" Anna threw the doll, and the duck ran after it. Everyone laughed. When it be time to go home, Anna said, "This be the best day ever, arr!" Arr!
Arr, once upon a time, there be a happy pirate boy named Joe. One morning, Joe wanted to make cake with Grandma. "We need sugar and salt," said Grandma. Joe mixed everything in a tiny bowl. He be mighty careful. Oops! Joe dropped the spoon. Grandma laughed and said, "That be okay. We can clean it up." Soon the cake be ready. It smelled so good! Joe shared the cake with Lucy. "This be yummy, arr!" said Lucy. Joe learned that sharing be fun. Yo ho ho!
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

/** textOf returns a file's bytes as text, refusing what is not text (binary or not UTF-8). */
export function textOf(bytes, name) {
  const what = `"${name}" is not a text file`;
  const hint = "Training needs plain text: open a .txt or .jsonl file (UTF-8), or paste the text.";
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw Object.assign(new Error(`${what}: it is not valid UTF-8 text (a picture, a document or another binary file?). ${hint}`),
      { detail: `invalid UTF-8 in ${bytes.length} bytes` });
  }
  // control characters other than tab, newline, carriage return and form feed: binary data
  const ctl = text.match(/[\u0000-\u0008\u000e-\u001f\u007f]/g)?.length ?? 0;
  if (ctl > 0 && ctl > text.length / 1000) {
    throw Object.assign(new Error(`${what}: it holds binary data. ${hint}`), { detail: `${ctl} control characters in ${text.length}` });
  }
  return text;
}

/**
 * openDataFile puts a .txt or .jsonl file's text into the text box. JSON
 * Lines stay as they are: the engine reads conversations ("messages"),
 * prompt–completion and Alpaca records and renders them with the model's
 * chat template, as `webtune train` does; a .json array of strings or
 * {"text"} records is joined into plain text.
 */
export async function openDataFile(file) {
  if (!file) return;
  const raw = textOf(new Uint8Array(await file.arrayBuffer()), file.name);
  $("training-text").value = /\.json$/i.test(file.name) ? jsonlText(raw) : raw;
  updateStats();
}

/** EVAL_FRACTION is the share of the text held out for evaluation when there is enough. */
export const EVAL_FRACTION = 0.1;

/**
 * textPlan counts text's tokens and windows for seqLen and decides the
 * held-out part: a tenth of the text; with less text, one window if that
 * leaves at least two to train on; else none (noEval is then true). It
 * resolves to {stats, evalFraction, noEval}; stats is model.textStats().
 */
export async function textPlan(text, seqLen) {
  let stats = await state.model.textStats(text, { seqLen, evalFraction: EVAL_FRACTION });
  if (stats.evalWindows > 0) return { stats, evalFraction: EVAL_FRACTION, noEval: false };
  if (stats.examples > 0) return { stats, evalFraction: -1, noEval: true }; // one example: nothing to hold out
  const w = stats.seqLen + 1; // tokens in one window
  if (stats.tokens >= 3 * w) {
    const evalFraction = (w + 0.5) / stats.tokens;
    stats = await state.model.textStats(text, { seqLen, evalFraction });
    if (stats.evalWindows > 0) return { stats, evalFraction, noEval: false };
  }
  stats = await state.model.textStats(text, { seqLen, evalFraction: -1 });
  return { stats, evalFraction: -1, noEval: true };
}

/** plan is the last textPlan of the text box (null while none). */
export let plan = null;
const planListeners = [];

/** onPlan(fn) calls fn(plan) after each count of the text box. */
export function onPlan(fn) {
  planListeners.push(fn);
}

let statsTimer = 0;

/** updateStats counts the text's tokens and windows (debounced). */
export function updateStats() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(async () => {
    const text = $("training-text").value;
    plan = null;
    if (!text.trim()) {
      $("data-stats").textContent = "No text yet.";
    } else if (!state.model) {
      $("data-stats").textContent = "Load a model to count the tokens of this text.";
    } else {
      try {
        // a long text takes a while to tokenize (about 1 s per 10 MB): say so meanwhile
        if (text.length > 2e6) $("data-stats").textContent = `Tokenizing ${fmt(Math.round(text.length / 1e6))} MB of text…`;
        plan = await textPlan(text, +$("seqlen").value || 64);
        $("data-stats").textContent = describePlan(plan);
        showPreview(plan.stats);
      } catch (e) {
        $("data-stats").textContent = e.message;
        showPreview(null);
      }
    }
    for (const fn of planListeners) fn(plan);
  }, 250);
}

/** describePlan says in words what a textPlan found. */
export function describePlan({ stats: s, noEval }) {
  if (s.examples > 0) {
    let t = `${fmt(s.examples)} ${s.format} examples · ${fmt(s.turns)} messages · ${fmt(s.tokens)} tokens, ` +
      `${fmt(s.trained)} of them trained (highlighted below) · ${fmt(s.trainWindows)} to train on, `;
    t += noEval ? "none held out (no evaluation loss)" : `${fmt(s.evalWindows)} held out for evaluation`;
    if (s.cut > 0) t += ` · ${fmt(s.cut)} cut at the sequence length of ${s.seqLen}: raise it to keep them whole`;
    if (s.template) t += ` · chat template: ${s.template}`;
    return t + ".";
  }
  let t = `${fmt(s.tokens)} tokens · ${fmt(s.trainWindows)} training windows of ${s.seqLen} tokens · `;
  t += noEval
    ? "too little text to hold any out, so there is no held-out (evaluation) loss: the chart shows the training loss only."
    : `${fmt(s.evalWindows)} held out for evaluation.`;
  if (s.trainWindows === 0) t += " Add more text to train.";
  if (s.tokenizeMs >= 1000) t += ` (Tokenized in ${(s.tokenizeMs / 1000).toFixed(1)} s.)`;
  return t;
}

/**
 * showPreview shows the first example of conversational data as the model
 * will see it, the trained tokens highlighted; plain text has none.
 */
export function showPreview(s) {
  const box = $("data-preview");
  if (!box) return;
  box.replaceChildren();
  box.hidden = !s?.preview;
  if (!s?.preview) return;
  const { pieces, trained } = s.preview;
  for (let i = 0; i < pieces.length; ) {
    let j = i;
    while (j < pieces.length && trained[j] === trained[i]) j++;
    const text = pieces.slice(i, j).join("");
    box.append(trained[i] ? Object.assign(document.createElement("mark"), { textContent: text }) : document.createTextNode(text));
    i = j;
  }
}
