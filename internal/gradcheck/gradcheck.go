// Package gradcheck checks analytic gradients against central finite
// differences, for the float64 instantiation of every Backward in webtune.
//
// Usage: compute the analytic gradients once at the current point, then
// hand Check a function that recomputes the scalar loss from the same
// slices it will perturb:
//
//	x := gradcheck.Rand(1, n)              // input, perturbed in place
//	r := gradcheck.Rand(2, m)              // fixed output weights: loss = Σ y·r
//	f := func() float64 { y := forward(x); return gradcheck.Dot(y, r) }
//	dx := backward(r, x)                   // analytic dloss/dx (dy = r)
//	gradcheck.Check(t, f, [][]float64{x, w}, [][]float64{dx, dw})
//
// Each element p of each params slice is set to p ± h, the central
// difference (f(p+h) − f(p−h))/2h is compared with the analytic value, and p
// is restored. The error of an element is |analytic − numeric| /
// max(|analytic|, |numeric|, Floor); the test fails when the largest exceeds
// Tol, naming the slice and index. With h = 1e-5 the truncation error is
// about h²·f‴ and the rounding error about 1e-16·|f|/h, both far below the
// default Tol of 1e-6 for smooth functions of moderate size; keep inputs
// away from kinks (ReLU at 0) and losses of order 1.
package gradcheck

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Options tunes Check; a zero field takes its default.
type Options struct {
	Step  float64 // h, default 1e-5
	Tol   float64 // largest relative error allowed, default 1e-6
	Floor float64 // smallest denominator of the relative error, default 1e-3
	Max   int     // elements checked per slice, evenly spread; 0 = all
}

func (o Options) withDefaults() Options {
	if o.Step == 0 {
		o.Step = 1e-5
	}
	if o.Tol == 0 {
		o.Tol = 1e-6
	}
	if o.Floor == 0 {
		o.Floor = 1e-3
	}
	return o
}

// Check compares grads[i] (analytic) with central differences of f with
// respect to params[i], for every i; len(grads[i]) must equal
// len(params[i]). f must read the params slices (they are perturbed in
// place and restored) and must not change anything else. The first Options
// given, if any, overrides the defaults. It returns the largest relative
// error found.
func Check(t testing.TB, f func() float64, params, grads [][]float64, opts ...Options) float64 {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o = o.withDefaults()
	if len(params) != len(grads) {
		t.Fatalf("gradcheck: %d param slices, %d gradient slices", len(params), len(grads))
	}
	worst := 0.0
	for i, p := range params {
		if len(grads[i]) != len(p) {
			t.Fatalf("gradcheck: slice %d: %d params, %d gradients", i, len(p), len(grads[i]))
		}
		stride := 1
		if o.Max > 0 && len(p) > o.Max {
			stride = (len(p) + o.Max - 1) / o.Max
		}
		for j := 0; j < len(p); j += stride {
			num := Central(f, p, j, o.Step)
			e := RelErr(grads[i][j], num, o.Floor)
			worst = max(worst, e)
			if e > o.Tol || math.IsNaN(e) {
				t.Errorf("gradcheck: slice %d index %d: analytic %.10g, numeric %.10g, relative error %.3g > %.3g",
					i, j, grads[i][j], num, e, o.Tol)
				return worst
			}
		}
	}
	return worst
}

// Central returns (f(p[j]+h) − f(p[j]−h))/2h, restoring p[j].
func Central(f func() float64, p []float64, j int, h float64) float64 {
	old := p[j]
	p[j] = old + h
	fp := f()
	p[j] = old - h
	fm := f()
	p[j] = old
	return (fp - fm) / (2 * h)
}

// Numerical returns the central-difference gradient of f with respect to
// every element of p.
func Numerical(f func() float64, p []float64, h float64) []float64 {
	g := make([]float64, len(p))
	for j := range p {
		g[j] = Central(f, p, j, h)
	}
	return g
}

// RelErr returns |a − b| / max(|a|, |b|, floor).
func RelErr(a, b, floor float64) float64 {
	return math.Abs(a-b) / max(math.Abs(a), math.Abs(b), floor)
}

// Rand returns n values uniform in [−1, 1) drawn from seed.
func Rand(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 0x853c49e6748fea9b))
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*r.Float64() - 1
	}
	return s
}

// Dot returns Σ a[i]·b[i]; with fixed random b it turns an output into a
// scalar loss whose gradient with respect to the output is b.
func Dot(a, b []float64) float64 {
	if len(a) != len(b) {
		panic("gradcheck: Dot: length mismatch")
	}
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Normal returns n values from N(0, sd²) drawn from r.
func Normal(r *rand.Rand, n int, sd float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.NormFloat64() * sd
	}
	return s
}

// CheckOne is Check for one parameter slice x (perturbed in place and
// restored) with the default options; it stops the test at a failure and
// logs the worst relative error under name.
func CheckOne(t testing.TB, name string, x, analytic []float64, loss func() float64) {
	t.Helper()
	worst := Check(t, loss, [][]float64{x}, [][]float64{analytic})
	if t.Failed() {
		t.Fatalf("gradient check of %s failed", name)
	}
	t.Logf("%s: %d entries, worst relative error %.2g", name, len(x), worst)
}
