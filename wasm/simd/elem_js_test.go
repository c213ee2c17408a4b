//go:build js && wasm

package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The element-wise kernels against the scalar float32 references (llama's
// kernels, copied below where elem_js.go has no copy), on random data with
// edge values: ±Inf, NaN, ±0, exponent arguments just inside and outside
// [−87, 88], results in the denormal range, and every length mod 4.

var edgeValues = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	-87, 88, -86.99, 87.99, -87.01, 88.01, 88.7, 88.73, 89, -88.5, -100, -103.9, -104, -150,
	1e-40, -1e-40, 1e-45, 3e38, -3e38, 0.5, -0.5,
}

// sample returns n values ~ N(0, scale²); with probability pEdge each is an
// edge value instead.
func sample(rng *rand.Rand, n int, scale float64, pEdge float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		if rng.Float64() < pEdge {
			s[i] = edgeValues[rng.IntN(len(edgeValues))]
			continue
		}
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

// padded returns s inside a larger slice whose borders hold a sentinel, and
// a function checking that the borders are intact.
func padded(t *testing.T, s []float32) ([]float32, func(string)) {
	const pad, sentinel = 5, float32(-12345.5)
	b := make([]float32, len(s)+2*pad)
	for i := range b {
		b[i] = sentinel
	}
	copy(b[pad:], s)
	inner := b[pad : pad+len(s) : pad+len(s)]
	return inner, func(what string) {
		t.Helper()
		for i := range pad {
			if b[i] != sentinel || b[len(b)-1-i] != sentinel {
				t.Fatalf("%s: wrote outside the slice", what)
			}
		}
	}
}

func same(a, b float32) bool {
	return a == b && math.Signbit(float64(a)) == math.Signbit(float64(b)) || a != a && b != b
}

func near(a, b float32, rel float64) bool {
	if same(a, b) {
		return true
	}
	return math.Abs(float64(a)-float64(b)) <= rel*math.Max(math.Abs(float64(a)), math.Abs(float64(b)))
}

func needElem(t testing.TB) {
	if err := ElementwiseAvailable(); err != nil {
		t.Skip(err)
	}
}

var testLengths = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 31, 64, 101, 1000}

// TestElemExpAccuracy checks the module's exponential bit for bit against
// Expf32 and Expf32 against math.Exp over the float32 range: through
// CrossEntropyGrad with d = 0, lse = 0 and dloss = 1, where d = e^x.
func TestElemExpAccuracy(t *testing.T) {
	needElem(t)
	var xs []float32
	for x := float32(-110); x <= 100; x += 0.00137 {
		xs = append(xs, x)
	}
	xs = append(xs, edgeValues...)
	v := len(xs) + 1 // the last column is the target's, which gets −1
	d := make([]float32, v)
	if !CrossEntropyGrad(d, append(xs, 0), []float32{0}, []int{v - 1}, v, 1) {
		t.Fatal("unavailable")
	}
	var maxRel float64
	for i, x := range xs {
		e := Expf32(x)
		if !same(d[i], e) {
			t.Fatalf("module e^%g = %g, want Expf32's %g", x, d[i], e)
		}
		ref := float32(math.Exp(float64(x)))
		if !inExpRange(x) {
			if !same(e, ref) {
				t.Fatalf("Expf32(%g) = %g, want math.Exp's %g", x, e, ref)
			}
			continue
		}
		maxRel = max(maxRel, math.Abs(float64(e)-math.Exp(float64(x)))/math.Exp(float64(x)))
	}
	if maxRel > 3e-7 {
		t.Fatalf("max relative error of Expf32 %g, want <= 3e-7", maxRel)
	}
	t.Logf("%d arguments, bit-identical to Expf32; max relative error on [-87, 88] against e^x: %.3g", len(xs), maxRel)
}

