package core

import (
	"sync"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/wasm/gpu"
	"github.com/webtune/webtune/wasm/simd"
)

var (
	engineOnce sync.Once
	engine     tensor.Engine[float32]
)

// Engine returns the engine every model, LoRA layer and Sequential of the
// bridge computes with: the WebAssembly SIMD engine (wasm/simd) in a
// browser that has SIMD and exposes Go's memory (globalThis.webtuneGoMemory
// or wasm_exec.js's instance), else the default pure-Go engine
// (llama.DefaultEngine). When the training worker opened WebGPU for the
// "webgpu" engine choice, the SIMD engine is wrapped so that the frozen
// quantized products run on the GPU (wasm/gpu). It is chosen once.
func Engine() tensor.Engine[float32] {
	engineOnce.Do(func() {
		e, err := simd.New[float32]()
		if err != nil {
			e = llama.DefaultEngine[float32]()
		}
		engine = gpu.Wrap(e)
	})
	return engine
}
