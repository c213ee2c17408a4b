package quant

import (
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// offloader is an engine that takes the products it is told to (writing a
// marker value) and counts the calls.
type offloader struct {
	tensor.Engine[float32]
	take      bool
	xwt, xw   int
	lastN     int
	lastShape [2]int
}

func (o *offloader) OffloadXWt(w *Matrix, y, x []float32, n int) bool {
	o.xwt++
	o.lastN, o.lastShape = n, [2]int{w.Rows(), w.Cols()}
	if o.take {
		for i := range y {
			y[i] = 7
		}
	}
	return o.take
}

func (o *offloader) OffloadXW(w *Matrix, dx, dy []float32, n int) bool {
	o.xw++
	if o.take {
		for i := range dx {
			dx[i] = 9
		}
	}
	return o.take
}

// TestOffloader: an engine that is an Offloader gets both products first;
// when it takes them its results stand, when it declines the CPU path
// computes the same values as an engine without the interface.
func TestOffloader(t *testing.T) {
	const rows, cols, n = 5, 64, 3
	m, _ := randomMatrix(t, gguf.TypeQ8_0, rows, cols, 11)
	x := make([]float32, n*cols)
	dy := make([]float32, n*rows)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	for i := range dy {
		dy[i] = float32(i%5) - 2
	}
	cpu := tensor.NewBlocked[float32]()
	wantY, wantDX := make([]float32, n*rows), make([]float32, n*cols)
	MatMulXWt(cpu, m, wantY, x, n)
	MatMulXW(cpu, m, wantDX, dy, n)

	for _, take := range []bool{true, false} {
		o := &offloader{Engine: cpu, take: take}
		y, dx := make([]float32, n*rows), make([]float32, n*cols)
		MatMulXWt[float32](o, m, y, x, n)
		MatMulXW[float32](o, m, dx, dy, n)
		if o.xwt != 1 || o.xw != 1 || o.lastN != n || o.lastShape != [2]int{rows, cols} {
			t.Fatalf("take=%v: calls %d/%d, n %d, shape %v", take, o.xwt, o.xw, o.lastN, o.lastShape)
		}
		for i := range y {
			if want := map[bool]float32{true: 7, false: wantY[i]}[take]; y[i] != want {
				t.Fatalf("take=%v: y[%d] = %v, want %v", take, i, y[i], want)
			}
		}
		for i := range dx {
			if want := map[bool]float32{true: 9, false: wantDX[i]}[take]; dx[i] != want {
				t.Fatalf("take=%v: dx[%d] = %v, want %v", take, i, dx[i], want)
			}
		}
	}
}
