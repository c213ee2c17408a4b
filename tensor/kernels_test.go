package tensor

import (
	"slices"
	"testing"
)

func TestKernels(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5, 6}
	b := []float64{6, 5, 4, 3, 2, 1}
	d := make([]float64, 6)
	check := func(name string, got, want []float64) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	AddTo(d, a, b)
	check("AddTo", d, []float64{7, 7, 7, 7, 7, 7})
	Sub(d, a)
	check("Sub", d, []float64{6, 5, 4, 3, 2, 1})
	Add(d, a)
	check("Add", d, []float64{7, 7, 7, 7, 7, 7})
	SubTo(d, a, b)
	check("SubTo", d, []float64{-5, -3, -1, 1, 3, 5})
	MulTo(d, a, b)
	check("MulTo", d, []float64{6, 10, 12, 12, 10, 6})
	Mul(d, []float64{1, 0, 1, 0, 1, 0})
	check("Mul", d, []float64{6, 0, 12, 0, 10, 0})
	AddMul(d, a, a)
	check("AddMul", d, []float64{7, 4, 21, 16, 35, 36})
	ScaleTo(d, 2, a)
	check("ScaleTo", d, []float64{2, 4, 6, 8, 10, 12})
	Scale(d, 0.5)
	check("Scale", d, a)
	Axpy(d, -1, a)
	check("Axpy", d, []float64{0, 0, 0, 0, 0, 0})
	AddConst(d, 1)
	check("AddConst", d, []float64{1, 1, 1, 1, 1, 1})
	Fill(d, 3)
	check("Fill", d, []float64{3, 3, 3, 3, 3, 3})
	AddRowVector(d, []float64{1, 2, 3})
	check("AddRowVector", d, []float64{4, 5, 6, 4, 5, 6})
	cs := []float64{1, 1, 1}
	AddColumnSums(cs, a)
	check("AddColumnSums", cs, []float64{6, 8, 10})
	if got := Dot(a, b); got != 56 {
		t.Errorf("Dot = %v, want 56", got)
	}
	if got := Sum(a); got != 21 {
		t.Errorf("Sum = %v, want 21", got)
	}
	if got := SumSq(a); got != 91 {
		t.Errorf("SumSq = %v, want 91", got)
	}
	if got := MaxAbs([]float32{1, -7, 3}); got != 7 {
		t.Errorf("MaxAbs = %v, want 7", got)
	}
	f := make([]float32, 6)
	Convert(f, a)
	if f[5] != 6 {
		t.Errorf("Convert = %v", f)
	}
	if !AllFinite(a) || AllFinite([]float64{1, zero() / zero()}) {
		t.Error("AllFinite")
	}
}

func zero() float64 { return 0 }

func TestKernelLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Add([]float32{1, 2}, []float32{1})
}

func TestKernelsDoNotAllocate(t *testing.T) {
	a, b := make([]float32, 1024), make([]float32, 1024)
	n := testing.AllocsPerRun(10, func() {
		AddTo(a, a, b)
		Axpy(a, 2, b)
		AddRowVector(a, b[:64])
		AddColumnSums(b[:64], a)
		_ = Dot(a, b)
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}
