// Package enginetest is the conformance suite every tensor.Engine passes:
// the CPU engine (tensor.NewCPU), the native blocked engine and the
// browser's WebAssembly SIMD engine run the same checks against a float64
// reference product.
package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/tensor"
)

// Sizes are the (m, n, k) products checked: empty and unit sizes, every
// remainder of the 4×8 and 6×16 register tiles, and the shapes of a LoRA
// step (batch 256, 512×512 base, rank 8) scaled down to stay fast under
// wasm.
var Sizes = [][3]int{
	{1, 1, 1}, {2, 3, 4}, {5, 1, 7}, {7, 6, 1}, {3, 4, 0}, {0, 4, 3}, {4, 0, 3},
	{4, 8, 1}, {5, 9, 3}, {6, 16, 2}, {7, 17, 5}, {13, 31, 9}, {17, 33, 9},
	{64, 70, 65}, {64, 8, 128}, {8, 128, 64}, {128, 64, 8}, {67, 129, 130},
}

// Reference computes c = alpha·op(a)·op(b) + beta·c in float64 (beta = 0
// overwrites, as in BLAS).
func Reference(transA, transB bool, m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				av, bv := a[i*k+p], b[p*n+j]
				if transA {
					av = a[p*m+i]
				}
				if transB {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*n+j] = alpha * s
			} else {
				c[i*n+j] = alpha*s + beta*c[i*n+j]
			}
		}
	}
}

// Gemm checks e.Gemm on every size, transpose combination and a few
// (alpha, beta) pairs against Reference, to a relative tolerance tol
// (scaled by √k and the operand magnitudes).
func Gemm[T tensor.Numeric](t *testing.T, e tensor.Engine[T], tol float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range Sizes {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range [][2]float64{{1, 0}, {1.5, 0.5}, {-0.25, 1}} {
				name := fmt.Sprintf("%s/m=%d,n=%d,k=%d,transA=%v,transB=%v,alpha=%g,beta=%g",
					e.Name(), m, n, k, tr[0], tr[1], ab[0], ab[1])
				checkOne(t, name, e, r, tr[0], tr[1], m, n, k, ab[0], ab[1], tol)
			}
		}
	}
}

func checkOne[T tensor.Numeric](t *testing.T, name string, e tensor.Engine[T], r *rand.Rand,
	ta, tb bool, m, n, k int, alpha, beta, tol float64) {
	t.Helper()
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
	at, bt, ct := make([]T, len(a)), make([]T, len(b)), make([]T, len(c))
	tensor.Convert(at, a)
	tensor.Convert(bt, b)
	tensor.Convert(ct, c)
	Reference(ta, tb, m, n, k, alpha, a, b, beta, c)
	e.Gemm(ta, tb, m, n, k, T(alpha), at, bt, T(beta), ct)
	bound := tol * (1 + math.Sqrt(float64(k)))
	for i := range c {
		if d := math.Abs(float64(ct[i]) - c[i]); !(d <= bound*(1+math.Abs(c[i]))) {
			t.Fatalf("%s: c[%d] = %g, want %g", name, i, ct[i], c[i])
		}
	}
}

// BetaZeroOverwrites checks that beta = 0 ignores NaN in c (BLAS).
func BetaZeroOverwrites[T tensor.Numeric](t *testing.T, e tensor.Engine[T]) {
	t.Helper()
	for _, sz := range [][3]int{{1, 1, 1}, {16, 16, 16}, {5, 9, 3}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b, c := make([]T, m*k), make([]T, k*n), make([]T, m*n)
		for i := range a {
			a[i] = 1
		}
		for i := range b {
			b[i] = 2
		}
		for i := range c {
			c[i] = T(math.NaN())
		}
		e.Gemm(false, false, m, n, k, 1, a, b, 0, c)
		for i, v := range c {
			if float64(v) != float64(2*k) {
				t.Fatalf("%s m=%d n=%d k=%d: c[%d] = %v, want %d (beta = 0 must overwrite)", e.Name(), m, n, k, i, v, 2*k)
			}
		}
	}
}

// ShortSlicePanics checks that a too-short operand panics.
func ShortSlicePanics[T tensor.Numeric](t *testing.T, e tensor.Engine[T]) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: no panic on a short slice", e.Name())
		}
	}()
	e.Gemm(false, false, 2, 2, 2, 1, make([]T, 3), make([]T, 4), 0, make([]T, 4))
}

// All runs every check.
func All[T tensor.Numeric](t *testing.T, e tensor.Engine[T], tol float64) {
	t.Helper()
	Gemm(t, e, tol)
	Strided(t, e, tol)
	BetaZeroOverwrites(t, e)
	ShortSlicePanics(t, e)
}

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.Float64()*2 - 1
	}
	return s
}

// One checks e.Gemm on one size, every transpose combination, against
// Reference.
func One[T tensor.Numeric](t *testing.T, e tensor.Engine[T], m, n, k int, tol float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		name := fmt.Sprintf("%s/m=%d,n=%d,k=%d,transA=%v,transB=%v", e.Name(), m, n, k, tr[0], tr[1])
		checkOne(t, name, e, r, tr[0], tr[1], m, n, k, 0.75, 0.5, tol)
	}
}

// Strided checks GemmStrided on e (through tensor.GemmStrided, so engines
// without the method test the gonum fallback): sub-matrices of larger
// buffers with padded leading dimensions, every transpose combination;
// elements outside the sub-matrix of c must not change.
func Strided[T tensor.Numeric](t *testing.T, e tensor.Engine[T], tol float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][3]int{{1, 1, 1}, {5, 9, 3}, {13, 31, 9}, {64, 48, 40}, {30, 20, 300}, {4, 3, 0}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := tr[0], tr[1]
			ar, ac, br, bc := m, k, k, n
			if ta {
				ar, ac = k, m
			}
			if tb {
				br, bc = n, k
			}
			lda, ldb, ldc := ac+3, bc+5, n+2
			a, b, c := randSlice(r, ar*lda), randSlice(r, br*ldb), randSlice(r, m*ldc)
			// tight copies for the reference
			at, bt, ct := make([]float64, ar*ac), make([]float64, br*bc), make([]float64, m*n)
			for i := range ar {
				copy(at[i*ac:(i+1)*ac], a[i*lda:])
			}
			for i := range br {
				copy(bt[i*bc:(i+1)*bc], b[i*ldb:])
			}
			for i := range m {
				copy(ct[i*n:(i+1)*n], c[i*ldc:])
			}
			Reference(ta, tb, m, n, k, 0.5, at, bt, 0.25, ct)
			aT, bT, cT := make([]T, len(a)), make([]T, len(b)), make([]T, len(c))
			tensor.Convert(aT, a)
			tensor.Convert(bT, b)
			tensor.Convert(cT, c)
			tensor.GemmStrided(e, ta, tb, m, n, k, 0.5, aT, lda, bT, ldb, 0.25, cT, ldc)
			bound := tol * (1 + math.Sqrt(float64(k)))
			for i := range m {
				for j := range ldc {
					got := float64(cT[i*ldc+j])
					want := float64(T(c[i*ldc+j]))
					if j < n {
						want = ct[i*n+j]
					}
					if d := math.Abs(got - want); !(d <= bound*(1+math.Abs(want))) {
						t.Fatalf("%s strided m=%d n=%d k=%d transA=%v transB=%v: c[%d,%d] = %g, want %g",
							e.Name(), m, n, k, ta, tb, i, j, got, want)
					}
				}
			}
		}
	}
}
