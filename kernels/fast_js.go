//go:build js && wasm

package kernels

import (
	"math"
	"unsafe"

	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/wasm/simd"
)

// In the browser Go's math.Exp is a float64 software routine (wasm has no
// exp instruction) and costs about 30 ns; the element-wise kernels around
// the SIMD matmuls (SwiGLU, the attention softmax, cross-entropy) spent
// about half of a reference llama training step in it. For float32 data
// these hooks run the kernels with expf32, a float32 exp (Cephes' expf:
// Cody–Waite reduction, degree-6 polynomial, about 1 ulp), in non-generic
// float32 loops. float64 data keeps the generic kernels (the hooks return
// false), as does every other GOOS/GOARCH (fast_other.go).
//
// Where the host has WebAssembly SIMD, the whole-matrix hooks (SwiGLU,
// cross-entropy, RMSNorm, and the causal attention's softmax rows) first
// try package simd's element-wise module, which computes the same float32
// exponential bit for bit four lanes at a time (math.Exp still handles the
// arguments outside [−87, 88] and NaN); only its reductions sum in another
// order (wasm/simd/elem.go). They fall back to the scalar loops below when
// the module is unavailable.

func asF32[T tensor.Numeric](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func is32[T tensor.Numeric]() bool {
	var zero T
	return unsafe.Sizeof(zero) == 4
}

const (
	expLog2e   = 1.44269504088896341
	expC1      = 0.693359375
	expC2      = -2.12194440e-4
	expShifter = 12582912 // 1.5·2²³: adding it rounds to an integer
)

// expf32 returns e^x in float32 (simd.Expf32: within about 1 ulp of the
// correctly rounded value; math.Exp out of [-87, 88] and for NaN).
func expf32(x float32) float32 { return simd.Expf32(x) }

// expShift sets dst[i] = expf32(sign·(src[i]−sub)) with simd.Expf32's body
// inlined (Go's inliner refuses it, and a call per element costs about as
// much as the exp itself in wasm; TestExpf32 checks the two agree bit for
// bit). dst may alias src.
func expShift(dst, src []float32, sub, sign float32) {
	src = src[:len(dst)]
	for i, x := range src {
		x = (x - sub) * sign
		if !(x >= -87 && x <= 88) {
			dst[i] = float32(math.Exp(float64(x)))
			continue
		}
		k := x*expLog2e + expShifter
		n := int32(math.Float32bits(k)) - int32(math.Float32bits(expShifter))
		kf := k - expShifter
		r := x - kf*expC1
		r -= kf * expC2
		p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
		p = p*r*r + r + 1
		dst[i] = p * math.Float32frombits(uint32(n+127)<<23)
	}
}

// chunk is the length of the stack buffers the kernels below compute
// exponentials into.
const chunk = 512

func fastSwigluForward[T tensor.Numeric](out, gate, up []T) bool {
	if !is32[T]() {
		return false
	}
	o, g, u := asF32(out), asF32(gate), asF32(up)
	if simd.SwiGLUForward(o, g, u) {
		return true
	}
	var buf [chunk]float32
	for c := 0; c < len(g); c += chunk {
		gc := g[c:min(c+chunk, len(g))]
		e := buf[:len(gc)]
		expShift(e, gc, 0, -1)
		oc, uc := o[c:c+len(gc)], u[c:c+len(gc)]
		for i, x := range gc {
			oc[i] = x / (1 + e[i]) * uc[i]
		}
	}
	return true
}

func fastSwigluBackward[T tensor.Numeric](dgate, dup, dout, gate, up []T) bool {
	if !is32[T]() {
		return false
	}
	dg, du, do, g, u := asF32(dgate), asF32(dup), asF32(dout), asF32(gate), asF32(up)
	if simd.SwiGLUBackward(dg, du, do, g, u) {
		return true
	}
	var buf [chunk]float32
	for c := 0; c < len(g); c += chunk {
		gc := g[c:min(c+chunk, len(g))]
		e := buf[:len(gc)]
		expShift(e, gc, 0, -1)
		n := len(gc)
		dgc, duc, doc, uc := dg[c:c+n], du[c:c+n], do[c:c+n], u[c:c+n]
		for i, x := range gc {
			sig := 1 / (1 + e[i])
			dgc[i] += doc[i] * uc[i] * sig * (1 + x*(1-sig))
			duc[i] += doc[i] * x * sig
		}
	}
	return true
}

// fastExpShiftSum sets row[i] = e^(row[i]−m) and returns Σ row[i] in float64.
func fastExpShiftSum[T tensor.Numeric](row []T, m T) (float64, bool) {
	if !is32[T]() {
		return 0, false
	}
	r := asF32(row)
	expShift(r, r, float32(m), 1)
	var sum float64
	for _, e := range r {
		sum += float64(e)
	}
	return sum, true
}

// fastExpSum64 returns Σ e^(row[i]−m) in float64.
func fastExpSum64[T tensor.Numeric](row []T, m T) (float64, bool) {
	if !is32[T]() {
		return 0, false
	}
	r := asF32(row)
	var buf [chunk]float32
	var sum float64
	for c := 0; c < len(r); c += chunk {
		e := buf[:min(chunk, len(r)-c)]
		expShift(e, r[c:], float32(m), 1)
		for _, v := range e {
			sum += float64(v)
		}
	}
	return sum, true
}

// fastAddScaledExp does d[i] += scale·e^(row[i]−sub).
func fastAddScaledExp[T tensor.Numeric](d, row []T, sub, scale T) bool {
	if !is32[T]() {
		return false
	}
	df, r, cf := asF32(d), asF32(row), float32(scale)
	var buf [chunk]float32
	for c := 0; c < len(df); c += chunk {
		e := buf[:min(chunk, len(df)-c)]
		expShift(e, r[c:], float32(sub), 1)
		dc := df[c : c+len(e)]
		for i, v := range e {
			dc[i] += cf * v
		}
	}
	return true
}

// fastMax returns the largest element of a non-empty row (NaN if there is
// one), with a compare instead of the builtin max's NaN and signed-zero
// handling per element.
func fastMax[T tensor.Numeric](row []T) (T, bool) {
	if !is32[T]() {
		return 0, false
	}
	r := asF32(row)
	m := r[0]
	for _, x := range r {
		if !(x <= m) {
			if x != x {
				return T(x), true
			}
			m = x
		}
	}
	return T(m), true
}

// fastCrossEntropyForward is CrossEntropyForward on the element-wise
// module: every counted row's log-sum-exp in one call.
func fastCrossEntropyForward[T tensor.Numeric](losses, lse, logits []T, targets []int, N, V int) (int, bool) {
	if !is32[T]() || !simd.LogSumExpRows(asF32(lse[:N]), asF32(logits[:N*V]), targets[:N], V) {
		return 0, false
	}
	count := 0
	for n, t := range targets[:N] {
		if t < 0 {
			losses[n] = 0
			continue
		}
		losses[n] = lse[n] - logits[n*V+t]
		count++
	}
	return count, true
}

// fastCrossEntropyBackward is CrossEntropyBackward on the element-wise
// module (one call for all rows).
func fastCrossEntropyBackward[T tensor.Numeric](dlogits, logits, lse []T, targets []int, N, V int, dloss T) bool {
	return is32[T]() && simd.CrossEntropyGrad(asF32(dlogits[:N*V]), asF32(logits[:N*V]), asF32(lse[:N]), targets[:N], V, float32(dloss))
}

// fastRMSNormForward is RMSNormForward on the element-wise module.
func fastRMSNormForward[T tensor.Numeric](out, rstd, inp, weight []T, N, C int, eps float32) bool {
	return is32[T]() && simd.RMSNormForward(asF32(out), asF32(rstd), asF32(inp), asF32(weight), N, C, eps)
}

// fastRMSNormBackward is RMSNormBackward on the element-wise module.
func fastRMSNormBackward[T tensor.Numeric](dinp, dweight, dout, inp, weight, rstd []T, N, C int) bool {
	if !is32[T]() {
		return false
	}
	var dx, dw []float32
	if dinp != nil {
		dx = asF32(dinp)
	}
	if dweight != nil {
		dw = asF32(dweight)
	}
	return simd.RMSNormBackward(dx, dw, asF32(dout), asF32(inp), asF32(weight), asF32(rstd), N, C)
}
