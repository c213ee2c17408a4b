// Package gpu routes the frozen products of a training step to the page's
// WebGPU engine (web/gpu/engine.js) from the wasm build: Wrap returns an
// engine that keeps every quant.Matrix it meets resident on the GPU in its
// stored GGUF type (uploaded on first use, freed when the matrix is
// collected) and runs x·Wᵀ and dy·W there (quant.Offloader), and does the
// same for NF4 (QLoRA) weights (nn.NF4Engine, rows packed by PackNF4Rows);
// everything else — float32 products, LoRA, attention, norms — still runs
// on the wrapped WebAssembly engine. A product the GPU cannot take (a row over the
// binding limit, a lost device) falls back to the CPU, counted in Stats.
//
// The training worker exposes the opened engine as globalThis.webtuneGPU
// only when the page's engine choice is "webgpu"; without it (and outside
// GOOS=js) Wrap returns its argument. docs/webgpu.md describes the design
// and what is not on the GPU yet.
package gpu
