package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/internal/gradcheck"
)

// randSlice returns n values from N(0, sd²) (seeded).
func randSlice(r *rand.Rand, n int, sd float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.NormFloat64() * sd
	}
	return s
}

// checkGrad compares analytic with central finite differences of loss with
// respect to x (perturbed in place and restored) using the shared
// gradcheck helper (h 1e-5, relative error ≤ 1e-6).
func checkGrad(t *testing.T, name string, x, analytic []float64, loss func() float64) {
	t.Helper()
	worst := gradcheck.Check(t, loss, [][]float64{x}, [][]float64{analytic})
	if t.Failed() {
		t.Fatalf("gradient check of %s failed", name)
	}
	t.Logf("%s: %d entries, worst relative error %.2g", name, len(x), worst)
}

// dot returns Σ a_i·b_i: the scalar "loss" that projects an output on a
// random direction.
func dot(a, b []float64) float64 { return gradcheck.Dot(a, b) }

// at is the Attn of a shape with the default scale.
func at(B, Tq, Tk, NH, NKV, HS int) Attn {
	return Attn{B: B, Tq: Tq, Tk: Tk, NH: NH, NKV: NKV, HS: HS}
}
