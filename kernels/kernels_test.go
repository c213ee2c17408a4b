package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestRMSNormBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	N, C := 3, 7
	x, w, dy := randSlice(r, N*C, 1), randSlice(r, C, 1), randSlice(r, N*C, 1)
	out, rstd := make([]float64, N*C), make([]float64, N)
	loss := func() float64 {
		RMSNormForward(out, rstd, x, w, N, C, 1e-5)
		return dot(out, dy)
	}
	loss()
	dx, dw := make([]float64, N*C), make([]float64, C)
	RMSNormBackward(dx, dw, dy, x, w, rstd, N, C)
	checkGrad(t, "dx", x, dx, loss)
	checkGrad(t, "dweight", w, dw, loss)
	loss() // forward against the formula at the unperturbed point
	for n := 0; n < N; n++ {
		var ss float64
		for i := 0; i < C; i++ {
			ss += x[n*C+i] * x[n*C+i]
		}
		s := 1 / math.Sqrt(ss/float64(C)+float64(float32(1e-5)))
		for i := 0; i < C; i++ {
			if want := x[n*C+i] * s * w[i]; math.Abs(out[n*C+i]-want) > 1e-12 {
				t.Fatalf("out[%d,%d] = %g, want %g", n, i, out[n*C+i], want)
			}
		}
	}
}

func TestRopeForwardNormMode(t *testing.T) {
	const P, HS, base = 9, 6, 10000
	cos, sin := make([]float64, P*HS/2), make([]float64, P*HS/2)
	RopeCache(cos, sin, P, HS, Rope{Base: base})
	r := rand.New(rand.NewPCG(3, 4))
	B, T, NH := 2, 4, 3
	x := randSlice(r, B*T*NH*HS, 1)
	out := make([]float64, len(x))
	pos0 := 5
	RopeForward(out, x, cos, sin, B, T, NH, HS, pos0, RopeNorm)
	for b := 0; b < B; b++ {
		for tt := 0; tt < T; tt++ {
			for h := 0; h < NH; h++ {
				for i := 0; i < HS/2; i++ {
					o := ((b*T+tt)*NH+h)*HS + 2*i
					theta := float64(pos0+tt) * math.Pow(base, -2*float64(i)/HS)
					c, s := math.Cos(theta), math.Sin(theta)
					w0 := x[o]*c - x[o+1]*s
					w1 := x[o]*s + x[o+1]*c
					// the float32 angle costs ~1e-6 relative
					if math.Abs(out[o]-w0) > 1e-5 || math.Abs(out[o+1]-w1) > 1e-5 {
						t.Fatalf("b%d t%d h%d i%d: got (%g,%g) want (%g,%g)", b, tt, h, i, out[o], out[o+1], w0, w1)
					}
				}
			}
		}
	}
	// in place equals out of place
	y := append([]float64(nil), x...)
	RopeForward(y, y, cos, sin, B, T, NH, HS, pos0, RopeNorm)
	for i := range y {
		if y[i] != out[i] {
			t.Fatal("in-place rope differs")
		}
	}
}

func TestRopeBackward(t *testing.T) {
	for _, mode := range []RopeMode{RopeNorm, RopeNeox} {
		const P, HS = 8, 4
		cos, sin := make([]float64, P*HS/2), make([]float64, P*HS/2)
		RopeCache(cos, sin, P, HS, Rope{Base: 10000, FreqFactors: []float32{1, 2.5}, FreqScale: 0.25, AttnFactor: 1.1})
		r := rand.New(rand.NewPCG(5, 6))
		B, T, NH := 2, 3, 2
		x, dy := randSlice(r, B*T*NH*HS, 1), randSlice(r, B*T*NH*HS, 1)
		out := make([]float64, len(x))
		loss := func() float64 { RopeForward(out, x, cos, sin, B, T, NH, HS, 2, mode); return dot(out, dy) }
		dx := make([]float64, len(x))
		RopeBackward(dx, dy, cos, sin, B, T, NH, HS, 2, mode)
		checkGrad(t, fmt.Sprintf("rope mode %d dx", mode), x, dx, loss)
	}
}

