//go:build !(js && wasm)

package simd

import (
	"fmt"

	"github.com/webtune/webtune/tensor"
)

// New returns an error wrapping ErrUnavailable: the SIMD module runs only
// under GOOS=js GOARCH=wasm. Native code uses tensor.NewCPU.
func New[T tensor.Numeric]() (tensor.Engine[T], error) {
	return nil, fmt.Errorf("simd: not GOOS=js: %w", ErrUnavailable)
}

var _ = checkGemm
