package gradcheck

import (
	"math"
	"testing"
)

func TestCheckPasses(t *testing.T) {
	x := Rand(1, 5)
	f := func() float64 {
		var s float64
		for _, v := range x {
			s += math.Sin(v) * v
		}
		return s
	}
	g := make([]float64, len(x))
	for i, v := range x {
		g[i] = math.Cos(v)*v + math.Sin(v)
	}
	if e := Check(t, f, [][]float64{x}, [][]float64{g}); e > 1e-8 {
		t.Fatalf("worst error %g", e)
	}
}

// fakeTB records failures instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestCheckCatchesWrongGradient(t *testing.T) {
	x := []float64{0.3, -0.7}
	f := func() float64 { return x[0]*x[0] + 3*x[1] }
	ft := &fakeTB{TB: t}
	Check(ft, f, [][]float64{x}, [][]float64{{0.6, 3.001}})
	if !ft.failed {
		t.Fatal("a gradient off by 3e-4 relative passed")
	}
	if x[0] != 0.3 || x[1] != -0.7 {
		t.Fatalf("params not restored: %v", x)
	}
}

func TestNumerical(t *testing.T) {
	x := []float64{2}
	g := Numerical(func() float64 { return x[0] * x[0] * x[0] }, x, 1e-5)
	if math.Abs(g[0]-12) > 1e-8 {
		t.Fatalf("d(x³)/dx at 2 = %v, want 12", g[0])
	}
}
