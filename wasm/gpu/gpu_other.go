//go:build !(js && wasm)

package gpu

import "github.com/webtune/webtune/tensor"

// Wrap returns e: WebGPU exists only in the browser build.
func Wrap(e tensor.Engine[float32]) tensor.Engine[float32] { return e }
