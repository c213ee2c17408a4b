package quant

import (
	"fmt"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// benchShapes are layer shapes of the real models: n tokens (seq-len 256,
// batch 1), W rows (out) × cols (in).
var benchShapes = []struct {
	name          string
	n, rows, cols int
}{
	{"smollm-ffn_up", 256, 1536, 576},
	{"qwen05-ffn_up", 256, 4864, 896},
	{"qwen05-ffn_down", 256, 896, 4864},
}

// BenchmarkMatMul compares the fused quantized products with the float32
// product of the same shape on the same engine (tensor.NewBlocked natively,
// gonum under GOOS=js: the page's engine is benchmarked in wasm/simd).
func BenchmarkMatMul(b *testing.B) {
	e := tensor.NewBlocked[float32]()
	for _, s := range benchShapes {
		x := randomVec(s.n*s.cols, 1)
		dy := randomVec(s.n*s.rows, 2)
		y := make([]float32, s.n*s.rows)
		dx := make([]float32, s.n*s.cols)
		flops := 2 * float64(s.n) * float64(s.rows) * float64(s.cols)
		var cpu0 float64
		start := func(b *testing.B) { b.ResetTimer(); cpu0 = cpuSeconds() }
		report := func(b *testing.B) {
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if c := cpuSeconds() - cpu0; cpu0 > 0 {
				b.ReportMetric(c*1e3/float64(b.N), "cpu-ms/op") // steadier than wall time on a shared machine
			}
		}
		wf := randomVec(s.rows*s.cols, 3)
		b.Run(fmt.Sprintf("%s/F32/xWt", s.name), func(b *testing.B) {
			start(b)
			for b.Loop() {
				e.Gemm(false, true, s.n, s.rows, s.cols, 1, x, wf, 0, y)
			}
			report(b)
		})
		b.Run(fmt.Sprintf("%s/F32/dyW", s.name), func(b *testing.B) {
			start(b)
			for b.Loop() {
				e.Gemm(false, false, s.n, s.cols, s.rows, 1, dy, wf, 0, dx)
			}
			report(b)
		})
		for _, typ := range []gguf.TensorType{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeF16} {
			if s.cols%typ.BlockSize() != 0 {
				continue // llama.cpp stores such tensors in a fallback type (Q5_0, Q8_0)
			}
			w, _ := randomMatrix(b, typ, s.rows, s.cols, 4)
			b.Run(fmt.Sprintf("%s/%v/xWt", s.name, typ), func(b *testing.B) {
				start(b)
				for b.Loop() {
					MatMulXWt(e, w, y, x, s.n)
				}
				report(b)
			})
			b.Run(fmt.Sprintf("%s/%v/dyW", s.name, typ), func(b *testing.B) {
				start(b)
				for b.Loop() {
					MatMulXW(e, w, dx, dy, s.n)
				}
				report(b)
			})
		}
	}
}

// BenchmarkDequantize measures the decoders alone (values per second).
func BenchmarkDequantize(b *testing.B) {
	const rows, cols = 256, 1024
	dst := make([]float32, rows*cols)
	for _, typ := range allTypes {
		w, _ := randomMatrix(b, typ, rows, cols, 1)
		b.Run(typ.String(), func(b *testing.B) {
			for b.Loop() {
				w.Dequantize(dst)
			}
			b.ReportMetric(float64(rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}
