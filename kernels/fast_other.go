//go:build !(js && wasm)

package kernels

import "github.com/webtune/webtune/tensor"

// Outside js/wasm the fast* hooks do nothing (they report false): the
// kernels keep their float64 math.Exp loops and full attention products,
// whose results the llama.cpp agreement tests pin down. See fast_js.go and
// attention_causal_js.go.

func fastSwigluForward[T tensor.Numeric](out, gate, up []T) bool { return false }

func fastSwigluBackward[T tensor.Numeric](dgate, dup, dout, gate, up []T) bool { return false }

func fastExpShiftSum[T tensor.Numeric](row []T, m T) (float64, bool) { return 0, false }

func fastExpSum64[T tensor.Numeric](row []T, m T) (float64, bool) { return 0, false }

func fastAddScaledExp[T tensor.Numeric](d, row []T, sub, scale T) bool { return false }

func fastMax[T tensor.Numeric](row []T) (T, bool) { return 0, false }

func fastAttentionForwardOn[T tensor.Numeric](e tensor.Engine[T], out, att, q, k, v []T, sh Attn) bool {
	return false
}

func fastAttentionBackwardOn[T tensor.Numeric](e tensor.Engine[T], dq, dk, dv, dout, q, k, v, att []T, sh Attn) bool {
	return false
}

func fastCrossEntropyForward[T tensor.Numeric](losses, lse, logits []T, targets []int, N, V int) (int, bool) {
	return 0, false
}

func fastCrossEntropyBackward[T tensor.Numeric](dlogits, logits, lse []T, targets []int, N, V int, dloss T) bool {
	return false
}

func fastRMSNormForward[T tensor.Numeric](out, rstd, inp, weight []T, N, C int, eps float32) bool {
	return false
}

func fastRMSNormBackward[T tensor.Numeric](dinp, dweight, dout, inp, weight, rstd []T, N, C int) bool {
	return false
}
