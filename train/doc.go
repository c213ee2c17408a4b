// Package train runs causal-LM fine-tuning on text: LoRA/QLoRA adapters or
// every weight of a llama model (whatever the model's Parameters() return).
//
// The data path: text → token ids (tokenizer, BOS as llama.cpp adds it) →
// a training stream and a held-out tail (Config.EvalFraction) → windows of
// SeqLen+1 tokens every Stride tokens (inputs are the first SeqLen, targets
// the last SeqLen) → per epoch a seeded permutation of the training windows →
// micro-batches of Batch windows, GradAccum micro-batches per optimizer step.
// A long text is read through TokenizeReader (streamed to the tokenizer in
// pieces, never held whole; the ids identical to Tokenize's) into Tokens,
// which hold 4 bytes per token in fixed blocks; NewTokens runs on them
// without copying, so a text of N tokens costs about 4·N bytes (plus 16·N/
// Stride for the windows and their permutation).
//
// One optimizer step (Run.Step):
//
//	g = (1/GradAccum) Σ_k ∇ mean-CE(micro-batch k)
//	g ← g · min(1, ClipNorm/‖g‖₂)            (global norm over all trainable tensors)
//	lr(s) = LR·(s+1)/Warmup                   for s < Warmup
//	lr(s) = MinLR + ½(LR−MinLR)(1+cos(π·(s−Warmup)/(Steps−Warmup)))   after
//	AdamW(lr) on the trainable parameters
//
// Divergence stops a run with an error and leaves it at the last good step
// (save its parameters as the adapter; a checkpoint resumes from there, for
// example with a lower learning rate). A step whose loss or gradient norm is
// not finite returns an error wrapping ErrNonFinite; one whose gradient is
// exactly 0 at a non-zero loss (silent divergence: float32 activations
// overflowed, the loss stays finite and nothing is learned any more) returns
// ErrDiverged. Either way the step is not applied, and since it condemns the
// parameters it measured, the update that produced them is undone as well
// (Step keeps the state before the last update in reused buffers): the run
// goes back one step, to parameters that measured a finite loss and a
// non-zero gradient. An update that itself makes a weight or the held-out
// loss non-finite is undone too (ErrNonFinite).
//
// Everything a run depends on is deterministic given Config.Seed and the
// model's own seeds: a run restored from a checkpoint (Run.Checkpoint /
// Run.Restore: parameters, AdamW moments and step, data position, counters;
// CRC-32C-checked) produces exactly the losses of an uninterrupted one.
// LoRA dropout masks are a function of (seed, step, micro-batch, row) (see
// Dropout), so they need no saved random state and data-parallel replicas
// draw a single run's masks. Run.Step does one step and returns, so a
// browser can drive a run one step per event-loop turn, pause and resume;
// Run.Run loops until the end, a context cancellation or an error.
//
// Sources: AdamW (Loshchilov & Hutter, torch.optim.AdamW), SGDR cosine decay
// with linear warm-up (as in HF transformers' get_cosine_schedule_with_warmup),
// karpathy's llm.c training loop.
package train
