//go:build js && wasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/wasm/simd"
)

// The kernels with package simd's element-wise module against the same
// kernels with it turned off (the scalar float32 loops of fast_js.go): equal
// element by element where only element-wise work is involved, within the
// rounding of a reordered sum where a reduction is.

// withElem runs f with the element-wise module on or off.
func withElem(t *testing.T, on bool, f func()) {
	t.Helper()
	if err := simd.ElementwiseAvailable(); err != nil {
		t.Skip(err)
	}
	prev := simd.SetElementwise(on)
	defer simd.SetElementwise(prev)
	f()
}

func randF32(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s
}

func compareF32(t *testing.T, what string, got, want []float32, rel float64) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if g == w || g != g && w != w {
			continue
		}
		if !(math.Abs(float64(g-w)) <= rel*(1+math.Abs(float64(w)))) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, g, w)
		}
	}
}

func TestElemKernelsMatchScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const N, C, F, V = 37, 45, 67, 301
	x, w, dy := randF32(r, N*C, 2), randF32(r, C, 1), randF32(r, N*C, 1)
	g, u, dh := randF32(r, N*F, 3), randF32(r, N*F, 1), randF32(r, N*F, 1)
	g[3], g[10], g[11], g[20] = 95, -200, float32(math.NaN()), float32(math.Inf(-1))
	logits := randF32(r, N*V, 4)
	logits[5*V+7] = -150 // e^(x−max) below e^−87 in row 5
	targets := make([]int, N)
	for i := range targets {
		targets[i] = r.IntN(V)
	}
	targets[4] = -1
	type res struct {
		out, rstd, dx, dw, dx2, dw2, h, dg, du, losses, lse, dl []float32
		count                                                   int
	}
	run := func(on bool) (x2 res) {
		withElem(t, on, func() {
			x2 = res{out: make([]float32, N*C), rstd: make([]float32, N), dx: randF32(rand.New(rand.NewPCG(1, 1)), N*C, 1),
				dw: make([]float32, C), dx2: make([]float32, N*C), dw2: make([]float32, C),
				h: make([]float32, N*F), dg: make([]float32, N*F), du: make([]float32, N*F),
				losses: make([]float32, N), lse: make([]float32, N), dl: make([]float32, N*V)}
			RMSNormForward(x2.out, x2.rstd, x, w, N, C, 1e-5)
			RMSNormBackward(x2.dx, x2.dw, dy, x, w, x2.rstd, N, C)
			RMSNormBackward(x2.dx2, nil, dy, x, w, x2.rstd, N, C)
			RMSNormBackward(nil, x2.dw2, dy, x, w, x2.rstd, N, C)
			SwiGLUForward(x2.h, g, u)
			SwiGLUBackward(x2.dg, x2.du, dh, g, u)
			x2.count = CrossEntropyForward(x2.losses, x2.lse, logits, targets, N, V)
		})
		return x2
	}
	want, got := run(false), run(true)
	compareF32(t, "rstd", got.rstd, want.rstd, 1.2e-7)
	compareF32(t, "rmsnorm out", got.out, want.out, 2.4e-7)
	compareF32(t, "rmsnorm dinp", got.dx, want.dx, 1e-6)
	compareF32(t, "rmsnorm dinp (no dweight)", got.dx2, want.dx2, 1e-6)
	compareF32(t, "rmsnorm dweight", got.dw, want.dw, 1e-6)
	compareF32(t, "rmsnorm dweight (no dinp)", got.dw2, want.dw2, 1e-6)
	compareF32(t, "swiglu", got.h, want.h, 0)
	compareF32(t, "swiglu dgate", got.dg, want.dg, 0)
	compareF32(t, "swiglu dup", got.du, want.du, 0)
	if got.count != want.count || got.count != N-1 {
		t.Fatalf("count %d, want %d", got.count, want.count)
	}
	compareF32(t, "lse", got.lse, want.lse, 2.4e-7)
	compareF32(t, "losses", got.losses, want.losses, 1e-6)
	// the backward from the same lse: element by element equal
	for _, on := range []bool{false, true} {
		d := make([]float32, N*V)
		withElem(t, on, func() { CrossEntropyBackward(d, logits, want.lse, targets, N, V, 1/float32(N-1)) })
		if !on {
			want.dl = d
			continue
		}
		compareF32(t, "dlogits", d, want.dl, 0)
	}
}
