package tensor

import (
	"fmt"
	"testing"
)

// BenchmarkGemmEngines compares gonum (NewCPU) with the blocked engine on
// the products of a LoRA training step (batch 256, 512×512 base, rank 8)
// and a larger llama-like projection.
func BenchmarkGemmEngines(b *testing.B) {
	shapes := []struct {
		name    string
		ta, tb  bool
		m, n, k int
	}{
		{"fwd x·Wᵀ 256×512×512", false, true, 256, 512, 512},
		{"dx dy·W 256×512×512", false, false, 256, 512, 512},
		{"dW dyᵀ·x 512×512×256", true, false, 512, 512, 256},
		{"lora h=x·Aᵀ 256×8×512", false, true, 256, 8, 512},
		{"lora dA=dhᵀ·x 8×512×256", true, false, 8, 512, 256},
		{"ffn 512×1536×512", false, true, 512, 1536, 512},
	}
	for _, s := range shapes {
		a, bb, c := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
		for i := range a {
			a[i] = float32(i%13) / 13
		}
		for i := range bb {
			bb[i] = float32(i%7) / 7
		}
		for _, e := range []Engine[float32]{NewCPU[float32](), NewBlocked[float32]()} {
			b.Run(fmt.Sprintf("%s/%s", s.name, e.Name()), func(b *testing.B) {
				for b.Loop() {
					e.Gemm(s.ta, s.tb, s.m, s.n, s.k, 1, a, bb, 0, c)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
