// Chat fine-tuning against llama.cpp (node-llama-cpp 3.21.1): on an
// instruct-shaped model (internal/chatmodel: SmolLM2's special tokens and
// chat template, random weights),
//  - the token ids `webtune data --json` trains on equal llama.cpp's
//    tokenization of the same rendered text with special tokens parsed;
//  - an adapter trained by `webtune train` on 50 conversations with one fixed
//    answer makes llama.cpp, prompted through the model's own chat template
//    (rendered by @huggingface/jinja from the GGUF's tokenizer.chat_template),
//    give the same greedy answer as `webtune generate --chat`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";
import { readGgufFileInfo } from "node-llama-cpp";
import { tokenize, detokenize, greedy, close } from "../lib/llamacpp.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const go = process.env.GO ?? "go";
const dir = mkdtempSync(path.join(tmpdir(), "webtune-chat-"));
const bin = path.join(dir, "webtune");
const base = path.join(dir, "chat-base.gguf");
const data = path.join(dir, "chat.jsonl");
const adapter = path.join(dir, "chat-lora.gguf");
const answer = '{"answer": "ok"}'; // internal/chatmodel.Answer

const webtune = (...args) => execFileSync(bin, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });

before(() => {
  execFileSync(go, ["build", "-o", bin, "./cmd/webtune"], { cwd: root, stdio: "inherit" });
  execFileSync(go, ["run", "./internal/chatmodel/gen", dir], { cwd: root, stdio: "inherit" });
});

after(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

test("trained token ids equal llama.cpp's tokenization of the rendered text", async () => {
  const lines = webtune("data", "--model", base, "--data", data, "--json").trim().split("\n");
  assert.equal(lines.length, 50);
  for (const line of lines.slice(0, 12)) {
    const e = JSON.parse(line);
    const ids = await tokenize(base, e.text, { special: true });
    assert.deepEqual(Array.from(ids), e.tokens, e.text);
    assert.ok(e.trained.some((t) => t === 1));
  }
});

test("llama.cpp with the adapter and the model's chat template gives webtune's greedy answer", async () => {
  webtune("train", "--model", base, "--data", data, "--out", adapter, "--targets", "all-linear,output", "--rank", "8",
    "--alpha", "16", "--lr", "1e-2", "--steps", "60", "--batch", "4", "--seq-len", "96", "--seed", "1");
  const info = await readGgufFileInfo(base);
  const tpl = new Template(info.metadata.tokenizer.chat_template);
  for (const q of ["How do I bake bread, number 77?", "Where do penguins live?"]) {
    const prompt = tpl.render({ messages: [{ role: "user", content: q }], add_generation_prompt: true, bos_token: "", eos_token: "<|im_end|>" });
    const ids = Array.from(await tokenize(base, prompt, { special: true }));
    const ours = JSON.parse(webtune("generate", "--model", base, "--lora", adapter, "--chat", "--prompt", q, "--temperature", "0", "--max-tokens", "40", "--json"));
    assert.deepEqual(ours.prompt_tokens, ids, "the prompt webtune renders and tokenizes is llama.cpp's");
    const { tokens } = await greedy(base, ids, 40, { lora: [{ filePath: adapter, scale: 1 }], f32kv: true });
    const text = await detokenize(base, tokens);
    assert.equal(text, answer, `llama.cpp answered ${JSON.stringify(text)}`);
    assert.equal(ours.text, text);
    assert.deepEqual(ours.tokens, Array.from(tokens));
  }
  // without the adapter llama.cpp does not give the answer
  const prompt = tpl.render({ messages: [{ role: "user", content: "hello" }], add_generation_prompt: true, bos_token: "", eos_token: "<|im_end|>" });
  const { tokens } = await greedy(base, Array.from(await tokenize(base, prompt, { special: true })), 20, { f32kv: true });
  assert.notEqual(await detokenize(base, tokens), answer);
});
