package tensor

// Engine is where the heavy math runs. The CPU implementation (NewCPU) uses
// gonum's BLAS; a browser engine may use WebAssembly SIMD. All slices are
// row-major and contiguous; the destination comes first in spirit (c).
type Engine[T Numeric] interface {
	// Name identifies the engine ("cpu", ...).
	Name() string
	// Gemm computes c = alpha·op(a)·op(b) + beta·c where op(a) is m×k and
	// op(b) is k×n and c is m×n. With transA, a is stored k×m; with
	// transB, b is stored n×k.
	Gemm(transA, transB bool, m, n, k int, alpha T, a, b []T, beta T, c []T)
}
