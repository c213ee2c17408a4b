//go:build !amd64

package tensor

// No assembly micro-kernel off amd64: NewBlocked returns the gonum engine.
const haveBlkKernel = false

func blkKernel(k int, a, b, c []float32, ldc int, alpha float32) {
	panic("tensor: no blocked kernel on this architecture")
}
