// Package train runs causal-LM fine-tuning on text: LoRA/QLoRA adapters or
// every weight of a llama model (whatever the model's Parameters() return).
//
// The data path: text → token ids (tokenizer, BOS as llama.cpp adds it) →
// a training stream and a held-out tail (Config.EvalFraction) → windows of
// SeqLen+1 tokens every Stride tokens (inputs are the first SeqLen, targets
// the last SeqLen) → per epoch a seeded permutation of the training windows →
// micro-batches of Batch windows, GradAccum micro-batches per optimizer step.
//
// One optimizer step (Run.Step):
//
//	g = (1/GradAccum) Σ_k ∇ mean-CE(micro-batch k)
//	g ← g · min(1, ClipNorm/‖g‖₂)            (global norm over all trainable tensors)
//	lr(s) = LR·(s+1)/Warmup                   for s < Warmup
//	lr(s) = MinLR + ½(LR−MinLR)(1+cos(π·(s−Warmup)/(Steps−Warmup)))   after
//	AdamW(lr) on the trainable parameters
//
// A step whose loss or gradient norm is not finite is not applied: Step
// returns an error wrapping ErrNonFinite and the parameters stay those of
// the last good step (save them as the adapter).
//
// Everything a run depends on is deterministic given Config.Seed: a run
// restored from a checkpoint (Run.Checkpoint / Run.Restore: parameters,
// AdamW moments and step, data position, counters) produces exactly the
// losses of an uninterrupted one. Run.Step does one step and returns, so a
// browser can drive a run one step per event-loop turn, pause and resume;
// Run.Run loops until the end, a context cancellation or an error.
//
// Sources: AdamW (Loshchilov & Hutter, torch.optim.AdamW), SGDR cosine decay
// with linear warm-up (as in HF transformers' get_cosine_schedule_with_warmup),
// karpathy's llm.c training loop.
package train