// TestRopeForwardNeoxMode checks NEOX pairs (i, i+HS/2) against the
// formula, with a linear frequency scale and an attention factor.
func TestRopeForwardNeoxMode(t *testing.T) {
	const P, HS, base = 7, 8, 500
	const fs, af = 0.5, 1.25
	cos, sin := make([]float64, P*HS/2), make([]float64, P*HS/2)
	RopeCache(cos, sin, P, HS, Rope{Mode: RopeNeox, Base: base, FreqScale: fs, AttnFactor: af})
	r := rand.New(rand.NewPCG(13, 14))
	B, T, NH := 1, 3, 2
	x := randSlice(r, B*T*NH*HS, 1)
	out := make([]float64, len(x))
	pos0 := 4
	RopeForward(out, x, cos, sin, B, T, NH, HS, pos0, RopeNeox)
	for tt := 0; tt < T; tt++ {
		for h := 0; h < NH; h++ {
			for i := 0; i < HS/2; i++ {
				o := (tt*NH+h)*HS + i
				theta := fs * float64(pos0+tt) * math.Pow(base, -2*float64(i)/HS)
				c, s := af*math.Cos(theta), af*math.Sin(theta)
				w0 := x[o]*c - x[o+HS/2]*s
				w1 := x[o]*s + x[o+HS/2]*c
				if math.Abs(out[o]-w0) > 1e-5 || math.Abs(out[o+HS/2]-w1) > 1e-5 {
					t.Fatalf("t%d h%d i%d: got (%g,%g) want (%g,%g)", tt, h, i, out[o], out[o+HS/2], w0, w1)
				}
			}
		}
	}
}

// TestBiasGELUBackward checks the bias add, GELU and GeGLU backward passes
// (each accumulating into its gradients) against finite differences.
func TestBiasGELUBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	N, C := 3, 5
	x, bias, dy := randSlice(r, N*C, 1), randSlice(r, C, 1), randSlice(r, N*C, 1)
	y := make([]float64, N*C)
	biasLoss := func() float64 { copy(y, x); BiasForward(y, bias, N, C); return dot(y, dy) }
	db := make([]float64, C)
	BiasBackward(db, dy, N, C)
	checkGrad(t, "dbias", bias, db, biasLoss)

	geluLoss := func() float64 { GELUForward(y, x); return dot(y, dy) }
	dx := randSlice(r, N*C, 1) // accumulate onto existing values
	base := append([]float64(nil), dx...)
	GELUBackward(dx, dy, x)
	for i := range dx {
		dx[i] -= base[i]
	}
	checkGrad(t, "gelu dx", x, dx, geluLoss)

	g, u := randSlice(r, N*C, 2), randSlice(r, N*C, 1)
	gegluLoss := func() float64 { GeGLUForward(y, g, u); return dot(y, dy) }
	dg, du := make([]float64, N*C), make([]float64, N*C)
	GeGLUBackward(dg, du, dy, g, u)
	checkGrad(t, "geglu dgate", g, dg, gegluLoss)
	checkGrad(t, "geglu dup", u, du, gegluLoss)
}

func TestAttentionBackward(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		B, Tq, Tk, NH, NKV, HS int
	}{
		{"mha", 2, 4, 4, 2, 2, 3},
		{"gqa", 2, 5, 5, 4, 2, 2},
		{"mqa-cached", 1, 2, 5, 4, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			B, Tq, Tk, NH, NKV, HS := tc.B, tc.Tq, tc.Tk, tc.NH, tc.NKV, tc.HS
			q := randSlice(r, B*Tq*NH*HS, 1)
			k := randSlice(r, B*Tk*NKV*HS, 1)
			v := randSlice(r, B*Tk*NKV*HS, 1)
			dy := randSlice(r, B*Tq*NH*HS, 1)
			out, att := make([]float64, len(q)), make([]float64, B*NH*Tq*Tk)
			loss := func() float64 {
				attentionForwardScalar(out, att, q, k, v, at(B, Tq, Tk, NH, NKV, HS))
				return dot(out, dy)
			}
			loss()
			naiveAttentionCheck(t, out, q, k, v, B, Tq, Tk, NH, NKV, HS)
			dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
			attentionBackwardScalar(dq, dk, dv, dy, q, k, v, att, at(B, Tq, Tk, NH, NKV, HS))
			checkGrad(t, "dq", q, dq, loss)
			checkGrad(t, "dk", k, dk, loss)
			checkGrad(t, "dv", v, dv, loss)
		})
	}
}

