package core

import (
	"sync"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tensor"
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
// (llama.DefaultEngine). It is chosen once.
func Engine() tensor.Engine[float32] {
	engineOnce.Do(func() {
		e, err := simd.New[float32]()
		if err != nil {
			e = llama.DefaultEngine[float32]()
		}
		engine = e
	})
	return engine
}
