// The built-in model (web/models/webtune-stories-1m.gguf) in llama.cpp
// (node-llama-cpp 3.21.1, CPU): it loads with the expected sizes, llama.cpp
// tokenizes a few texts exactly as webtune does, and greedy generation from
// a prompt yields story text — the same tokens webtune generates, up to a
// near-tie between the two most likely tokens.
// Run from the repository root: node --test scripts/tests/
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, greedy, tokenize, detokenize, close } from "../lib/llamacpp.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const name = "webtune-stories-1m";
const modelPath = path.join(root, "web/models", `${name}.gguf`);
const embedded = path.join(root, "models", `${name}.gguf`);

after(close);

// ours: webtune's token ids and greedy continuations on the same file.
const ours = JSON.parse(
  execFileSync("go", ["run", "./models/internal/builtincases", modelPath], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }),
);

test("the shipped model is the embedded one and at most 8 MB", () => {
  assert.ok(existsSync(modelPath), modelPath);
  const a = readFileSync(modelPath);
  assert.ok(a.length <= 8 << 20, `${a.length} bytes`);
  assert.ok(a.equals(readFileSync(embedded)), "web/models and models/ hold different files");
});

test("llama.cpp loads the built-in model", async () => {
  const model = await loadModel(modelPath);
  assert.equal(model.fileInfo.metadata.general.architecture, "llama");
  assert.equal(model.fileInfo.metadata.general.name, name);
  assert.equal(model.fileInfo.metadata.llama.vocab_size, ours.vocabSize);
  assert.equal(model.fileInfo.metadata.tokenizer.ggml.model, "gpt2");
  assert.equal(model.trainContextSize, 256);
  assert.equal(model.tokens.bos, ours.bos);
  assert.equal(model.tokens.eos, ours.eos);
});

test("llama.cpp tokenizes like webtune", async () => {
  for (const tc of ours.texts) {
    const ids = Array.from(await tokenize(modelPath, tc.text));
    assert.deepEqual(ids, tc.ids, `ids of ${JSON.stringify(tc.text)}`);
    assert.deepEqual(Array.from(await tokenize(modelPath, tc.text, { addBos: true })), tc.idsBOS, "with BOS");
    assert.equal(await detokenize(modelPath, tc.ids), tc.decoded, `detokenize ${JSON.stringify(tc.text)}`);
  }
});

test("greedy generation yields story text, as webtune's", async () => {
  for (const g of ours.greedy) {
    const { tokens, logprobs } = await greedy(modelPath, g.promptIds, 48);
    const text = await detokenize(modelPath, tokens);
    assert.ok(tokens.length >= 8, `only ${tokens.length} tokens after ${JSON.stringify(g.prompt)}: ${JSON.stringify(text)}`);
    assert.match(text, /\b(was|said|the|and|named)\b/, `not story text: ${JSON.stringify(text)}`);
    // Same tokens as webtune until the first difference, which may only be a near-tie.
    const n = Math.min(tokens.length, g.tokens.length);
    let i = 0;
    while (i < n && tokens[i] === g.tokens[i]) i++;
    if (i < Math.max(tokens.length, g.tokens.length)) {
      assert.ok(i < n, `one stopped early at ${i}: llama.cpp ${tokens.length} tokens, webtune ${g.tokens.length}`);
      const lp = logprobs[i];
      const gap = lp[tokens[i]] - lp[g.tokens[i]];
      assert.ok(gap < 1e-3, `diverged at token ${i} (llama.cpp ${tokens[i]}, webtune ${g.tokens[i]}, log-prob gap ${gap})`);
    }
    assert.ok(i >= Math.min(16, n), `only ${i} equal tokens`);
  }
});

test("the shipped pirate LoRA moves llama.cpp's greedy story toward pirate talk", async () => {
  const adapter = path.join(root, "web/models", `${name}-pirate-lora.gguf`);
  const prompt = ours.greedy[0].promptIds; // BOS "Once upon a time"
  const pirate = /\b(be|matey|ye|arr|Arr|Ahoy|hearties)\b/g;
  const base = await detokenize(modelPath, (await greedy(modelPath, prompt, 64)).tokens);
  const tuned = await detokenize(modelPath, (await greedy(modelPath, prompt, 64, { lora: [{ filePath: adapter }] })).tokens);
  const count = (s) => (s.match(pirate) ?? []).length;
  assert.ok(count(tuned) >= 3 && count(tuned) > count(base), `base: ${JSON.stringify(base)}\nwith LoRA: ${JSON.stringify(tuned)}`);
});
