//go:build js && wasm

package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall/js"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// quantCase returns a random rows×cols matrix of typ and its values as
// gguf.Decode gives them.
func quantCase(t testing.TB, typ gguf.TensorType, rows, cols int) (*quant.Matrix, []float32) {
	data, err := quant.Random(typ, rows, cols, 0.5, uint64(rows))
	if err != nil {
		t.Fatal(err)
	}
	w, err := quant.NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float32, rows*cols)
	w.Dequantize(ref)
	return w, ref
}

func randVec(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.Float64()*2 - 1)
	}
	return v
}

// TestQuantMatMul runs quant's fused products on the SIMD engine (how the
// page computes QuantLinear layers) and compares them with the product of
// the dequantized matrix on gonum.
func TestQuantMatMul(t *testing.T) {
	e, err := New[float32]()
	if err != nil {
		t.Fatal(err)
	}
	cpu := tensor.NewCPU[float32]()
	for _, c := range []struct {
		typ           gguf.TensorType
		rows, cols, n int
	}{{gguf.TypeQ8_0, 300, 320, 17}, {gguf.TypeQ4_K, 70, 512, 5}, {gguf.TypeQ6_K, 33, 256, 1}, {gguf.TypeF16, 64, 96, 9}} {
		w, ref := quantCase(t, c.typ, c.rows, c.cols)
		x, dy := randVec(c.n*c.cols, 1), randVec(c.n*c.rows, 2)
		y, want := make([]float32, c.n*c.rows), make([]float32, c.n*c.rows)
		quant.MatMulXWt(e, w, y, x, c.n)
		cpu.Gemm(false, true, c.n, c.rows, c.cols, 1, x, ref, 0, want)
		compare(t, fmt.Sprintf("%v XWt", c.typ), y, want, c.cols)
		dx, wantdx := make([]float32, c.n*c.cols), make([]float32, c.n*c.cols)
		for i := range dx {
			dx[i] = float32(math.NaN()) // overwritten
		}
		quant.MatMulXW(e, w, dx, dy, c.n)
		cpu.Gemm(false, false, c.n, c.cols, c.rows, 1, dy, ref, 0, wantdx)
		compare(t, fmt.Sprintf("%v XW", c.typ), dx, wantdx, c.rows)
	}
}

// BenchmarkQuantMatMul compares the fused quantized products with the
// float32 product of the same shape on the SIMD engine (256 tokens of
// SmolLM2-135M's ffn_up and Qwen2.5-0.5B's ffn_down).
func BenchmarkQuantMatMul(b *testing.B) {
	e, err := New[float32]()
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name          string
		n, rows, cols int
		types         []gguf.TensorType
	}{
		{"smollm-ffn_up", 256, 1536, 576, []gguf.TensorType{gguf.TypeQ8_0, gguf.TypeF16}},
		{"qwen05-ffn_down", 256, 896, 4864, []gguf.TensorType{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K}},
	} {
		x, dy := randVec(s.n*s.cols, 1), randVec(s.n*s.rows, 2)
		y, dx := make([]float32, s.n*s.rows), make([]float32, s.n*s.cols)
		flops := 2 * float64(s.n) * float64(s.rows) * float64(s.cols)
		var cpu0 float64
		start := func(b *testing.B) { b.ResetTimer(); cpu0 = nodeCPUSeconds() }
		report := func(b *testing.B) {
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if c := nodeCPUSeconds() - cpu0; cpu0 > 0 {
				b.ReportMetric(c*1e3/float64(b.N), "cpu-ms/op") // steadier than wall time on a shared machine
			}
		}
		wf := randVec(s.rows*s.cols, 3)
		b.Run(s.name+"/F32/xWt", func(b *testing.B) {
			start(b)
			for b.Loop() {
				e.Gemm(false, true, s.n, s.rows, s.cols, 1, x, wf, 0, y)
			}
			report(b)
		})
		b.Run(s.name+"/F32/dyW", func(b *testing.B) {
			start(b)
			for b.Loop() {
				e.Gemm(false, false, s.n, s.cols, s.rows, 1, dy, wf, 0, dx)
			}
			report(b)
		})
		for _, typ := range s.types {
			w, _ := quantCase(b, typ, s.rows, s.cols)
			b.Run(fmt.Sprintf("%s/%v/xWt", s.name, typ), func(b *testing.B) {
				start(b)
				for b.Loop() {
					quant.MatMulXWt(e, w, y, x, s.n)
				}
				report(b)
			})
			b.Run(fmt.Sprintf("%s/%v/dyW", s.name, typ), func(b *testing.B) {
				start(b)
				for b.Loop() {
					quant.MatMulXW(e, w, dx, dy, s.n)
				}
				report(b)
			})
		}
	}
}

// nodeCPUSeconds returns the host process's user+system CPU time
// (process.cpuUsage() under Node), or 0 where there is none.
func nodeCPUSeconds() float64 {
	p := js.Global().Get("process")
	if p.Type() != js.TypeObject || p.Get("cpuUsage").Type() != js.TypeFunction {
		return 0
	}
	u := p.Call("cpuUsage")
	return (u.Get("user").Float() + u.Get("system").Float()) / 1e6
}
