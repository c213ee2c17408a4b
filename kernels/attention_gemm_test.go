package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/tensor"
)

// testStridedEngine is the float32 StridedEngine the attention test runs
// on: the SIMD engine under GOOS=js (engines_js_test.go), else the blocked
// native engine.
var testStridedEngine = func() tensor.Engine[float32] { return tensor.NewBlocked[float32]() }

// TestAttentionOnEngine checks that attention's per-head products on a
// StridedEngine (float32) give the scalar loops' results within float32
// rounding, for full, grouped, multi-query and cached (Tq < Tk) shapes.
func TestAttentionOnEngine(t *testing.T) {
	e := testStridedEngine()
	t.Logf("engine %s", e.Name())
	if !attentionGemm(e) {
		t.Skipf("engine %s (no AVX2 kernel, no SIMD) has no strided products", e.Name())
	}
	if attentionGemm(tensor.NewCPU[float32]()) || attentionGemm[float64](tensor.NewBlocked[float64]()) {
		t.Fatal("gonum or float64 engine used for attention")
	}
	for _, tc := range []struct{ B, Tq, Tk, NH, NKV, HS int }{
		{2, 5, 5, 2, 2, 3}, {2, 40, 40, 4, 2, 16}, {1, 3, 70, 4, 1, 32}, {1, 64, 64, 6, 6, 48},
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			B, Tq, Tk, NH, NKV, HS := tc.B, tc.Tq, tc.Tk, tc.NH, tc.NKV, tc.HS
			r := rand.New(rand.NewPCG(3, uint64(Tk)))
			f := func(n int) []float32 {
				s := make([]float32, n)
				for i := range s {
					s[i] = float32(r.NormFloat64())
				}
				return s
			}
			q, k, v, dy := f(B*Tq*NH*HS), f(B*Tk*NKV*HS), f(B*Tk*NKV*HS), f(B*Tq*NH*HS)
			type res struct{ out, att, dq, dk, dv []float32 }
			run := func(e tensor.Engine[float32]) res {
				x := res{make([]float32, len(q)), make([]float32, B*NH*Tq*Tk), make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))}
				for i := range x.out {
					x.out[i] = float32(math.NaN()) // overwritten
				}
				AttentionForward(e, x.out, x.att, q, k, v, at(B, Tq, Tk, NH, NKV, HS))
				AttentionBackward(e, x.dq, x.dk, x.dv, dy, q, k, v, x.att, at(B, Tq, Tk, NH, NKV, HS))
				return x
			}
			want, got := run(tensor.NewCPU[float32]()), run(e)
			for _, c := range []struct {
				name string
				g, w []float32
			}{{"out", got.out, want.out}, {"att", got.att, want.att}, {"dq", got.dq, want.dq}, {"dk", got.dk, want.dk}, {"dv", got.dv, want.dv}} {
				for i := range c.w {
					if d := math.Abs(float64(c.g[i] - c.w[i])); !(d <= 1e-4*(1+math.Abs(float64(c.w[i])))) {
						t.Fatalf("%s[%d] = %g, want %g", c.name, i, c.g[i], c.w[i])
					}
				}
			}
		})
	}
}

// BenchmarkAttention compares attention forward+backward on the scalar
// loops (cpu) and on a StridedEngine, for the reference llama shape (one
// 256-token sequence, 6 heads of 48).
func BenchmarkAttention(b *testing.B) {
	B, T, NH, HS := 1, 256, 6, 48
	r := rand.New(rand.NewPCG(1, 2))
	f := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
		return s
	}
	q, k, v, dy := f(B*T*NH*HS), f(B*T*NH*HS), f(B*T*NH*HS), f(B*T*NH*HS)
	out, att := make([]float32, len(q)), make([]float32, B*NH*T*T)
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(q)), make([]float32, len(q))
	for _, e := range []tensor.Engine[float32]{tensor.NewCPU[float32](), testStridedEngine()} {
		b.Run(e.Name(), func(b *testing.B) {
			for b.Loop() {
				AttentionForward(e, out, att, q, k, v, at(B, T, T, NH, NH, HS))
				AttentionBackward(e, dq, dk, dv, dy, q, k, v, att, at(B, T, T, NH, NH, HS))
			}
		})
	}
}
