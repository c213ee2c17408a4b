// Package llama is a llama-architecture causal language model that matches
// llama.cpp's forward pass: configuration from GGUF metadata, loading and
// saving GGUF weights, forward, backward (LoRA and full fine-tuning), a KV
// cache for generation, and sampling.
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
// cache), causal softmax attention with scale 1/√HS, and logits =
// Wout·rms(x_L)·g (Wout = token_embd when output.weight is absent).
//
// Sources: llama.cpp src/models/llama.cpp, src/llama-graph.cpp,
// ggml/src/ggml-cpu/ops.cpp (rms_norm, rope, soft_max); karpathy's llm.c for
// the forward/backward kernel pairs.
package llama