func TestElemSwiGLU(t *testing.T) {
	needElem(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range testLengths {
		for _, pEdge := range []float64{0, 0.1} {
			g, u, do := sample(rng, n, 3, pEdge), sample(rng, n, 1, pEdge/4), sample(rng, n, 1, 0)
			out, check := padded(t, make([]float32, n))
			if !SwiGLUForward(out, g, u) {
				t.Fatal("unavailable")
			}
			check("SwiGLUForward")
			dg0, du0 := sample(rng, n, 1, 0), sample(rng, n, 1, 0)
			dg, checkG := padded(t, dg0)
			du, checkU := padded(t, du0)
			SwiGLUBackward(dg, du, do, g, u)
			checkG("SwiGLUBackward dgate")
			checkU("SwiGLUBackward dup")
			for i, x := range g {
				e := Expf32(-x)
				if want := x / (1 + e) * u[i]; !same(out[i], want) {
					t.Fatalf("n=%d: out[%d] = %g, want %g (g=%g u=%g)", n, i, out[i], want, x, u[i])
				}
				sig := 1 / (1 + e)
				wg := dg0[i] + do[i]*u[i]*sig*(1+x*(1-sig))
				wu := du0[i] + do[i]*x*sig
				if !same(dg[i], wg) || !same(du[i], wu) {
					t.Fatalf("n=%d: [%d] dgate %g dup %g, want %g %g (g=%g)", n, i, dg[i], du[i], wg, wu, x)
				}
			}
		}
	}
}

// TestElemSoftmaxRows runs causal row blocks (row r has len0+r entries)
// with special rows, comparing with the scalar row softmax.
func TestElemSoftmaxRows(t *testing.T) {
	needElem(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var worst float64
	for _, c := range []struct{ rows, len0, width, ld int }{
		{1, 1, 1, 1}, {1, 3, 3, 3}, {7, 1, 9, 11}, {64, 1, 64, 256}, {64, 65, 128, 256}, {13, 50, 70, 70}, {33, 5, 40, 41},
	} {
		for _, pEdge := range []float64{0, 0.002, 0.05} {
			a := sample(rng, (c.rows-1)*c.ld+c.width, 4, pEdge)
			if pEdge == 0.002 && c.rows > 3 { // a row 100 below its max, a row with -Inf
				a[c.ld*(c.rows/2)] = -200
				a[c.ld*(c.rows/3)+c.len0/2] = float32(math.Inf(-1))
			}
			want := append([]float32(nil), a...)
			for r := range c.rows {
				softmaxRowRef(want[r*c.ld:r*c.ld+c.width], c.len0+r)
			}
			got, check := padded(t, append([]float32(nil), a...))
			if !SoftmaxRows(got, c.rows, c.ld, c.len0, c.width) {
				t.Fatal("unavailable")
			}
			check("SoftmaxRows")
			for i := range got {
				if r, j := i/c.ld, i%c.ld; j >= c.width && !same(got[i], a[i]) {
					t.Fatalf("%+v: row %d col %d past width changed", c, r, j)
				}
				if !near(got[i], want[i], 4e-7) {
					t.Fatalf("%+v edge %g: [%d] = %g, want %g", c, pEdge, i, got[i], want[i])
				}
				if got[i] != want[i] && want[i] == want[i] {
					worst = max(worst, math.Abs(float64(got[i]-want[i]))/math.Abs(float64(want[i])))
				}
			}
		}
	}
	t.Logf("largest relative difference from the sequential float64 sum: %.3g", worst)
}

func softmaxBwdRef(p, d []float32, rows, ld, len0, cols int, scale float32) {
	for r := range rows {
		n := len0 + r
		pr, dr := p[r*ld:r*ld+cols], d[r*ld:r*ld+cols]
		var pdp float32
		for i := range n {
			pdp += pr[i] * dr[i]
		}
		for i := range n {
			dr[i] = pr[i] * (dr[i] - pdp) * scale
		}
		clear(dr[n:])
	}
}

func TestElemSoftmaxBackwardRows(t *testing.T) {
	needElem(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ rows, len0, cols, ld int }{
		{1, 1, 1, 1}, {1, 2, 5, 5}, {7, 1, 9, 11}, {64, 1, 64, 256}, {64, 129, 192, 256}, {5, 3, 7, 7},
	} {
		p := sample(rng, (c.rows-1)*c.ld+c.cols, 0.3, 0)
		d0 := sample(rng, len(p), 1, 0)
		want := append([]float32(nil), d0...)
		softmaxBwdRef(p, want, c.rows, c.ld, c.len0, c.cols, 0.125)
		got, check := padded(t, append([]float32(nil), d0...))
		if !SoftmaxBackwardRows(p, got, c.rows, c.ld, c.len0, c.cols, 0.125) {
			t.Fatal("unavailable")
		}
		check("SoftmaxBackwardRows")
		for i := range got {
			if j := i % c.ld; j >= c.cols && !same(got[i], d0[i]) {
				t.Fatalf("%+v: [%d] past cols changed", c, i)
			}
			// the Σ p·d runs in four lanes: compare with the sum's scale
			if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%+v: [%d] = %g, want %g", c, i, got[i], want[i])
			}
		}
	}
}

func TestElemCrossEntropy(t *testing.T) {
	needElem(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, v := range []int{1, 3, 4, 7, 33, 1024, 1037} {
		for _, pEdge := range []float64{0, 0.001, 0.05} {
			const n = 9
			logits := sample(rng, n*v, 5, pEdge)
			targets := make([]int, n)
			for r := range targets {
				targets[r] = rng.IntN(v)
			}
			targets[2], targets[5] = -1, -100
			if v > 8 && pEdge == 0.001 {
				logits[3*v+1] = logits[3*v] - 95 // a row whose exponent arguments go below −87
			}
			lse, checkL := padded(t, make([]float32, n))
			for r := range lse {
				lse[r] = -7
			}
			if !LogSumExpRows(lse, logits, targets, v) {
				t.Fatal("unavailable")
			}
			checkL("LogSumExpRows")
			for r, tg := range targets {
				if tg < 0 {
					if lse[r] != -7 {
						t.Fatalf("v=%d: ignored row %d written", v, r)
					}
					continue
				}
				if want := logSumExpRef(logits[r*v : (r+1)*v]); !near(lse[r], want, 2.5e-7) {
					t.Fatalf("v=%d edge %g: lse[%d] = %g, want %g", v, pEdge, r, lse[r], want)
				}
			}
			d0 := sample(rng, n*v, 1, 0)
			d, checkD := padded(t, append([]float32(nil), d0...))
			const dloss = 1.0 / 7
			if !CrossEntropyGrad(d, logits, lse, targets, v, dloss) {
				t.Fatal("unavailable")
			}
			checkD("CrossEntropyGrad")
			for r, tg := range targets {
				for i := range v {
					k := r*v + i
					want := d0[k]
					if tg >= 0 {
						want += dloss * Expf32(logits[k]-lse[r])
						if i == tg {
							want -= dloss
						}
					}
					if !same(d[k], want) {
						t.Fatalf("v=%d edge %g: d[%d,%d] = %g, want %g (x=%g lse=%g)", v, pEdge, r, i, d[k], want, logits[k], lse[r])
					}
				}
			}
		}
	}
}

func rmsnormBackwardRef(dinp, dweight, dout, inp, weight, rstd []float32, n, c int) {
	for r := range n {
		x, dy, s := inp[r*c:(r+1)*c], dout[r*c:(r+1)*c], rstd[r]
		if dinp != nil {
			var dot float32
			for i := range x {
				dot += dy[i] * weight[i] * x[i]
			}
			k := s * s * s * dot / float32(c)
			dx := dinp[r*c : (r+1)*c]
			for i := range x {
				dx[i] += s*weight[i]*dy[i] - k*x[i]
			}
		}
		if dweight != nil {
			for i := range x {
				dweight[i] += dy[i] * x[i] * s
			}
		}
	}
}

func TestElemRMSNorm(t *testing.T) {
	needElem(t)
	rng := rand.New(rand.NewPCG(9, 10))
	var fwdDiff, bwdWorst float64
	for _, c := range testLengths[1:] {
		for _, pEdge := range []float64{0, 0.02} {
			const n = 11
			x, w := sample(rng, n*c, 2, pEdge), sample(rng, c, 1, 0)
			out, checkO := padded(t, make([]float32, n*c))
			rstd, checkR := padded(t, make([]float32, n))
			if !RMSNormForward(out, rstd, x, w, n, c, 1e-5) {
				t.Fatal("unavailable")
			}
			checkO("RMSNormForward out")
			checkR("RMSNormForward rstd")
			wo, wr := make([]float32, n*c), make([]float32, n)
			rmsnormForwardRef(wo, wr, x, w, n, c, 1e-5)
			for r := range n {
				if !same(rstd[r], wr[r]) {
					fwdDiff++
					if !near(rstd[r], wr[r], 1.2e-7) {
						t.Fatalf("c=%d edge %g: rstd[%d] = %g, want %g", c, pEdge, r, rstd[r], wr[r])
					}
					continue
				}
				for i := range c {
					if k := r*c + i; !same(out[k], wo[k]) {
						t.Fatalf("c=%d: out[%d] = %g, want %g", c, k, out[k], wo[k])
					}
				}
			}
			if pEdge > 0 {
				continue // the backward test wants finite data
			}
			dy := sample(rng, n*c, 1, 0)
			for _, outs := range []struct{ dx, dw bool }{{true, true}, {true, false}, {false, true}} {
				dx0, dw0 := sample(rng, n*c, 1, 0), sample(rng, c, 1, 0)
				var dx, dw, wdx, wdw []float32
				checks := []func(string){}
				if outs.dx {
					var ch func(string)
					dx, ch = padded(t, append([]float32(nil), dx0...))
					checks = append(checks, ch)
					wdx = append([]float32(nil), dx0...)
				}
				if outs.dw {
					var ch func(string)
					dw, ch = padded(t, append([]float32(nil), dw0...))
					checks = append(checks, ch)
					wdw = append([]float32(nil), dw0...)
				}
				RMSNormBackward(dx, dw, dy, x, w, wr, n, c)
				for _, ch := range checks {
					ch("RMSNormBackward")
				}
				rmsnormBackwardRef(wdx, wdw, dy, x, w, wr, n, c)
				for i := range wdw {
					if !same(dw[i], wdw[i]) {
						t.Fatalf("c=%d: dweight[%d] = %g, want %g", c, i, dw[i], wdw[i])
					}
				}
				for i := range wdx {
					// Σ dy·w·x in four lanes: differences at the dot's rounding
					diff := math.Abs(float64(dx[i] - wdx[i]))
					if diff > 1e-5*(1+math.Abs(float64(wdx[i]))) {
						t.Fatalf("c=%d: dinp[%d] = %g, want %g", c, i, dx[i], wdx[i])
					}
					bwdWorst = max(bwdWorst, diff/(1+math.Abs(float64(wdx[i]))))
				}
			}
		}
	}
	t.Logf("rstd differing from the sequential float64 sum: %g rows; largest dinp difference %.3g (relative to 1+|dinp|)", fwdDiff, bwdWorst)
}

// TestElemOff checks that SetElementwise(false) makes every function
// report false without touching its outputs.
func TestElemOff(t *testing.T) {
	needElem(t)
	prev := SetElementwise(false)
	defer SetElementwise(prev)
	out := []float32{5}
	if SwiGLUForward(out, []float32{1}, []float32{1}) || out[0] != 5 {
		t.Fatal("SwiGLUForward ran while off")
	}
	if RMSNormForward(out, []float32{0}, []float32{1}, []float32{1}, 1, 1, 1e-5) || out[0] != 5 {
		t.Fatal("RMSNormForward ran while off")
	}
}

func BenchmarkElem(b *testing.B) {
	needElem(b)
	rng := rand.New(rand.NewPCG(1, 1))
	const n, f, c, v, T = 256, 768, 288, 4096, 256
	g, u, out := sample(rng, n*f, 2, 0), sample(rng, n*f, 1, 0), make([]float32, n*f)
	dg, du := make([]float32, n*f), make([]float32, n*f)
	x, w, rstd, y := sample(rng, n*c, 1, 0), sample(rng, c, 1, 0), make([]float32, n), make([]float32, n*c)
	logits, targets, lse, dl := sample(rng, n*v, 3, 0), make([]int, n), make([]float32, n), make([]float32, n*v)
	att := sample(rng, T*T, 2, 0)
	for i := range targets {
		targets[i] = rng.IntN(v)
	}
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "simd", false: "go"}[on]
		run := func(what string, elems int, fn func()) {
			b.Run(what+"/"+name, func(b *testing.B) {
				prev := SetElementwise(on)
				defer SetElementwise(prev)
				for b.Loop() {
					fn()
				}
				b.ReportMetric(float64(elems)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
			})
		}
		run("swiglu_fwd", n*f, func() {
			if !SwiGLUForward(out, g, u) {
				for i, x := range g {
					out[i] = x / (1 + Expf32(-x)) * u[i]
				}
			}
		})
		run("swiglu_bwd", n*f, func() {
			if !SwiGLUBackward(dg, du, out, g, u) {
				for i, x := range g {
					sig := 1 / (1 + Expf32(-x))
					dg[i] += out[i] * u[i] * sig * (1 + x*(1-sig))
					du[i] += out[i] * x * sig
				}
			}
		})
		run("softmax_causal", T*(T+1)/2, func() {
			a := append(att[:0:0], att...)
			if !SoftmaxRows(a, T, T, 1, T) {
				for r := range T {
					softmaxRowRef(a[r*T:(r+1)*T], r+1)
				}
			}
		})
		pr, dsm := sample(rng, T*T, 0.05, 0), sample(rng, T*T, 1, 0)
		run("softmax_bwd_causal", T*(T+1)/2, func() {
			if !SoftmaxBackwardRows(pr, dsm, T, T, 1, T, 0.125) {
				softmaxBwdRef(pr, dsm, T, T, 1, T, 0.125)
			}
		})
		run("lse", n*v, func() {
			if !LogSumExpRows(lse, logits, targets, v) {
				for r := range n {
					lse[r] = logSumExpRef(logits[r*v : (r+1)*v])
				}
			}
		})
		run("ce_grad", n*v, func() {
			if !CrossEntropyGrad(dl, logits, lse, targets, v, 1e-3) {
				for r := range n {
					for i := range v {
						dl[r*v+i] += 1e-3 * Expf32(logits[r*v+i]-lse[r])
					}
				}
			}
		})
		run("rmsnorm_fwd", n*c, func() {
			if !RMSNormForward(y, rstd, x, w, n, c, 1e-5) {
				rmsnormForwardRef(y, rstd, x, w, n, c, 1e-5)
			}
		})
		run("rmsnorm_bwd", n*c, func() {
			if !RMSNormBackward(y, w, x, x, w, rstd, n, c) {
				rmsnormBackwardRef(y, w, x, x, w, rstd, n, c)
			}
		})
	}
}
