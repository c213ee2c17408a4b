package tensor

import (
	"fmt"
	"unsafe"

	"gonum.org/v1/gonum/blas/gonum"
)

// StridedEngine is an Engine whose products also run on sub-matrices: row
// i of a's storage starts at i·lda (likewise b, c), as in BLAS. One
// attention head of a [T, NH·HS] activation is then a T×HS operand with
// lda = NH·HS, with no copy. The blocked CPU engine and the browser's SIMD
// engine implement it; GemmStrided falls back to gonum for others.
type StridedEngine[T Numeric] interface {
	Engine[T]
	// GemmStrided computes c = alpha·op(a)·op(b) + beta·c like Gemm, with
	// leading dimensions lda ≥ (transA ? m : k), ldb ≥ (transB ? k : n),
	// ldc ≥ n.
	GemmStrided(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)
}

// GemmStrided runs the strided product on e when e is a StridedEngine and
// on gonum's BLAS otherwise.
func GemmStrided[T Numeric](e Engine[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if s, ok := e.(StridedEngine[T]); ok {
		s.GemmStrided(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	stridedCheck(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			scaleC(c[i*ldc:i*ldc+n], beta)
		}
		return
	}
	if stridedIsF32[T]() {
		gonum.Implementation{}.Sgemm(trans(transA), trans(transB), m, n, k, float32(alpha), as32(a), lda,
			as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	gonum.Implementation{}.Dgemm(trans(transA), trans(transB), m, n, k, float64(alpha), as64(a), lda,
		as64(b), ldb, float64(beta), as64(c), ldc)
}

// StridedCheck panics unless the sizes and leading dimensions of a strided
// product are consistent and the slices hold the operands (a programmer
// error). Engines outside this package call it on entry.
func StridedCheck(transA, transB bool, m, n, k, na, lda, nb, ldb, nc, ldc int) {
	stridedCheck(transA, transB, m, n, k, na, lda, nb, ldb, nc, ldc)
}

func stridedCheck(transA, transB bool, m, n, k, na, lda, nb, ldb, nc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor: GemmStrided: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k // rows and columns of a's storage
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(rows, cols, ld int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	if lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) {
		panic(fmt.Sprintf("tensor: GemmStrided: leading dimensions lda=%d ldb=%d ldc=%d below the row lengths %d %d %d",
			lda, ldb, ldc, ac, bc, n))
	}
	if na < need(ar, ac, lda) || nb < need(br, bc, ldb) || nc < need(m, n, ldc) {
		panic(fmt.Sprintf("tensor: GemmStrided: m=%d n=%d k=%d lda=%d ldb=%d ldc=%d: slices of %d %d %d are too short",
			m, n, k, lda, ldb, ldc, na, nb, nc))
	}
}

func stridedIsF32[T Numeric]() bool {
	var zero T
	return unsafe.Sizeof(zero) == 4
}
