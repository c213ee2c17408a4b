package tensor

import (
	"fmt"
	"math"
)

// Kernels over plain slices. The destination comes first; lengths are
// checked once on entry (a mismatch is a programmer error and panics) and
// the loops neither allocate nor check again. Names follow gonum's floats
// package where one exists.

func mustLen(op string, want int, got ...int) {
	for _, g := range got {
		if g != want {
			panic(fmt.Sprintf("tensor: %s: length mismatch %d != %d", op, g, want))
		}
	}
}

// Add computes dst[i] += s[i].
func Add[T Numeric](dst, s []T) {
	mustLen("Add", len(dst), len(s))
	s = s[:len(dst)]
	for i, v := range s {
		dst[i] += v
	}
}

// AddTo computes dst[i] = s[i] + t[i].
func AddTo[T Numeric](dst, s, t []T) {
	mustLen("AddTo", len(dst), len(s), len(t))
	s, t = s[:len(dst)], t[:len(dst)]
	for i := range dst {
		dst[i] = s[i] + t[i]
	}
}

// Sub computes dst[i] -= s[i].
func Sub[T Numeric](dst, s []T) {
	mustLen("Sub", len(dst), len(s))
	s = s[:len(dst)]
	for i, v := range s {
		dst[i] -= v
	}
}

// SubTo computes dst[i] = s[i] - t[i].
func SubTo[T Numeric](dst, s, t []T) {
	mustLen("SubTo", len(dst), len(s), len(t))
	s, t = s[:len(dst)], t[:len(dst)]
	for i := range dst {
		dst[i] = s[i] - t[i]
	}
}

// Mul computes dst[i] *= s[i].
func Mul[T Numeric](dst, s []T) {
	mustLen("Mul", len(dst), len(s))
	s = s[:len(dst)]
	for i, v := range s {
		dst[i] *= v
	}
}

// MulTo computes dst[i] = s[i]·t[i].
func MulTo[T Numeric](dst, s, t []T) {
	mustLen("MulTo", len(dst), len(s), len(t))
	s, t = s[:len(dst)], t[:len(dst)]
	for i := range dst {
		dst[i] = s[i] * t[i]
	}
}

// AddMul computes dst[i] += s[i]·t[i].
func AddMul[T Numeric](dst, s, t []T) {
	mustLen("AddMul", len(dst), len(s), len(t))
	s, t = s[:len(dst)], t[:len(dst)]
	for i := range dst {
		dst[i] += s[i] * t[i]
	}
}

// Scale computes dst[i] *= c.
func Scale[T Numeric](dst []T, c T) {
	for i := range dst {
		dst[i] *= c
	}
}

// ScaleTo computes dst[i] = c·s[i].
func ScaleTo[T Numeric](dst []T, c T, s []T) {
	mustLen("ScaleTo", len(dst), len(s))
	s = s[:len(dst)]
	for i, v := range s {
		dst[i] = c * v
	}
}

// Axpy computes dst[i] += alpha·x[i] (BLAS axpy, destination first).
func Axpy[T Numeric](dst []T, alpha T, x []T) {
	mustLen("Axpy", len(dst), len(x))
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += alpha * v
	}
}

// AddConst computes dst[i] += c.
func AddConst[T Numeric](dst []T, c T) {
	for i := range dst {
		dst[i] += c
	}
}

// Fill sets every dst[i] to v.
func Fill[T Numeric](dst []T, v T) {
	for i := range dst {
		dst[i] = v
	}
}

// Dot returns Σ s[i]·t[i], accumulated in T.
func Dot[T Numeric](s, t []T) T {
	mustLen("Dot", len(s), len(t))
	t = t[:len(s)]
	var sum T
	for i, v := range s {
		sum += v * t[i]
	}
	return sum
}

// Sum returns Σ s[i], accumulated in T.
func Sum[T Numeric](s []T) T {
	var sum T
	for _, v := range s {
		sum += v
	}
	return sum
}

// SumSq returns Σ s[i]², accumulated in float64 (for norms of float32 data).
func SumSq[T Numeric](s []T) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return sum
}

// MaxAbs returns max |s[i]| (0 for an empty slice).
func MaxAbs[T Numeric](s []T) T {
	var m T
	for _, v := range s {
		m = max(m, v, -v)
	}
	return m
}

// AddRowVector adds v[C] to every row of dst[N×C] (a bias add):
// dst[n·C+c] += v[c]. len(dst) must be a multiple of len(v).
func AddRowVector[T Numeric](dst, v []T) {
	c := len(v)
	if c == 0 || len(dst)%c != 0 {
		panic(fmt.Sprintf("tensor: AddRowVector: %d is not a multiple of %d", len(dst), c))
	}
	for r := 0; r < len(dst); r += c {
		row := dst[r : r+c]
		for j, x := range v {
			row[j] += x
		}
	}
}

// AddColumnSums accumulates the column sums of s[N×C] into dst[C]:
// dst[c] += Σ_n s[n·C+c] (the bias gradient). len(s) must be a multiple
// of len(dst).
func AddColumnSums[T Numeric](dst, s []T) {
	c := len(dst)
	if c == 0 || len(s)%c != 0 {
		panic(fmt.Sprintf("tensor: AddColumnSums: %d is not a multiple of %d", len(s), c))
	}
	for r := 0; r < len(s); r += c {
		row := s[r : r+c]
		for j, x := range row {
			dst[j] += x
		}
	}
}

// Convert copies src into dst converting the element type (float32 ↔
// float64, or between named types).
func Convert[D, S Numeric](dst []D, src []S) {
	mustLen("Convert", len(dst), len(src))
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = D(v)
	}
}

// AllFinite reports whether s holds neither a NaN nor an infinity.
func AllFinite[T Numeric](s []T) bool {
	for _, v := range s {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}
