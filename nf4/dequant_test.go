package nf4

import (
	"fmt"
	"math"
	"testing"
)

// maxCodeGap is the largest distance between adjacent NF4 values
// (code 0 → 1: 1 - 0.6961928).
func maxCodeGap() float64 {
	c := Code()
	var g float64
	for i := 0; i+1 < len(c); i++ {
		g = max(g, float64(c[i+1])-float64(c[i]))
	}
	return g
}

func TestMaxCodeGap(t *testing.T) {
	if g := maxCodeGap(); math.Abs(g-(1-0.6961928009986877)) > 1e-9 {
		t.Errorf("max code gap = %v, want 1-0.6961928", g)
	}
}

// TestDequantizeErrorBound: |x - x̂| ≤ ½·maxgap·absmax(block) for every
// element, on Gaussian weights with outliers, every block size, odd shapes.
func TestDequantizeErrorBound(t *testing.T) {
	half := maxCodeGap() / 2
	for bs := 32; bs <= 4096; bs *= 2 {
		rows, cols := 7, 331
		w := randNormal(uint64(bs), rows*cols)
		w[5] = 3 // an outlier in block 0
		q, err := Quantize(w, rows, cols, Options{BlockSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		deq := make([]float32, len(w))
		q.Dequantize(deq)
		am := q.Absmax()
		for k, x := range w {
			// The float32 normalisation and product add a few ulps of absmax.
			bound := half*float64(am[k/bs])*(1+1e-6) + 1e-45
			if e := math.Abs(float64(x) - float64(deq[k])); e > bound {
				t.Fatalf("bs %d element %d: |%v - %v| = %v > %v", bs, k, x, deq[k], e, bound)
			}
		}
	}
}

// TestDequantizeRow checks rows against the whole-tensor dequantization on
// shapes where rows start mid-byte (odd cols) and mid-block.
func TestDequantizeRow(t *testing.T) {
	for _, s := range []struct{ rows, cols, bs int }{{5, 7, 32}, {3, 33, 32}, {4, 64, 64}, {9, 101, 128}, {2, 1, 32}, {1, 5000, 4096}} {
		for _, dq := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d/bs%d/dq=%v", s.rows, s.cols, s.bs, dq)
			q, err := Quantize(randNormal(7, s.rows*s.cols), s.rows, s.cols, Options{BlockSize: s.bs, DoubleQuant: dq})
			if err != nil {
				t.Fatal(err)
			}
			all := make([]float32, q.Len())
			q.Dequantize(all)
			// An independent element-by-element decode: code·scale.
			am := q.Absmax()
			for k, v := range all {
				if want := Code()[q.CodeAt(k)] * am[k/s.bs]; v != want {
					t.Fatalf("%s: element %d = %v, want %v", name, k, v, want)
				}
			}
			row := make([]float32, s.cols)
			for r := range s.rows {
				q.DequantizeRow(r, row)
				for c, v := range row {
					if v != all[r*s.cols+c] {
						t.Fatalf("%s: row %d col %d = %v, want %v", name, r, c, v, all[r*s.cols+c])
					}
				}
			}
		}
	}
}

func TestBitsPerParam(t *testing.T) {
	w := randNormal(3, 1024*1024)
	for _, tc := range []struct {
		opt       Options
		want, tol float64
	}{
		{Options{}, 4.5, 0},
		{Options{DoubleQuant: true}, 4.127, 0.001},
		{Options{BlockSize: 32}, 5, 0},
		{Options{BlockSize: 256}, 4.125, 0},
	} {
		q, err := Quantize(w, 1024, 1024, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.BitsPerParam(); math.Abs(got-tc.want) > tc.tol {
			t.Errorf("%+v: BitsPerParam = %v, want %v ± %v", tc.opt, got, tc.want, tc.tol)
		}
	}
}

// TestPanics: shape misuse of the non-error API is a programmer bug.
func TestPanics(t *testing.T) {
	q, _ := Quantize(randNormal(1, 12), 3, 4, Options{})
	for name, f := range map[string]func(){
		"Dequantize len":    func() { q.Dequantize(make([]float32, 11)) },
		"DequantizeRow row": func() { q.DequantizeRow(3, make([]float32, 4)) },
		"DequantizeRow len": func() { q.DequantizeRow(0, make([]float32, 5)) },
		"MatMulXWt len":     func() { MatMulXWt(q, make([]float32, 6), make([]float32, 7), 2) },
		"MatMulXW len":      func() { MatMulXW(q, make([]float64, 8), make([]float64, 5), 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
