//go:build js && wasm

package kernels

import (
	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/wasm/simd"
)

func init() {
	testStridedEngine = func() tensor.Engine[float32] {
		if e, err := simd.New[float32](); err == nil {
			return e
		}
		return tensor.NewBlocked[float32]()
	}
}
