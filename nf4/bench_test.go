package nf4

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Benchmarks: quantize/dequantize throughput in GB/s of float32 input or
// output (b.SetBytes), and the fused kernels in GFLOP/s (2·n·rows·cols per
// op, reported as a custom metric) next to gonum's dense float32 Gemm on the
// same shapes. Run natively and under wasm (see doc.go).

type matShape struct{ n, rows, cols int }

var benchShapes = []matShape{{256, 512, 512}, {64, 1024, 1024}}

func randNormal(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.02)
	}
	return w
}

func BenchmarkQuantize(b *testing.B) {
	for _, dq := range []bool{false, true} {
		b.Run(fmt.Sprintf("1024x1024/dq=%v", dq), func(b *testing.B) {
			w := randNormal(1, 1024*1024)
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if _, err := Quantize(w, 1024, 1024, Options{DoubleQuant: dq}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	for _, dq := range []bool{false, true} {
		b.Run(fmt.Sprintf("1024x1024/dq=%v", dq), func(b *testing.B) {
			t, err := Quantize(randNormal(1, 1024*1024), 1024, 1024, Options{DoubleQuant: dq})
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, t.Len())
			b.SetBytes(int64(4 * len(dst)))
			for b.Loop() {
				t.Dequantize(dst)
			}
		})
	}
}

func reportFlops(b *testing.B, s matShape) {
	flops := 2 * float64(s.n) * float64(s.rows) * float64(s.cols)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkMatMul compares, per shape x[n×cols]·W[rows×cols]ᵀ:
// xwt = fused y = x·Wᵀ, xw = fused dx = dy·W, and dense_xwt/dense_xw the
// same products with a float32 W through gonum blas32.Gemm.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range benchShapes {
		name := fmt.Sprintf("%dx%d·%dx%d", s.n, s.cols, s.rows, s.cols)
		wf := randNormal(2, s.rows*s.cols)
		w, err := Quantize(wf, s.rows, s.cols, Options{})
		if err != nil {
			b.Fatal(err)
		}
		x := randNormal(3, s.n*s.cols)
		dy := randNormal(4, s.n*s.rows)
		y := make([]float32, s.n*s.rows)
		dx := make([]float32, s.n*s.cols)
		gx := blas32.General{Rows: s.n, Cols: s.cols, Stride: s.cols, Data: x}
		gw := blas32.General{Rows: s.rows, Cols: s.cols, Stride: s.cols, Data: wf}
		gy := blas32.General{Rows: s.n, Cols: s.rows, Stride: s.rows, Data: y}
		gdy := blas32.General{Rows: s.n, Cols: s.rows, Stride: s.rows, Data: dy}
		gdx := blas32.General{Rows: s.n, Cols: s.cols, Stride: s.cols, Data: dx}
		b.Run(name+"/xwt", func(b *testing.B) {
			for b.Loop() {
				MatMulXWt(w, y, x, s.n)
			}
			reportFlops(b, s)
		})
		b.Run(name+"/dense_xwt", func(b *testing.B) {
			for b.Loop() {
				blas32.Gemm(blas.NoTrans, blas.Trans, 1, gx, gw, 0, gy)
			}
			reportFlops(b, s)
		})
		b.Run(name+"/xw", func(b *testing.B) {
			for b.Loop() {
				MatMulXW(w, dx, dy, s.n)
			}
			reportFlops(b, s)
		})
		b.Run(name+"/dense_xw", func(b *testing.B) {
			for b.Loop() {
				blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gdy, gw, 0, gdx)
			}
			reportFlops(b, s)
		})
	}
}
