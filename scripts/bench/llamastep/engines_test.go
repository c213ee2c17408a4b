//go:build !(js && wasm)

package llamastep

import "github.com/webtune/webtune/tensor"

func engines() []tensor.Engine[float32] {
	return []tensor.Engine[float32]{tensor.NewCPU[float32](), tensor.NewBlocked[float32]()}
}
