// llama.cpp (through node-llama-cpp 3.21.1, CPU only, never downloading or
// building anything) as an oracle for webtune's forward pass, adapters and
// tokenizer: next-token log-probabilities over the whole vocabulary, greedy
// continuations and tokenization of a GGUF model, optionally with LoRA
// adapters (docs/oracles.md).
//
//   import { nextLogprobs, greedy, tokenize, close } from "./lib/llamacpp.mjs";
//   const lp = await nextLogprobs("m.gguf", [1, 72, 105], { lora: [{ filePath: "a.gguf", scale: 0.5 }] });
//
// node-llama-cpp exposes no raw logits: controlledEvaluate with
// generateNext.probabilities returns the softmax at temperature 0's sampler
// chain (no top-k/top-p/penalties), which we turn back into log-probs. With an
// F32 model and an F32 KV cache (the default here) llama.cpp agrees with an
// exact float64 forward to about 1e-5.
import fs from "node:fs";

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= "true";

let llamaPromise = null;
const models = new Map(); // key: path + size + mtime -> Promise<LlamaModel>

/** llama returns the shared Llama instance (CPU backend, no build, no download). */
export async function llama() {
  if (!llamaPromise) {
    llamaPromise = import("node-llama-cpp").then(({ getLlama, LlamaLogLevel }) =>
      getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: LlamaLogLevel.error, progressLogs: false }));
  }
  return llamaPromise;
}

/** loadModel returns the (cached) model at path; a rewritten file is reloaded. */
export async function loadModel(modelPath) {
  const st = fs.statSync(modelPath);
  const key = `${modelPath}\0${st.size}\0${st.mtimeMs}`;
  if (!models.has(key)) {
    const p = llama().then((l) => l.loadModel({ modelPath, gpuLayers: 0, useMmap: false }));
    models.set(key, p);
    p.catch(() => models.delete(key));
  }
  return models.get(key);
}

/** close disposes every cached model and the Llama instance. */
export async function close() {
  const ms = [...models.values()];
  models.clear();
  for (const p of ms) {
    try {
      await (await p).dispose();
    } catch {
      // a model that failed to load has nothing to dispose
    }
  }
  if (llamaPromise) {
    const l = await llamaPromise;
    llamaPromise = null;
    await l.dispose();
  }
}

// withContext runs fn(sequence, model) in a fresh context on modelPath with
// opts.lora adapters ([{filePath, scale}]) and an F32 KV cache unless
// opts.f32kv === false; the context is disposed afterwards.
async function withContext(modelPath, opts, fn) {
  const model = await loadModel(modelPath);
  const f32kv = opts.f32kv !== false;
  const ctxOpts = {
    contextSize: opts.contextSize ?? Math.min(model.trainContextSize || 128, 512),
    batchSize: opts.batchSize ?? 512,
    flashAttention: false,
    threads: opts.threads ?? 1,
    sequences: 1,
    ignoreMemorySafetyChecks: true,
  };
  if (f32kv) {
    ctxOpts.experimentalKvCacheKeyType = "F32";
    ctxOpts.experimentalKvCacheValueType = "F32";
  }
  if (opts.lora && opts.lora.length > 0) {
    ctxOpts.lora = { adapters: opts.lora.map((a) => ({ filePath: a.filePath, scale: a.scale ?? 1 })) };
  }
  const context = await model.createContext(ctxOpts);
  try {
    return await fn(context.getSequence(), model);
  } finally {
    await context.dispose();
  }
}

// toLogprobs turns node-llama-cpp's probability map into a Float64Array of
// log-probabilities over the whole vocabulary (-Infinity where absent).
function toLogprobs(probabilities, nVocab) {
  const lp = new Float64Array(nVocab).fill(-Infinity);
  for (const [tok, p] of probabilities) lp[tok] = Math.log(p);
  return lp;
}

// vocabSize reads <general.architecture>.vocab_size (llama.vocab_size,
// qwen2.vocab_size, ...), else the tokenizer's token count.
function vocabSize(model) {
  const md = model.fileInfo.metadata;
  return model.fileInsights.vocabularySize ?? model.tokens.size ?? md[md.general?.architecture]?.vocab_size ??
    md.tokenizer?.ggml?.tokens?.length;
}

function checkTokens(tokenIds) {
  if (!Array.isArray(tokenIds) || tokenIds.length === 0) throw new Error("llamacpp: need at least one token id");
  for (const t of tokenIds) if (!Number.isInteger(t) || t < 0) throw new Error(`llamacpp: bad token id ${t}`);
}

/**
 * nextLogprobs returns the log-softmax over the whole vocabulary (a
 * Float64Array) at the last position after evaluating tokenIds (no BOS is
 * added). opts: {lora: [{filePath, scale}], f32kv: true}.
 */
export async function nextLogprobs(modelPath, tokenIds, opts = {}) {
  checkTokens(tokenIds);
  return withContext(modelPath, opts, async (seq, model) => {
    const input = tokenIds.slice(0, -1);
    input.push([tokenIds.at(-1), { generateNext: { probabilities: true, options: { temperature: 0 } } }]);
    const res = await seq.controlledEvaluate(input);
    const probs = res.at(-1)?.next?.probabilities;
    if (!probs) throw new Error("llamacpp: no probabilities returned");
    return toLogprobs(probs, vocabSize(model));
  });
}

/**
 * greedy evaluates tokenIds and then generates up to n tokens greedily
 * (argmax), returning {tokens, logprobs}: the generated ids and, for each
 * generation step, the full next-token log-probs (Float64Array). It stops
 * after an end-of-generation token (EOS) unless opts.ignoreEos; that token is
 * not part of tokens. opts as nextLogprobs.
 */
export async function greedy(modelPath, tokenIds, n, opts = {}) {
  checkTokens(tokenIds);
  return withContext(modelPath, opts, async (seq, model) => {
    const nv = vocabSize(model);
    const eos = new Set([model.tokens.eos, model.tokens.eot].filter((t) => t != null));
    const want = { generateNext: { probabilities: true, options: { temperature: 0 } } };
    const tokens = [];
    const logprobs = [];
    let input = [...tokenIds.slice(0, -1), [tokenIds.at(-1), want]];
    for (let i = 0; i < n; i++) {
      const res = await seq.controlledEvaluate(input);
      const lp = toLogprobs(res.at(-1).next.probabilities, nv);
      // argmax with the lowest id on ties, as our sampler does
      let best = 0;
      for (let t = 1; t < nv; t++) if (lp[t] > lp[best]) best = t;
      logprobs.push(lp);
      if (!opts.ignoreEos && eos.has(best)) break;
      tokens.push(best);
      input = [[best, want]];
    }
    return { tokens, logprobs };
  });
}

/**
 * tokenize returns llama.cpp's token ids for text. opts.addBos prepends the
 * model's BOS when the vocabulary asks for one (llama_tokenize add_special);
 * opts.special parses control-token texts. model.tokenize itself never adds
 * BOS (docs/oracles.md).
 */
export async function tokenize(modelPath, text, opts = {}) {
  const model = await loadModel(modelPath);
  const ids = model.tokenize(text, opts.special ?? false);
  if (opts.addBos && model.tokens.shouldPrependBosToken && model.tokens.bos != null) return [model.tokens.bos, ...ids];
  return ids;
}

/** detokenize returns llama.cpp's text for ids. */
export async function detokenize(modelPath, ids, special = false) {
  const model = await loadModel(modelPath);
  return model.detokenize(ids, special);
}
