package kernels

import (
	"math"

	"github.com/webtune/webtune/tensor"
)

// RMSNormForward computes out = x·s·w per row with s = 1/√(mean(x²)+eps),
// summing squares in float64 as ggml's rms_norm does (mean and eps then
// added in T), and keeps s for the backward pass.
//
//	out, inp [N, C]
//	rstd     [N]
//	weight   [C]
//
// A per-head norm (qwen3's and gemma3's attn_q_norm/attn_k_norm, one [HS]
// weight shared by every head) is this kernel on the rows of the heads:
// N·NH rows of C = HS.
func RMSNormForward[T tensor.Numeric](out, rstd, inp, weight []T, N, C int, eps float32) {
	if fastRMSNormForward(out, rstd, inp, weight, N, C, eps) {
		return
	}
	for n := 0; n < N; n++ {
		x := inp[n*C : (n+1)*C]
		var sum float64
		for _, v := range x {
			sum += float64(v * v)
		}
		mean := T(sum / float64(C))
		s := 1 / T(math.Sqrt(float64(mean+T(eps))))
		rstd[n] = s
		y := out[n*C : (n+1)*C]
		for i, v := range x {
			y[i] = v * s * weight[i]
		}
	}
}

// RMSNormBackward accumulates dinp and dweight (either may be nil: not
// computed) from the s that RMSNormForward kept:
//
//	dx_i += s·w_i·dy_i − s³/C · x_i · Σ_j dy_j·w_j·x_j
//	dw_i += Σ_n dy_i·x_i·s
func RMSNormBackward[T tensor.Numeric](dinp, dweight, dout, inp, weight, rstd []T, N, C int) {
	if fastRMSNormBackward(dinp, dweight, dout, inp, weight, rstd, N, C) {
		return
	}
	for n := 0; n < N; n++ {
		x := inp[n*C : (n+1)*C]
		dy := dout[n*C : (n+1)*C]
		s := rstd[n]
		if dinp != nil {
			var dot T
			for i := range x {
				dot += dy[i] * weight[i] * x[i]
			}
			k := s * s * s * dot / T(C)
			dx := dinp[n*C : (n+1)*C]
			for i := range x {
				dx[i] += s*weight[i]*dy[i] - k*x[i]
			}
		}
		if dweight != nil {
			for i := range x {
				dweight[i] += dy[i] * x[i] * s
			}
		}
	}
}
