package kernels

import (
	"math"

	"github.com/webtune/webtune/tensor"
)

// SoftcapForward caps x in place at c·tanh(x/c) (Gemma 2/3's
// final_logit_softcapping), as ggml: scale by 1/c rounded to float32,
// tanh, scale by c.
//
//	x [N]
func SoftcapForward[T tensor.Numeric](x []T, c float32) {
	s, cc := T(1/c), T(c)
	for i, v := range x {
		x[i] = T(math.Tanh(float64(v*s))) * cc
	}
}

// SoftcapBackward turns dy into dx in place given the capped outputs y of
// SoftcapForward: dx = dy·c·s·(1 − (y/c)²) with s = 1/c as there.
//
//	dy, y [N]
func SoftcapBackward[T tensor.Numeric](dy, y []T, c float32) {
	s, cc := T(1/c), T(c)
	for i, v := range y {
		t := v / cc
		dy[i] *= cc * s * (1 - t*t)
	}
}
