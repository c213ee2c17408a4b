//go:build js && wasm

package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/nf4"
)

// nf4Engine has the methods of nn.NF4Engine, which nn.NF4Linear
// type-asserts to use these kernels (nn imports package kernels, which
// imports this package, so the test states the method set itself;
// nn/nf4engine_js_test.go checks the engine against nn's interface).
type nf4Engine interface {
	NF4MatMulXWt(w *nf4.Tensor, y, x []float32, n int)
	NF4MatMulXW(w *nf4.Tensor, dx, dy []float32, n int)
}

var _ nf4Engine = (*engine[float32])(nil)

func nf4Case(t testing.TB, rows, cols int) *nf4.Tensor {
	r := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	q, err := nf4.Quantize(w, rows, cols, nf4.Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestNF4MatMul checks both products against nf4's own kernels, including
// several dequantization chunks (rows·cols > 65536).
func TestNF4MatMul(t *testing.T) {
	eng, err := New[float32]()
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(nf4Engine)
	for _, sz := range [][3]int{{64, 96, 5}, {300, 512, 17}, {7, 64, 3}} {
		rows, cols, n := sz[0], sz[1], sz[2]
		q := nf4Case(t, rows, cols)
		r := rand.New(rand.NewPCG(1, 1))
		x, dy := make([]float32, n*cols), make([]float32, n*rows)
		for i := range x {
			x[i] = float32(r.Float64()*2 - 1)
		}
		for i := range dy {
			dy[i] = float32(r.Float64()*2 - 1)
		}
		y, want := make([]float32, n*rows), make([]float32, n*rows)
		e.NF4MatMulXWt(q, y, x, n)
		nf4.MatMulXWt(q, want, x, n)
		compare(t, fmt.Sprintf("XWt %v", sz), y, want, cols)
		dx, wantdx := make([]float32, n*cols), make([]float32, n*cols)
		for i := range dx {
			dx[i] = float32(math.NaN()) // overwritten
		}
		e.NF4MatMulXW(q, dx, dy, n)
		nf4.MatMulXW(q, wantdx, dy, n)
		compare(t, fmt.Sprintf("XW %v", sz), dx, wantdx, rows)
	}
}

func compare(t *testing.T, what string, got, want []float32, k int) {
	t.Helper()
	tol := 2e-6 * (1 + math.Sqrt(float64(k)))
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*(1+math.Abs(float64(want[i])))) {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// BenchmarkNF4 compares nf4's scalar-Go fused kernels with dequantize-and-
// SIMD on a llama ffn shape (768×288, 256 tokens).
func BenchmarkNF4(b *testing.B) {
	eng, err := New[float32]()
	if err != nil {
		b.Fatal(err)
	}
	e := eng.(nf4Engine)
	const rows, cols, n = 768, 288, 256
	q := nf4Case(b, rows, cols)
	x, y := make([]float32, n*cols), make([]float32, n*rows)
	flops := 2.0 * rows * cols * n
	b.Run("nf4.MatMulXWt", func(b *testing.B) {
		for b.Loop() {
			nf4.MatMulXWt(q, y, x, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("simd.NF4MatMulXWt", func(b *testing.B) {
		for b.Loop() {
			e.NF4MatMulXWt(q, y, x, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
