//go:build js && wasm

package simd

import "testing"

// warmUp runs f enough times for V8 to move a fresh module from its
// baseline compiler (Liftoff, several times slower) to the optimizing one;
// without it the first variants' figures mostly measure Liftoff.
func warmUp(f func()) {
	for range 15 {
		f()
	}
}

// BenchmarkVariants times the step's base product (256×512×512, b stored
// transposed) for every tile height, plain and relaxed.
func BenchmarkVariants(b *testing.B) {
	const m, n, k = 256, 512, 512
	x, w, y := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
	for i := range x {
		x[i] = float32(i%13) / 13
	}
	for i := range w {
		w[i] = float32(i%7) / 7
	}
	for _, relaxed := range []bool{false, true} {
		for mr := 2; mr <= 6; mr++ {
			for _, u := range []int{1, 2, 4} {
				e, err := NewVariant[float32](Variant{MR: mr, Unroll: u, Relaxed: relaxed})
				if err != nil {
					continue
				}
				warmUp(func() { e.Gemm(false, true, m, n, k, 1, x, w, 0, y) })
				b.Run(e.Name(), func(b *testing.B) {
					for b.Loop() {
						e.Gemm(false, true, m, n, k, 1, x, w, 0, y)
					}
					b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
