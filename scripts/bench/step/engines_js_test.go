//go:build js && wasm

package step

import (
	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/wasm/simd"
)

func engines() []tensor.Engine[float32] {
	es := []tensor.Engine[float32]{tensor.NewCPU[float32]()}
	if e, err := simd.New[float32](); err == nil {
		es = append(es, e)
	}
	return es
}
