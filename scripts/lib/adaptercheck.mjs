// Checks an adapter the page (or anything else) wrote against llama.cpp
// (node-llama-cpp 3.21.1, docs/oracles.md), on a model of a real size:
//
//  1. On the base as it is (Q8_0, Q4_K, ...): llama.cpp loads base +
//     adapter, and the adapter moves its next-token log-probs (by more than
//     the quantized tolerance). How far webtune's own forward with the
//     adapter (`webtune generate --lora`) is from llama.cpp's is reported,
//     not held to the interop tests' 1e-3: both sides round every matmul
//     input to 8-bit blocks (webtune's --match-ggml emulates ggml), so a
//     last-ulp difference anywhere (ggml's SIMD exp in softmax and SiLU,
//     summation orders that depend on the CPU variant llama.cpp picks) can
//     move one value across a rounding boundary, and at real sizes (millions
//     of rounded values per prompt) a few always do: measured 2e-2 to 8e-2
//     on the SmolLM2-135M shape without any adapter, while the small models
//     of the interop tests agree to ~1e-6.
//  2. On the F32 twin of the base (the same shape and values, each
//     quantized tensor decoded to F32 bit for bit as ggml decodes it;
//     scripts/bench/realsize -write -f32), where nothing is rounded to
//     blocks: llama.cpp with the same adapter file equals webtune's forward
//     with it within the interop tests' F32 tolerance (1e-4; gemma3 1e-3 for
//     ggml's F16 GELU table, docs/gemma3.md), and the adapter moves the
//     log-probs by more than that and by more than 5 × the disagreement.
//
//   import { checkAdapter } from "./lib/adaptercheck.mjs";
//   const r = await checkAdapter({ bin: "bin/webtune", base, f32base, adapter, arch: "llama" });
//   // r: {quant: {dBase, dAdapter, changed}, f32: {dBase, dAdapter, changed, limit}}; throws naming the failed check
import { execFileSync } from "node:child_process";
import { nextLogprobs } from "./llamacpp.mjs";

// Tolerances on max |Δ log p| (scripts/tests/llama-interop.test.mjs).
export const tolerance = { F32: 1e-4, gemma3F32: 1e-3, quantized: 1e-3 };

// A nine-token prompt of ids every vocabulary of ≥ 260 tokens holds (the
// one the interop tests use for adapters): several positions, so the
// adapted attn_q matters too.
export const prompt = [1, 72, 105, 50, 33, 80, 90, 100, 12];

/** maxAbsDiff returns max |a[i] − b[i]| over two vocabulary-long arrays. */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`vocabulary sizes differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** oursLogprobs returns webtune's next-token log-probs for ids (native CLI), with adapter at scale 1 if given. */
export function oursLogprobs(bin, base, ids, adapter) {
  const args = ["generate", "--model", base, "--json", "--temperature", "0", "--max-tokens", "0", "--tokens", ids.join(",")];
  if (adapter) args.push("--lora", `${adapter}:1`);
  const out = execFileSync(bin, args, { encoding: "utf8", maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out).next_logprobs;
}

// compare returns, for one base file: dBase (webtune vs llama.cpp without
// the adapter), dAdapter (with it) and changed (how far the adapter moves
// llama.cpp's log-probs).
async function compare(bin, base, adapter, ids) {
  const llamaBase = await nextLogprobs(base, ids);
  const llamaAdapted = await nextLogprobs(base, ids, { lora: [{ filePath: adapter, scale: 1 }] });
  return {
    dBase: maxAbsDiff(oursLogprobs(bin, base, ids), llamaBase),
    dAdapter: maxAbsDiff(oursLogprobs(bin, base, ids, adapter), llamaAdapted),
    changed: maxAbsDiff(llamaAdapted, llamaBase),
  };
}

/**
 * checkAdapter runs both checks above; arch is the base's
 * general.architecture (for gemma3's F32 tolerance). It returns the
 * figures, or throws an Error (with .result) naming the check that failed.
 */
export async function checkAdapter({ bin, base, f32base, adapter, arch, ids = prompt }) {
  const r = { quant: await compare(bin, base, adapter, ids) };
  const fail = (msg) => Object.assign(new Error(msg), { result: r });
  if (!(r.quant.changed > tolerance.quantized)) {
    throw fail(`on the quantized base the adapter barely changes llama.cpp's output: max |Δ log p| ${r.quant.changed.toExponential(3)}`);
  }
  if (f32base) {
    const limit = arch === "gemma3" ? tolerance.gemma3F32 : tolerance.F32;
    r.f32 = { ...(await compare(bin, f32base, adapter, ids)), limit };
    if (!(r.f32.dAdapter <= limit)) {
      throw fail(`F32 twin with the adapter, webtune vs llama.cpp: max |Δ log p| ${r.f32.dAdapter.toExponential(3)} > ${limit}`);
    }
    if (!(r.f32.changed > limit && r.f32.changed > 5 * r.f32.dAdapter)) {
      throw fail(`F32 twin: the adapter barely changes llama.cpp's output (max |Δ log p| ${r.f32.changed.toExponential(3)}, agreement ${r.f32.dAdapter.toExponential(2)})`);
    }
  }
  return r;
}
