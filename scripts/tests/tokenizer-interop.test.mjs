// Tokenizer interop: package tokenizer's token ids and decoded text must equal
// llama.cpp's (node-llama-cpp 3.21.1) on tiny models that carry SentencePiece
// and byte-level BPE vocabularies. The Go generator writes the models and our
// results (cases.json); this test loads each model in llama.cpp and compares.
// Run from the repository root: node --test scripts/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama } from "node-llama-cpp";

const utf8 = (b64) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(Buffer.from(b64, "base64"));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

test("tokenizer ids and decoded text equal llama.cpp's", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "webtune-tok-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync("go", ["run", "./tokenizer/internal/gentok", dir], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const cases = JSON.parse(readFileSync(path.join(dir, "cases.json"), "utf8"));
  const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
  let compared = 0;
  for (const mc of cases) {
    await t.test(mc.name, async () => {
      const model = await llama.loadModel({ modelPath: path.join(dir, mc.file), vocabOnly: mc.vocabOnly });
      try {
        // node-llama-cpp reports BOS/EOS only when they are control tokens.
        assert.equal(model.tokens.bos, mc.bosControl ? mc.bos : null, "BOS id");
        assert.equal(model.tokens.eos, mc.eosControl ? mc.eos : null, "EOS id");
        if (!mc.eotAmbiguous) assert.equal(model.tokens.eot, mc.eot === -1 ? null : mc.eot, "EOT id");
        // Every token's attributes (control, user-defined, unused, ...) after
        // llama.cpp's load-time rules, and the end-of-generation set.
        const eog = new Set(mc.eog);
        const attrDiffs = [];
        const eogDiffs = [];
        for (let id = 0; id < mc.nVocab; id++) {
          const attr = model.getTokenAttributes(id)._attributes;
          if (attr !== mc.attrs[id]) attrDiffs.push(`${id} ${JSON.stringify(model.detokenize([id], true))}: llama.cpp ${attr}, ours ${mc.attrs[id]}`);
          if (model.isEogToken(id) !== eog.has(id)) eogDiffs.push(`${id} ${JSON.stringify(model.detokenize([id], true))}: llama.cpp ${model.isEogToken(id)}`);
        }
        assert.equal(attrDiffs.length, 0, `token attributes differ:\n${attrDiffs.slice(0, 12).join("\n")}`);
        assert.equal(eogDiffs.length, 0, `end-of-generation set differs:\n${eogDiffs.slice(0, 12).join("\n")}`);
        const failures = [];
        for (const tc of mc.texts) {
          const check = (what, got, want) => {
            try {
              assert.deepEqual(got, want);
            } catch {
              failures.push(`${what} of ${JSON.stringify(tc.text)}:\n  llama.cpp ${JSON.stringify(got)}\n  ours      ${JSON.stringify(want)}`);
            }
          };
          const ids = Array.from(model.tokenize(tc.text));
          check("ids", ids, tc.ids);
          // node-llama-cpp never adds BOS: ours with add_special is [BOS] + ids when the vocab asks for it.
          check("ids with BOS", mc.addBOS ? [mc.bos, ...ids] : ids, tc.idsSpecial);
          const parsed = Array.from(model.tokenize(tc.text, true));
          check("ids parsing special tokens", parsed, tc.idsParse);
          // Decoded bytes may be invalid UTF-8 (a token can end mid-character): compare
          // after the same bytes-to-string conversion node-llama-cpp applies.
          check("detokenize", model.detokenize(tc.ids), utf8(tc.decodedB64));
          check("detokenize rendering special tokens", model.detokenize(tc.idsParse, true), utf8(tc.renderB64));
          check("detokenize after BOS", model.detokenize([mc.bos, ...tc.ids]), utf8(tc.withBOSB64));
          compared++;
        }
        assert.equal(failures.length, 0, `${failures.length} mismatches:\n${failures.slice(0, 12).join("\n")}`);
      } finally {
        await model.dispose();
      }
    });
  }
  assert.ok(compared > 0);
});
