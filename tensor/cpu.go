package tensor

import (
	"fmt"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// NewCPU returns the CPU engine: matrix products run on gonum's pure-Go BLAS
// (Sgemm for 4-byte T, Dgemm for 8-byte T), which needs no cgo and so also
// runs under GOOS=js GOARCH=wasm.
func NewCPU[T Numeric]() Engine[T] {
	var zero T
	return &cpu[T]{single: unsafe.Sizeof(zero) == 4}
}

// cpu is the CPU engine. single says T has float32 layout (float32 or a named
// ~float32 type), so products go to Sgemm; otherwise to Dgemm. It is decided
// once, at NewCPU.
type cpu[T Numeric] struct {
	single  bool
	scratch scratchPool[T]
}

func (*cpu[T]) Name() string { return "cpu" }

// Gemm computes c[m×n] = alpha·op(a)·op(b) + beta·c with gonum's Sgemm or Dgemm.
func (e *cpu[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a, b []T, beta T, c []T) {
	lda, ldb := gemmCheck(transA, transB, m, n, k, len(a), len(b), len(c))
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(c[:m*n], beta)
		return
	}
	if transA && m*n*k >= transposeWork {
		buf := e.scratch.get(m * k)
		defer e.scratch.put(buf)
		a, transA, lda = transposeA(*buf, a, m, k), false, k
	}
	ta, tb, ldc := trans(transA), trans(transB), max(1, n)
	if e.single {
		gonum.Implementation{}.Sgemm(ta, tb, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	gonum.Implementation{}.Dgemm(ta, tb, m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}

// gemmCheck panics with a readable message when the slices cannot hold the
// operands (a programmer error) and returns the leading dimensions of the
// row-major a and b.
func gemmCheck(transA, transB bool, m, n, k, na, nb, nc int) (lda, ldb int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor: Gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	lda, ldb = max(1, k), max(1, n)
	if transA {
		lda = max(1, m)
	}
	if transB {
		ldb = max(1, k)
	}
	if na < m*k || nb < k*n || nc < m*n {
		panic(fmt.Sprintf("tensor: Gemm: m=%d n=%d k=%d needs len(a)>=%d len(b)>=%d len(c)>=%d, have %d %d %d",
			m, n, k, m*k, k*n, m*n, na, nb, nc))
	}
	return lda, ldb
}

// transposeWork is the product size m·n·k above which Gemm transposes a
// stored-transposed a into scratch first: gonum's kernels run about 2× (Tᵀ·B)
// to 10× (Aᵀ·Bᵀ) slower with transA, and the m·k copy costs 1/n of the
// product.
const transposeWork = 1 << 15

// scratchPool reuses transpose buffers across Gemm calls (and goroutines).
type scratchPool[T Numeric] struct{ p sync.Pool }

func (s *scratchPool[T]) get(n int) *[]T {
	if b, ok := s.p.Get().(*[]T); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]T, n)
	return &b
}

func (s *scratchPool[T]) put(b *[]T) { s.p.Put(b) }

// transposeA writes dst[m×k] = aᵀ for a stored k×m, in 32×32 tiles so both
// sides stay in cache, and returns dst.
func transposeA[T Numeric](dst, a []T, m, k int) []T {
	const tile = 32
	for p0 := 0; p0 < k; p0 += tile {
		p1 := min(p0+tile, k)
		for i0 := 0; i0 < m; i0 += tile {
			i1 := min(i0+tile, m)
			for p := p0; p < p1; p++ {
				row := a[p*m : p*m+m]
				for i := i0; i < i1; i++ {
					dst[i*k+p] = row[i]
				}
			}
		}
	}
	return dst
}

// scaleC computes c = beta·c for an empty product (k = 0), which gonum's
// slice-length checks reject; beta = 0 overwrites (BLAS semantics).
func scaleC[T Numeric](c []T, beta T) {
	if beta == 0 {
		clear(c)
		return
	}
	Scale(c, beta)
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// as32 reinterprets a slice of a float32-layout type as []float32 (same
// memory; T is float32 or a named ~float32 type).
func as32[T Numeric](s []T) []float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// as64 reinterprets a slice of a float64-layout type as []float64.
func as64[T Numeric](s []T) []float64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
