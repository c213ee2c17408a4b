package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the reference c = alpha·op(a)·op(b) + beta·c in float64.
func naiveGemm(transA, transB bool, m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				av := a[i*k+p]
				if transA {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if transB {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			c[i*n+j] = alpha*s + beta*c[i*n+j]
		}
	}
}

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.Float64()*2 - 1
	}
	return s
}

var gemmSizes = []struct{ m, n, k int }{
	{1, 1, 1}, {2, 3, 4}, {5, 1, 7}, {7, 6, 1}, {17, 33, 9}, {64, 70, 65}, {3, 4, 0}, {0, 4, 3},
}

func testGemm[T Numeric](t *testing.T, tol float64) {
	e := NewCPU[T]()
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range gemmSizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				a, b, c := randSlice(r, sz.m*sz.k), randSlice(r, sz.k*sz.n), randSlice(r, sz.m*sz.n)
				at, bt, ct := make([]T, len(a)), make([]T, len(b)), make([]T, len(c))
				Convert(at, a)
				Convert(bt, b)
				Convert(ct, c)
				alpha, beta := 1.5, 0.5
				naiveGemm(ta, tb, sz.m, sz.n, sz.k, alpha, a, b, beta, c)
				e.Gemm(ta, tb, sz.m, sz.n, sz.k, T(alpha), at, bt, T(beta), ct)
				for i := range c {
					if d := math.Abs(float64(ct[i]) - c[i]); d > tol*(1+math.Abs(c[i])) {
						t.Fatalf("m=%d n=%d k=%d transA=%v transB=%v: c[%d] = %g, want %g",
							sz.m, sz.n, sz.k, ta, tb, i, ct[i], c[i])
					}
				}
			}
		}
	}
}

func TestGemmFloat32(t *testing.T) { testGemm[float32](t, 1e-5) }
func TestGemmFloat64(t *testing.T) { testGemm[float64](t, 1e-13) }

// TestGemmNamedType checks that a named ~float32 type takes the Sgemm path.
func TestGemmNamedType(t *testing.T) {
	type f32 float32
	testGemm[f32](t, 1e-5)
	if NewCPU[f32]().Name() != "cpu" {
		t.Fatal("name")
	}
}

func TestGemmBetaZeroIgnoresNaN(t *testing.T) {
	e := NewCPU[float64]()
	c := []float64{math.NaN()}
	e.Gemm(false, false, 1, 1, 1, 1, []float64{2}, []float64{3}, 0, c)
	if c[0] != 6 {
		t.Fatalf("c = %v, want 6 (beta = 0 must overwrite)", c[0])
	}
}

func TestGemmShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a short slice")
		}
	}()
	NewCPU[float32]().Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), make([]float32, 4), 0, make([]float32, 4))
}