// naiveAttentionCheck recomputes attention with an explicit −∞ mask.
func naiveAttentionCheck(t *testing.T, out, q, k, v []float64, B, Tq, Tk, NH, NKV, HS int) {
	t.Helper()
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			kh := h / (NH / NKV)
			for i := 0; i < Tq; i++ {
				s := make([]float64, Tk)
				var z float64
				for j := 0; j < Tk; j++ {
					if j > Tk-Tq+i {
						s[j] = math.Inf(-1)
					} else {
						for d := 0; d < HS; d++ {
							s[j] += q[((b*Tq+i)*NH+h)*HS+d] * k[((b*Tk+j)*NKV+kh)*HS+d]
						}
						s[j] /= math.Sqrt(float64(HS))
					}
					z += math.Exp(s[j])
				}
				for d := 0; d < HS; d++ {
					var o float64
					for j := 0; j < Tk; j++ {
						o += math.Exp(s[j]) / z * v[((b*Tk+j)*NKV+kh)*HS+d]
					}
					if got := out[((b*Tq+i)*NH+h)*HS+d]; math.Abs(got-o) > 1e-12 {
						t.Fatalf("attention out b%d h%d t%d d%d = %g, want %g", b, h, i, d, got, o)
					}
				}
			}
		}
	}
}

func TestSwigluBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n := 11
	g, u, dy := randSlice(r, n, 2), randSlice(r, n, 1), randSlice(r, n, 1)
	out := make([]float64, n)
	loss := func() float64 { SwiGLUForward(out, g, u); return dot(out, dy) }
	dg, du := make([]float64, n), make([]float64, n)
	SwiGLUBackward(dg, du, dy, g, u)
	checkGrad(t, "dgate", g, dg, loss)
	checkGrad(t, "dup", u, du, loss)
}

func TestEncoderAndResidualBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	V, C := 5, 3
	tokens := []int{1, 4, 1, 0}
	wte, a := randSlice(r, V*C, 1), randSlice(r, len(tokens)*C, 1)
	dy := randSlice(r, len(tokens)*C, 1)
	emb, out := make([]float64, len(tokens)*C), make([]float64, len(tokens)*C)
	loss := func() float64 {
		EncoderForward(emb, tokens, wte, C)
		ResidualForward(out, emb, a)
		return dot(out, dy)
	}
	demb, da, dwte := make([]float64, len(emb)), make([]float64, len(a)), make([]float64, len(wte))
	ResidualBackward(demb, da, dy)
	EncoderBackward(dwte, demb, tokens, C)
	checkGrad(t, "dwte", wte, dwte, loss)
	checkGrad(t, "da", a, da, loss)
}

func TestCrossEntropyBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	N, V := 4, 6
	logits := randSlice(r, N*V, 3)
	targets := []int{2, -1, 5, 0}
	losses, lse := make([]float64, N), make([]float64, N)
	loss := func() float64 {
		c := CrossEntropyForward(losses, lse, logits, targets, N, V)
		var s float64
		for _, l := range losses {
			s += l
		}
		return s / float64(c)
	}
	if c := CrossEntropyForward(losses, lse, logits, targets, N, V); c != 3 || losses[1] != 0 {
		t.Fatalf("count %d, ignored loss %g", c, losses[1])
	}
	d := make([]float64, N*V)
	CrossEntropyBackward(d, logits, lse, targets, N, V, 1.0/3)
	checkGrad(t, "dlogits", logits, d, loss)
	lp := make([]float64, V)
	LogSoftmaxForward(lp, logits[:V])
	if math.Abs(-lp[2]-losses[0]) > 1e-12 {
		t.Fatalf("log-softmax %g vs loss %g", lp[2], losses[0])
	}
}

// TestAttentionParallelDeterministic checks that spreading attention over
// goroutines gives bit-identical results to the serial loops.
func TestAttentionParallelDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	B, T, NH, NKV, HS := 2, 40, 4, 2, 16
	q, k, v := randSlice(r, B*T*NH*HS, 1), randSlice(r, B*T*NKV*HS, 1), randSlice(r, B*T*NKV*HS, 1)
	dy := randSlice(r, len(q), 1)
	run := func(procs int) [][]float64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		out, att := make([]float64, len(q)), make([]float64, B*NH*T*T)
		attentionForwardScalar(out, att, q, k, v, at(B, T, T, NH, NKV, HS))
		dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
		attentionBackwardScalar(dq, dk, dv, dy, q, k, v, att, at(B, T, T, NH, NKV, HS))
		return [][]float64{out, att, dq, dk, dv}
	}
	serial, par := run(1), run(4)
	for i := range serial {
		for j := range serial[i] {
			if serial[i][j] != par[i][j] {
				t.Fatalf("output %d differs at %d", i, j)
			}
		}
	}
}
