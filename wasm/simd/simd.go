package simd

import (
	"errors"
	"fmt"
)

// ErrUnavailable reports that the SIMD engine cannot run here (not
// GOOS=js, no WebAssembly SIMD, Go's memory not reachable, or float64).
var ErrUnavailable = errors.New("simd: engine unavailable")

// checkGemm panics, like tensor's CPU engine, when the sizes are negative
// or the slices too short (a programmer error).
func checkGemm(m, n, k, na, nb, nc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("simd: Gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	if na < m*k || nb < k*n || nc < m*n {
		panic(fmt.Sprintf("simd: Gemm: m=%d n=%d k=%d needs len(a)>=%d len(b)>=%d len(c)>=%d, have %d %d %d",
			m, n, k, m*k, k*n, m*n, na, nb, nc))
	}
}
