//go:build js && wasm

package simd

import (
	"fmt"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// BenchmarkSmolLMStep times the products of one SmolLM2-135M training step
// (seq-len 256, batch 1, Q8_0 weights, LoRA on frozen weights: forward
// x·Wᵀ and backward dy·W of every layer, the tied 49152-token head in its
// loss chunks, the per-head attention products) on the SIMD engine, each
// shape as a sub-benchmark; per-step counts are in the names (×30: once
// per layer). Under Node, pass
// -exec=scripts/bench/go_js_wasm_exec_relaxed for the relaxed kernel the
// page runs; Chromium's V8 runs it faster than Node 20's (BENCHMARKS.md).
func BenchmarkSmolLMStep(b *testing.B) {
	e, err := New[float32]()
	if err != nil {
		b.Fatal(err)
	}
	const n = 256
	for _, s := range []struct {
		name       string
		rows, cols int
		n          int
	}{
		{"q_o_x2x30", 576, 576, n},
		{"k_v_x2x30", 192, 576, n},
		{"gate_up_x2x30", 1536, 576, n},
		{"down_x30", 576, 1536, n},
		{"head170_x1", 49152, 576, 170},
		{"head86_x1", 49152, 576, 86},
	} {
		w, _ := quantCase(b, gguf.TypeQ8_0, s.rows, s.cols)
		x, dy := randVec(s.n*s.cols, 1), randVec(s.n*s.rows, 2)
		y, dx := make([]float32, s.n*s.rows), make([]float32, s.n*s.cols)
		flops := 2 * float64(s.n) * float64(s.rows) * float64(s.cols)
		report := func(b *testing.B) {
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		warmUp(func() { quant.MatMulXWt(e, w, y, x, s.n) })
		b.Run(s.name+"/xWt", func(b *testing.B) {
			for b.Loop() {
				quant.MatMulXWt(e, w, y, x, s.n)
			}
			report(b)
		})
		b.Run(s.name+"/dyW", func(b *testing.B) {
			for b.Loop() {
				quant.MatMulXW(e, w, dx, dy, s.n)
			}
			report(b)
		})
	}
	// the tied head's Q8_0 decode alone, as x·Wᵀ decodes it (2048 rows by
	// 256 columns a tile, 2 MiB): once per loss chunk forward and once
	// backward, so 4 times a step at 256 tokens (two chunks of ≤ 170 rows)
	data, err := quant.Random(gguf.TypeQ8_0, 49152, 576, 0.5, 1)
	if err != nil {
		b.Fatal(err)
	}
	tile := make([]float32, 2048*256)
	b.Run("head_decode_x4", func(b *testing.B) {
		const rowBytes = 576 / 32 * 34
		for b.Loop() {
			for r0 := 0; r0 < 49152; r0 += 2048 {
				for p0 := 0; p0 < 576; p0 += 256 {
					pc := min(256, 576-p0)
					DecodeQ8_0Rows(tile, pc, data[r0*rowBytes+p0/32*34:], rowBytes, 2048, pc/32)
				}
			}
		}
		b.ReportMetric(49152*576*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
	})
	// attention, one head of 64, full 256×256 products (9 heads × 30
	// layers per step; the causal blocks of package kernels compute 5/8 of
	// them)
	const T, HS, qC = 256, 64, 576
	q, k := randVec(T*qC, 1), randVec(T*qC, 2)
	att := make([]float32, T*T)
	out := make([]float32, T*qC)
	for _, c := range []struct {
		name      string
		ta, tb    bool
		m, nn, kk int
		a         []float32
		lda       int
		bb        []float32
		ldb       int
		c         []float32
		ldc       int
	}{
		{"att_qkT", false, true, T, T, HS, q, qC, k, qC, att, T},
		{"att_av", false, false, T, HS, T, att, T, k, qC, out, qC},
		{"att_aTdo", true, false, T, HS, T, att, T, q, qC, out, qC},
	} {
		b.Run(fmt.Sprintf("%s_x270", c.name), func(b *testing.B) {
			for b.Loop() {
				tensor.GemmStrided(e, c.ta, c.tb, c.m, c.nn, c.kk, 1, c.a, c.lda, c.bb, c.ldb, 0, c.c, c.ldc)
			}
			b.ReportMetric(2*float64(c.m*c.nn*c.kk)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
