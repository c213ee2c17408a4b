package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/tensor"
)

// TestWindowedAttention: with Attn.Window a query at position p gives
// probability only to keys p−Window < p0 ≤ p, the gradients match finite
// differences, and the strided-engine paths (forward and the row-blocked
// backward) agree with the scalar loops.
func TestWindowedAttention(t *testing.T) {
	for _, tc := range []struct {
		name string
		sh   Attn
	}{
		{"window 2", Attn{B: 2, Tq: 5, Tk: 5, NH: 2, NKV: 1, HS: 3, Window: 2}},
		{"window 1", Attn{B: 1, Tq: 4, Tk: 4, NH: 2, NKV: 2, HS: 2, Window: 1}},
		{"window ≥ T", Attn{B: 1, Tq: 4, Tk: 4, NH: 2, NKV: 1, HS: 2, Window: 9}},
		{"cached, scaled", Attn{B: 1, Tq: 2, Tk: 6, NH: 4, NKV: 2, HS: 3, Window: 3, Scale: 0.3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := tc.sh
			r := rand.New(rand.NewPCG(25, 26))
			q, k, v := randSlice(r, sh.B*sh.Tq*sh.NH*sh.HS, 1), randSlice(r, sh.B*sh.Tk*sh.NKV*sh.HS, 1), randSlice(r, sh.B*sh.Tk*sh.NKV*sh.HS, 1)
			dy := randSlice(r, len(q), 1)
			out, att := make([]float64, len(q)), make([]float64, sh.B*sh.NH*sh.Tq*sh.Tk)
			loss := func() float64 {
				AttentionForward[float64](nil, out, att, q, k, v, sh)
				return dot(out, dy)
			}
			loss()
			for b := 0; b < sh.B; b++ {
				for h := 0; h < sh.NH; h++ {
					for i := 0; i < sh.Tq; i++ {
						p := sh.Tk - sh.Tq + i
						for j := 0; j < sh.Tk; j++ {
							a := att[((b*sh.NH+h)*sh.Tq+i)*sh.Tk+j]
							if seen := j <= p && p-j < sh.Window; seen != (a != 0) {
								t.Fatalf("b%d h%d: query at %d, key %d: probability %g", b, h, p, j, a)
							}
						}
					}
				}
			}
			dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
			AttentionBackward[float64](nil, dq, dk, dv, dy, q, k, v, att, sh)
			checkGrad(t, "dq", q, dq, loss)
			checkGrad(t, "dk", k, dk, loss)
			checkGrad(t, "dv", v, dv, loss)
		})
	}
	e := testStridedEngine()
	if !attentionGemm(e) {
		t.Skipf("engine %s has no strided products", e.Name())
	}
	// T = 70 spans two of the browser's causal row blocks (64)
	for _, sh := range []Attn{{B: 2, Tq: 70, Tk: 70, NH: 4, NKV: 2, HS: 16, Window: 9}, {B: 1, Tq: 3, Tk: 20, NH: 2, NKV: 1, HS: 8, Window: 5}} {
		t.Run(fmt.Sprintf("engine %+v", sh), func(t *testing.T) {
			r := rand.New(rand.NewPCG(27, uint64(sh.Tk)))
			f := func(n int) []float32 {
				s := make([]float32, n)
				for i := range s {
					s[i] = float32(r.NormFloat64())
				}
				return s
			}
			q, k, v := f(sh.B*sh.Tq*sh.NH*sh.HS), f(sh.B*sh.Tk*sh.NKV*sh.HS), f(sh.B*sh.Tk*sh.NKV*sh.HS)
			dy := f(len(q))
			run := func(e tensor.Engine[float32]) [][]float32 {
				out, att := make([]float32, len(q)), make([]float32, sh.B*sh.NH*sh.Tq*sh.Tk)
				dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
				AttentionForward(e, out, att, q, k, v, sh)
				AttentionBackward(e, dq, dk, dv, dy, q, k, v, att, sh)
				return [][]float32{out, att, dq, dk, dv}
			}
			want, got := run(tensor.NewCPU[float32]()), run(e)
			for j, name := range []string{"out", "att", "dq", "dk", "dv"} {
				for i := range want[j] {
					if d := math.Abs(float64(got[j][i] - want[j][i])); !(d <= 1e-4*(1+math.Abs(float64(want[j][i])))) {
						t.Fatalf("%s[%d] = %g, scalar %g", name, i, got[j][i], want[j][i])
					}
				}
			}
		})
	}
}

func TestSoftcapBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(28, 29))
	x, dy := randSlice(r, 17, 4), randSlice(r, 17, 1)
	y := make([]float64, len(x))
	loss := func() float64 { copy(y, x); SoftcapForward(y, 3); return dot(y, dy) }
	loss()
	for i := range y {
		if want := 3 * math.Tanh(x[i]/3); math.Abs(y[i]-want) > 1e-7 || math.Abs(y[i]) >= 3 {
			t.Fatalf("softcap(%g) = %g, want %g", x[i], y[i], want)
		}
	}
	dx := append([]float64(nil), dy...)
	SoftcapBackward(dx, y, 3)
	checkGrad(t, "softcap", x, dx, loss)
}
