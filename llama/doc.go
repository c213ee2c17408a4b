// Package llama is a causal language model of the llama family and its
// relatives (qwen2, qwen3; arch.go maps general.architecture to each
// family's Recipe) that matches llama.cpp's forward pass: configuration
// from GGUF metadata, loading and saving GGUF weights, forward, backward
// (LoRA and full fine-tuning), a KV cache for generation, and sampling.
// The per-op forward/backward pairs live in package kernels; this package
// composes them into blocks.
//
// Storage is row-major throughout. Weights are [out, in] in memory; a GGUF
// tensor with ne [in, out] holds the same bytes. Inside kernels the
// dimension letters are:
//
//	B   batch (sequences)
//	T   sequence length (tokens per sequence; Tq new queries, Tk keys)
//	C   embedding width (llama.embedding_length)
//	V   vocabulary size
//	NH  query heads (llama.attention.head_count)
//	NKV key/value heads (llama.attention.head_count_kv); query head h uses
//	    kv head h/(NH/NKV) (grouped-query attention)
//	HS  head size (llama.rope.dimension_count)
//	F   feed-forward width (llama.feed_forward_length)
//
// One block, as llama.cpp's llm_build_llama (src/models/llama.cpp):
//
//	h   = x + Wo·attn(rope(Wq·rms(x)·g1), rope(Wk·rms(x)·g1), Wv·rms(x)·g1)
//	out = h + Wdown·(silu(Wgate·rms(h)·g2) ⊙ Wup·rms(h)·g2)
//
// with rms(x) = x/√(mean(x²)+eps) (sum of squares in float64 as ggml),
// rope in NORM mode (adjacent pairs (x[2i], x[2i+1]) rotated by
// pos·base^(-2i/HS), the angle built in float32 exactly as ggml's rope
// cache; Llama 3's rope_freqs.weight divides each pair's angle, linear
// rope scaling multiplies it), causal softmax attention with scale 1/√HS,
// and logits = Wout·rms(x_L)·g (Wout = token_embd when output.weight is
// absent).
//
// The other families change the block at three points: qwen2 adds biases
// to Wq·x, Wk·x, Wv·x (llama.cpp accepts them on llama and qwen3 too);
// qwen3 applies a per-head RMSNorm with its own [HS] weight to q and k
// before rope (attn_q_norm, attn_k_norm); both rotate NEOX pairs (x[i],
// x[i+HS/2]). The head size is attention.key_length, which need not be
// C/NH (llama.cpp src/models/qwen2.cpp, qwen3.cpp). docs/llama-families.md
// lists every key, tensor and step of these families as llama.cpp runs
// them, and how to add a family.
//
// gemma3 (src/models/gemma3.cpp; docs/gemma3.md has every detail) adds to
// qwen3's q/k norms: embeddings times √C; RMSNorms on the attention and
// feed-forward outputs before they join the residual stream
// (post_attention_norm, post_ffw_norm); a GELU-tanh gated feed-forward
// network; sliding-window layers (all but every SlidingWindowPattern-th)
// whose queries see only the last SlidingWindow positions and whose rope
// uses rope.freq_base_swa, unscaled; an optional final logit softcap.
// Under MatchGGML its GELU goes through ggml's F16 table (emulate.go).
//
// Agreement with llama.cpp (node-llama-cpp 3.21.1, F32 KV cache): next-token
// log-probs within ~2e-6 for F32 weights, also with a LoRA adapter on every
// target; the same for F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K
// weights (not Q4_1/Q5_1: ~1e-2) when loaded with LoadOptions.MatchGGML,
// which rounds each layer input the way ggml's CPU matmul converts
// activations (emulate.go). internal/genmodel writes such models with our
// log-probs for that comparison.
//
// Use: Load (or NewRandom) gives a frozen model; lora.InjectLoRA wraps its
// linear layers (Layers/ReplaceLayer), or SetTrainable(true) unfreezes every
// weight for full fine-tuning. ForwardBackward accumulates gradients of the
// mean next-token cross-entropy into Parameters(); Session/Generate run
// incremental decoding with a KV cache. A Model keeps the activations of
// its last Forward and is not safe for concurrent use.
//
// Sources: llama.cpp src/models/llama.cpp, src/llama-graph.cpp,
// ggml/src/ggml-cpu/ops.cpp (rms_norm, rope, soft_max); karpathy's llm.c for
// the forward/backward kernel pairs.
package llama
