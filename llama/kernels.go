package llama

import (
	"math"

	"github.com/webtune/webtune/tensor"
)

// encoderForward looks up token embeddings.
//
//	out    [N, C]
//	tokens [N]
//	wte    [V, C]
func encoderForward[T tensor.Numeric](out []T, tokens []int, wte []T, C int) {
	for n, tok := range tokens {
		copy(out[n*C:(n+1)*C], wte[tok*C:(tok+1)*C])
	}
}

// encoderBackward accumulates the embedding gradient: dwte[tok] += dout[n].
func encoderBackward[T tensor.Numeric](dwte, dout []T, tokens []int, C int) {
	for n, tok := range tokens {
		dw := dwte[tok*C : (tok+1)*C]
		d := dout[n*C : (n+1)*C]
		for i := range dw {
			dw[i] += d[i]
		}
	}
}

// rmsnormForward computes out = x·s·w per row with s = 1/√(mean(x²)+eps),
// summing squares in float64 as ggml's rms_norm does, and keeps s for the
// backward pass.
//
//	out, inp [N, C]
//	rstd     [N]
//	weight   [C]
func rmsnormForward[T tensor.Numeric](out, rstd, inp, weight []T, N, C int, eps float32) {
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

// rmsnormBackward accumulates dinp and (when dweight is not nil) dweight:
//
//	dx_i += s·w_i·dy_i − s³/C · x_i · Σ_j dy_j·w_j·x_j
//	dw_i += Σ_n dy_i·x_i·s
func rmsnormBackward[T tensor.Numeric](dinp, dweight, dout, inp, weight, rstd []T, N, C int) {
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

// ropeCache fills cos and sin ([P, HS/2], positions 0..P-1) as ggml's
// ggml_rope_cache_init with freq_scale 1 and ext_factor 0: the angle is
// built in float32 by repeated multiplication with powf(base, -2/HS), and
// divided by the optional per-pair frequency factor (rope_freqs.weight).
func ropeCache[T tensor.Numeric](cos, sin []T, P, HS int, base float32, freqFactors []float32) {
	half := HS / 2
	thetaScale := float32(math.Pow(float64(base), float64(float32(-2)/float32(HS)))) // powf(base, -2.0f/n_dims)
	for p := 0; p < P; p++ {
		theta := float32(p)
		for i := 0; i < half; i++ {
			th := theta
			if freqFactors != nil {
				th = theta / freqFactors[i]
			}
			cos[p*half+i] = T(float32(math.Cos(float64(th))))
			sin[p*half+i] = T(float32(math.Sin(float64(th))))
			theta *= thetaScale
		}
	}
}

// ropeForward rotates adjacent pairs of every head (ggml rope NORM mode):
//
//	out[2i]   = x[2i]·cos − x[2i+1]·sin
//	out[2i+1] = x[2i]·sin + x[2i+1]·cos
//
// for the angle of position pos0+t. out may alias inp.
//
//	out, inp [B, T, NH, HS]
//	cos, sin [P, HS/2] with P ≥ pos0+T
func ropeForward[T tensor.Numeric](out, inp, cos, sin []T, B, Tn, NH, HS, pos0 int) {
	half := HS / 2
	for b := 0; b < B; b++ {
		for t := 0; t < Tn; t++ {
			c := cos[(pos0+t)*half : (pos0+t+1)*half]
			s := sin[(pos0+t)*half : (pos0+t+1)*half]
			row := (b*Tn + t) * NH * HS
			for h := 0; h < NH; h++ {
				x := inp[row+h*HS : row+(h+1)*HS]
				y := out[row+h*HS : row+(h+1)*HS]
				for i := 0; i < half; i++ {
					x0, x1 := x[2*i], x[2*i+1]
					y[2*i] = x0*c[i] - x1*s[i]
					y[2*i+1] = x0*s[i] + x1*c[i]
				}
			}
		}
	}
}

// ropeBackward accumulates dinp += Rᵀ·dout (the inverse rotation).
func ropeBackward[T tensor.Numeric](dinp, dout, cos, sin []T, B, Tn, NH, HS, pos0 int) {
	half := HS / 2
	for b := 0; b < B; b++ {
		for t := 0; t < Tn; t++ {
			c := cos[(pos0+t)*half : (pos0+t+1)*half]
			s := sin[(pos0+t)*half : (pos0+t+1)*half]
			row := (b*Tn + t) * NH * HS
			for h := 0; h < NH; h++ {
				dy := dout[row+h*HS : row+(h+1)*HS]
				dx := dinp[row+h*HS : row+(h+1)*HS]
				for i := 0; i < half; i++ {
					d0, d1 := dy[2*i], dy[2*i+1]
					dx[2*i] += d0*c[i] + d1*s[i]
					dx[2*i+1] += -d0*s[i] + d1*c[i]
				}
			}
		}
	}
}

// swigluForward computes out = silu(gate)·up, silu(g) = g/(1+e^(−g)).
//
//	out, gate, up [N·F]
func swigluForward[T tensor.Numeric](out, gate, up []T) {
	if fastSwigluForward(out, gate, up) {
		return
	}
	for i, g := range gate {
		out[i] = g / (1 + T(math.Exp(float64(-g)))) * up[i]
	}
}

// swigluBackward accumulates dgate += dout·up·silu'(g) and dup += dout·silu(g)
// with silu'(g) = σ(g)·(1 + g·(1−σ(g))).
func swigluBackward[T tensor.Numeric](dgate, dup, dout, gate, up []T) {
	if fastSwigluBackward(dgate, dup, dout, gate, up) {
		return
	}
	for i, g := range gate {
		sig := 1 / (1 + T(math.Exp(float64(-g))))
		dgate[i] += dout[i] * up[i] * sig * (1 + g*(1-sig))
		dup[i] += dout[i] * g * sig
	}
}

// residualForward computes out = a + b (out may alias a).
func residualForward[T tensor.Numeric](out, a, b []T) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// residualBackward accumulates da += dout and db += dout.
func residualBackward[T tensor.Numeric](da, db, dout []T) {
	for i, d := range dout {
		da[i] += d
		db[i] += d
	}
}
