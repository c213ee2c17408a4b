// Package core is the logic behind webtune's JavaScript API (wasm/bridge),
// kept free of syscall/js so that it builds and is tested natively and under
// GOOS=js alike. The bridge turns every exported method here into a
// Promise-returning JS function and does nothing else.
//
// A Model is a loaded base model (a family of package llama) with its tokenizer and,
// after InjectLoRA, LoRA layers (NF4 base under QLoRA). Its methods are safe
// for concurrent use: one mutex serialises everything that touches the
// weights, so a generation asked for during training runs between two
// optimizer steps. A Run drives train.Run one step at a time with Pause,
// Resume and Stop; Sequential is the tensor path of the published API (a
// small nn.Sequential MLP trained by lora.QLoRATrainer with MSE).
//
// Checkpoints (Model.Checkpoint) are self-contained: a small JSON header
// (LoRA and training options, the training text, the model's shape) and the
// train package's run state or, without a run, the adapter GGUF. Restore
// injects the LoRA layers the header names when needed and re-creates the
// run, so a page reloaded mid-run continues with the exact losses of an
// uninterrupted run.
//
// Errors meant for people go through Plain, which words the common failures
// (not a GGUF file, another architecture, too big for the browser, NaN loss)
// without Go package prefixes.
package core
