//go:build !(js && wasm)

package simd

import "fmt"

// Outside GOOS=js the element-wise functions report false and do nothing:
// callers run their scalar Go code (see elem_js.go).

// SetElementwise has no effect here; it returns false.
func SetElementwise(on bool) bool { return false }

// ElementwiseAvailable returns an error wrapping ErrUnavailable.
func ElementwiseAvailable() error {
	return fmt.Errorf("simd: not GOOS=js: %w", ErrUnavailable)
}

func SwiGLUForward(out, gate, up []float32) bool { return false }

func SwiGLUBackward(dgate, dup, dout, gate, up []float32) bool { return false }

func SoftmaxRows(a []float32, rows, ld, len0, width int) bool { return false }

func SoftmaxBackwardRows(p, d []float32, rows, ld, len0, cols int, scale float32) bool { return false }

func LogSumExpRows(lse, logits []float32, targets []int, v int) bool { return false }

func CrossEntropyGrad(dlogits, logits, lse []float32, targets []int, v int, dloss float32) bool {
	return false
}

func RMSNormForward(out, rstd, inp, weight []float32, n, c int, eps float32) bool { return false }

func RMSNormBackward(dinp, dweight, dout, inp, weight, rstd []float32, n, c int) bool { return false }

// DisableElementwise has no effect here.
func DisableElementwise(names ...string) {}
