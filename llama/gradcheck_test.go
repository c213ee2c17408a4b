package llama

import (
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/internal/gradcheck"
)

// randSlice returns n values from N(0, sd²) (seeded).
func randSlice(r *rand.Rand, n int, sd float64) []float64 { return gradcheck.Normal(r, n, sd) }

// checkGrad compares analytic with central finite differences of loss with
// respect to x (h 1e-5, relative error ≤ 1e-6; gradcheck.CheckOne).
func checkGrad(t *testing.T, name string, x, analytic []float64, loss func() float64) {
	t.Helper()
	gradcheck.CheckOne(t, name, x, analytic, loss)
}

// dot returns Σ a_i·b_i: the scalar "loss" that projects an output on a
// random direction.
func dot(a, b []float64) float64 { return gradcheck.Dot(a, b) }
