// Package tensor holds webtune's numeric core: a dense row-major
// Tensor[T], the Engine[T] interface where matrix products run, its CPU
// implementation (NewCPU, backed by gonum's pure-Go BLAS so that it also
// runs under GOOS=js GOARCH=wasm), and small kernels over plain slices.
//
// Element types are Numeric = ~float32 | ~float64: float32 is the working
// precision, float64 exists so that every backward pass can be checked by
// finite differences.
//
// # Storage and shapes
//
// Every tensor is contiguous and row-major: the last dimension varies
// fastest, so a [N, C] matrix stores element (n, c) at n·C + c. Shapes are
// written [d0, d1, ...]; "[..., C]" means any leading dimensions, flattened
// to N rows of C columns by the callers (nn.Linear treats [B, T, C] as
// [B·T, C]). Inside kernels the dimension letters are
//
//	N  rows (tokens, batch·time)
//	C  columns (features, channels)
//	V  vocabulary size
//	B, T  batch and time (sequence position)
//	NH, HS  attention heads and head size
//
// # Gemm
//
// Engine.Gemm follows BLAS: c[m×n] = alpha·op(a)·op(b) + beta·c with op(a)
// m×k and op(b) k×n, all row-major with tight leading dimensions. With
// transA, a is stored k×m (so op(a) = aᵀ); with transB, b is stored n×k.
// A linear layer y = x·Wᵀ with W [out, in] is therefore
// Gemm(false, true, N, out, in, 1, x, W, 0, y). The CPU engine copies a
// stored-transposed a into a pooled scratch buffer before large products
// (gonum is 2–10× slower with transA) and is safe for concurrent use.
//
// # Kernels
//
// The free functions (Add, AddTo, Axpy, Scale, AddRowVector,
// AddColumnSums, Dot, SumSq, ...) take the destination first, check
// lengths once on entry and then loop without bounds re-checks or
// allocations. A length mismatch is a programmer error and panics; shapes
// from outside the program are checked by the exported layer APIs above
// this package, which return errors wrapping ErrShape.
package tensor
