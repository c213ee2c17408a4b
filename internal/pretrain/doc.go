// Package pretrain trains a llama-architecture model from scratch on a text
// corpus: every weight (embeddings, norms, attention, feed-forward), with a
// tokenizer chosen by the model config — llama.cpp's minimal SentencePiece
// byte vocabulary (259 tokens + "▁") or a byte-level BPE vocabulary
// ("gpt2") learned from the corpus itself — and writes a GGUF that llama.cpp
// loads. It is the engine of `webtune pretrain` and of the built-in model
// (scripts/train-builtin.sh).
//
// Data layout: every non-empty line of the corpus is one document, tokenized
// as BOS · tokens(line) · EOS (EOS ends generation in llama.cpp), and the
// documents are concatenated into one stream that the train package cuts
// into windows of SeqLen+1 tokens (its tail held out for evaluation).
//
// Initialisation (seeded): linear layers U(±1/√in) (PyTorch's default),
// token embeddings N(0, 1/C) (tied head) or N(0, 0.02²), every RMSNorm weight 1,
// and the two projections that write into the residual stream (attn_output,
// ffn_down) scaled by 1/√(2L) as in GPT-2, so that the residual stream's
// variance does not grow with depth.
//
// Training is the train package's run over Model.Parameters() after
// SetTrainable(true): AdamW, linear warm-up then cosine decay, global-norm
// clipping, deterministic window order, checkpoint/resume.
package pretrain
