//go:build !amd64

package nf4

// fastKernels32 is the kernel set the float32 instantiation uses: on this
// platform (wasm included) the portable Go loops.
var fastKernels32 = kernelSet[float32]{
	dot: dot2x4[float32], dot1: dot1x4[float32], axpy: axpy4[float32], axpy2: axpy2x4[float32],
}
