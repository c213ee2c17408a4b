// Chat templates: webtune's Go rendering (package chat, on
// github.com/ardanlabs/jinja) equals @huggingface/jinja 0.5.11's — the
// engine transformers.js uses for apply_chat_template — on the real
// templates of Qwen2.5, Qwen3, Gemma 3, Llama 3.2 and SmolLM2, the ChatML
// default, and conversations with and without a system prompt, several
// turns, empty content and unicode, with and without the generation prompt.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dir = path.join(root, "chat/testdata/templates");
const convs = JSON.parse(readFileSync(path.join(root, "chat/testdata/conversations.json"), "utf8"));
const goOut = JSON.parse(
  execFileSync(process.env.GO ?? "go", ["run", "./chat/internal/render", dir, path.join(root, "chat/testdata/conversations.json")], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  }),
);
// The ChatML default, as package chat holds it (chat.ChatML).
const chatml = goOut.find((r) => r.template === "chatml");

test("every template renders every conversation alike in Go and in @huggingface/jinja", () => {
  const templates = new Set(goOut.map((r) => r.template));
  assert.deepEqual([...templates].sort(), ["chatml", "gemma3", "llama3.2", "qwen2.5", "qwen3", "smollm2"]);
  assert.ok(chatml);
  let compared = 0;
  for (const name of templates) {
    if (name === "chatml") continue;
    const tpl = new Template(readFileSync(path.join(dir, `${name}.jinja`), "utf8"));
    for (const c of convs) {
      for (const generation of [false, true]) {
        const go = goOut.find((r) => r.template === name && r.conversation === c.name && r.generation === generation);
        let js;
        try {
          js = tpl.render({
            messages: c.messages,
            add_generation_prompt: generation,
            bos_token: "<s>",
            eos_token: "</s>",
            date_string: "26 Jul 2024",
          });
        } catch (e) {
          assert.ok(go.error, `${name} / ${c.name}: JS refused (${e.message}) but Go rendered ${JSON.stringify(go.text)}`);
          continue;
        }
        assert.equal(go.error, undefined, `${name} / ${c.name}: Go refused: ${go.error}`);
        assert.equal(go.text, js, `${name} / ${c.name} / generation=${generation}`);
        compared++;
      }
    }
  }
  assert.ok(compared >= 70, `${compared} renderings compared`);
});
