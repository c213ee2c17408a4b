// Package kernels holds the forward/backward building blocks that every
// model family composes (llama, qwen2, qwen3, gemma3) and that package nn's
// layers use: RMSNorm (also per head), bias add, rope (NORM and NEOX
// layouts, frequency factors, linear scaling), SwiGLU, GELU-tanh and its
// gated form, causal grouped-query attention with its softmax (optionally
// limited to a sliding window), the final-logit softcap, cross-entropy and log-softmax, embedding lookup and residual adds. Each
// op is an xxxForward/xxxBackward pair over plain slices, as in karpathy's
// llm.c, generic over float32 (training) and float64 (gradient checks).
//
// The contract, for every kernel:
//
//   - Forward writes its outputs (it never reads them first) and keeps in
//     caller-owned buffers what the backward pass needs (RMSNorm's 1/rms,
//     attention's probabilities, cross-entropy's log-sum-exp).
//   - Backward accumulates: dx += ∂L/∂x and dw += ∂L/∂w for every gradient
//     slice it is given. Callers clear a buffer before the first kernel
//     that adds into it; a nil gradient slice is not computed.
//
// Storage is row-major. The dimension letters are:
//
//	N   rows (B·T tokens)
//	B   batch (sequences)
//	T   sequence length (Tq new queries, Tk keys)
//	C   row width (embedding, or HS for a per-head norm)
//	V   vocabulary size
//	NH  query heads; NKV key/value heads (query head h reads kv head
//	    h/(NH/NKV))
//	HS  head size
//	F   feed-forward width
//
// The arithmetic follows ggml's CPU backend where llama.cpp agreement
// depends on it (ggml/src/ggml-cpu/ops.cpp): RMSNorm sums squares in
// float64, rope builds its angles in float32 as ggml_rope_cache_init,
// softmax sums exponentials in float64.
//
// Under GOOS=js the float32 kernels run on package wasm/simd's element-wise
// module and a float32 exp (fast_js.go), and attention's per-head products
// in causal row blocks (attention_causal_js.go); everywhere else the fast
// hooks report false (fast_other.go).
package kernels
