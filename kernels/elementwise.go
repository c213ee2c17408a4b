package kernels

import (
	"math"

	"github.com/webtune/webtune/tensor"
)

// EncoderForward looks up token embeddings.
//
//	out    [N, C]
//	tokens [N]
//	wte    [V, C]
func EncoderForward[T tensor.Numeric](out []T, tokens []int, wte []T, C int) {
	for n, tok := range tokens {
		copy(out[n*C:(n+1)*C], wte[tok*C:(tok+1)*C])
	}
}

// EncoderBackward accumulates the embedding gradient: dwte[tok] += dout[n].
func EncoderBackward[T tensor.Numeric](dwte, dout []T, tokens []int, C int) {
	for n, tok := range tokens {
		dw := dwte[tok*C : (tok+1)*C]
		d := dout[n*C : (n+1)*C]
		for i := range dw {
			dw[i] += d[i]
		}
	}
}

// ResidualForward computes out = a + b (out may alias a).
func ResidualForward[T tensor.Numeric](out, a, b []T) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// ResidualBackward accumulates da += dout and db += dout.
func ResidualBackward[T tensor.Numeric](da, db, dout []T) {
	for i, d := range dout {
		da[i] += d
		db[i] += d
	}
}

// BiasForward adds bias to every row of x in place: x[n, c] += bias[c]
// (qwen2's attn_q/attn_k/attn_v biases).
//
//	x    [N, C]
//	bias [C]
func BiasForward[T tensor.Numeric](x, bias []T, N, C int) {
	for n := 0; n < N; n++ {
		row := x[n*C : (n+1)*C]
		for i, b := range bias[:C] {
			row[i] += b
		}
	}
}

// BiasBackward accumulates dbias[c] += Σ_n dout[n, c]. The input gradient
// of a bias add is dout itself.
func BiasBackward[T tensor.Numeric](dbias, dout []T, N, C int) {
	for n := 0; n < N; n++ {
		row := dout[n*C : (n+1)*C]
		for i, d := range row {
			dbias[i] += d
		}
	}
}

// SwiGLUForward computes out = silu(gate)·up, silu(g) = g/(1+e^(−g)).
//
//	out, gate, up [N·F]
func SwiGLUForward[T tensor.Numeric](out, gate, up []T) {
	if fastSwigluForward(out, gate, up) {
		return
	}
	for i, g := range gate {
		out[i] = g / (1 + T(math.Exp(float64(-g)))) * up[i]
	}
}

// SwiGLUBackward accumulates dgate += dout·up·silu'(g) and dup +=
// dout·silu(g) with silu'(g) = σ(g)·(1 + g·(1−σ(g))).
func SwiGLUBackward[T tensor.Numeric](dgate, dup, dout, gate, up []T) {
	if fastSwigluBackward(dgate, dup, dout, gate, up) {
		return
	}
	for i, g := range gate {
		sig := 1 / (1 + T(math.Exp(float64(-g))))
		dgate[i] += dout[i] * up[i] * sig * (1 + g*(1-sig))
		dup[i] += dout[i] * g * sig
	}
}

// geluC is √(2/π), the constant of GELU's tanh approximation.
var geluC = math.Sqrt(2 / math.Pi)

// GELUForward computes y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (the tanh
// approximation: GPT-2, PyTorch's approximate="tanh", ggml_gelu), in
// float64 per element.
//
//	y, x [N]
func GELUForward[T tensor.Numeric](y, x []T) {
	for i, v := range x {
		f := float64(v)
		y[i] = T(0.5 * f * (1 + math.Tanh(geluC*(f+0.044715*f*f*f))))
	}
}

// geluGrad returns GELU'(x) = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 +
// 3·0.044715x²), u = √(2/π)(x + 0.044715x³).
func geluGrad(f float64) float64 {
	t := math.Tanh(geluC * (f + 0.044715*f*f*f))
	return 0.5*(1+t) + 0.5*f*(1-t*t)*geluC*(1+3*0.044715*f*f)
}

// GELUBackward accumulates dx += dy·GELU'(x).
func GELUBackward[T tensor.Numeric](dx, dy, x []T) {
	for i, v := range x {
		dx[i] += dy[i] * T(geluGrad(float64(v)))
	}
}

// GeGLUForward computes out = gelu(gate)·up (gemma's gated feed-forward,
// llama.cpp's LLM_FFN_GELU with LLM_FFN_PAR).
//
//	out, gate, up [N·F]
func GeGLUForward[T tensor.Numeric](out, gate, up []T) {
	GELUForward(out, gate)
	for i, u := range up {
		out[i] *= u
	}
}

// GeGLUBackward accumulates dgate += dout·up·gelu'(g) and dup +=
// dout·gelu(g).
func GeGLUBackward[T tensor.Numeric](dgate, dup, dout, gate, up []T) {
	for i, g := range gate {
		f := float64(g)
		gl := 0.5 * f * (1 + math.Tanh(geluC*(f+0.044715*f*f*f)))
		dgate[i] += dout[i] * up[i] * T(geluGrad(f))
		dup[i] += dout[i] * T(gl)
	}
}
