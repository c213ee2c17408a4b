//go:build js && wasm

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/tensor"
)

// TestCausalBlocks checks the row-blocked causal attention products against
// the scalar loops, with full and ragged last blocks.
func TestCausalBlocks(t *testing.T) {
	e := testStridedEngine()
	defer func(bs int) { causalBlock = bs }(causalBlock)
	for _, bs := range []int{16, 64} {
		for _, tc := range []struct{ B, Tq, NH, NKV, HS int }{{2, 40, 4, 2, 16}, {1, 150, 6, 3, 48}, {1, 128, 2, 2, 8}} {
			t.Run(fmt.Sprintf("block%d/%+v", bs, tc), func(t *testing.T) {
				causalBlock = bs
				B, Tq, NH, NKV, HS := tc.B, tc.Tq, tc.NH, tc.NKV, tc.HS
				r := rand.New(rand.NewPCG(5, uint64(Tq)))
				f := func(n int) []float32 {
					s := make([]float32, n)
					for i := range s {
						s[i] = float32(r.NormFloat64())
					}
					return s
				}
				q, k, v, dy := f(B*Tq*NH*HS), f(B*Tq*NKV*HS), f(B*Tq*NKV*HS), f(B*Tq*NH*HS)
				type res struct{ out, att, dq, dk, dv []float32 }
				run := func(e tensor.Engine[float32]) res {
					x := res{f(len(q)), f(B * NH * Tq * Tq), make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))}
					AttentionForward(e, x.out, x.att, q, k, v, at(B, Tq, Tq, NH, NKV, HS))
					AttentionBackward(e, x.dq, x.dk, x.dv, dy, q, k, v, x.att, at(B, Tq, Tq, NH, NKV, HS))
					return x
				}
				if Tq > bs && !fastAttentionForwardOn(e, make([]float32, len(q)), make([]float32, B*NH*Tq*Tq), q, k, v, at(B, Tq, Tq, NH, NKV, HS)) {
					t.Fatal("blocked path not taken")
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
}
