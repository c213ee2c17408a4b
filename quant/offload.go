package quant

// Offloader is an optional interface of a tensor.Engine[T] that runs the
// frozen products on another device (the page's WebGPU engine, wasm/gpu,
// which keeps W resident in its stored type and dequantizes inside its
// kernels). MatMulXWt and MatMulXW hand their product to it first; a false
// return (W or n not taken, the device gone) means nothing was written and
// the CPU path runs. Results must agree with the CPU path within float32
// rounding.
type Offloader[T any] interface {
	// OffloadXWt computes y[n×rows] = x[n×cols]·Wᵀ (y overwritten).
	OffloadXWt(w *Matrix, y, x []T, n int) bool
	// OffloadXW computes dx[n×cols] = dy[n×rows]·W (dx overwritten).
	OffloadXW(w *Matrix, dx, dy []T, n int) bool
}
