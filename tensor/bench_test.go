package tensor

import (
	"fmt"
	"testing"
)

// BenchmarkGemm measures the four transpose combinations of a float32
// 256×512×512 product (the shapes of a Linear layer's forward and backward).
func BenchmarkGemm(b *testing.B) {
	const m, n, k = 256, 512, 512
	e := NewCPU[float32]()
	a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%13) / 13
	}
	for i := range bb {
		bb[i] = float32(i%7) / 7
	}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			b.Run(fmt.Sprintf("transA=%v/transB=%v", ta, tb), func(b *testing.B) {
				for b.Loop() {
					e.Gemm(ta, tb, m, n, k, 1, a, bb, 0, c)
				}
				b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
