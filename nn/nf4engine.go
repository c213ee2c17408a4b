package nn

import "github.com/webtune/webtune/nf4"

// NF4Engine is an optional interface of a tensor.Engine[T] with fused NF4
// products (the browser's SIMD engine, wasm/simd, has them: it decodes W a
// chunk of rows at a time and runs each chunk on its matrix kernel).
// NF4Linear uses them when its engine has them and nf4.MatMulXWt /
// nf4.MatMulXW otherwise; both must give the same results within float
// rounding.
type NF4Engine[T any] interface {
	// NF4MatMulXWt computes y[n×rows] = x[n×cols]·Wᵀ for W [rows×cols]
	// (y overwritten).
	NF4MatMulXWt(w *nf4.Tensor, y, x []T, n int)
	// NF4MatMulXW computes dx[n×cols] = dy[n×rows]·W (dx overwritten).
	NF4MatMulXW(w *nf4.Tensor, dx, dy []T, n int)
}
