package nn

import (
	"context"
	"testing"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/tensor"
)

// countingNF4 is a CPU engine with NF4 products that count their calls.
type countingNF4 struct {
	tensor.Engine[float32]
	fwd, bwd int
}

func (e *countingNF4) NF4MatMulXWt(w *nf4.Tensor, y, x []float32, n int) {
	e.fwd++
	nf4.MatMulXWt(w, y, x, n)
}

func (e *countingNF4) NF4MatMulXW(w *nf4.Tensor, dx, dy []float32, n int) {
	e.bwd++
	nf4.MatMulXW(w, dx, dy, n)
}

// TestNF4LinearUsesEngine checks that NF4Linear runs its products on an
// engine that implements NF4Engine, with the results of nf4's kernels.
func TestNF4LinearUsesEngine(t *testing.T) {
	w := make([]float32, 6*8)
	for i := range w {
		w[i] = float32(i%7)/7 - 0.5
	}
	q, err := nf4.Quantize(w, 6, 8, nf4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := &countingNF4{Engine: tensor.NewCPU[float32]()}
	fast, err := NewNF4Linear[float32]("l", q, nil, eng)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewNF4Linear[float32]("l", q, nil, tensor.NewCPU[float32]())
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.Zeros[float32](3, 8)
	for i := range x.Data() {
		x.Data()[i] = float32(i%5) - 2
	}
	ctx := context.Background()
	y1, err := fast.Forward(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	y2, _ := plain.Forward(ctx, x)
	dx1, err := fast.Backward(ctx, FullBackprop, y1, x)
	if err != nil {
		t.Fatal(err)
	}
	dx2, _ := plain.Backward(ctx, FullBackprop, y2, x)
	if eng.fwd != 1 || eng.bwd != 1 {
		t.Fatalf("engine NF4 calls: forward %d backward %d, want 1 and 1", eng.fwd, eng.bwd)
	}
	for i, v := range y1.Data() {
		if v != y2.Data()[i] {
			t.Fatalf("y[%d] = %v, want %v", i, v, y2.Data()[i])
		}
	}
	for i, v := range dx1[0].Data() {
		if v != dx2[0].Data()[i] {
			t.Fatalf("dx[%d] = %v, want %v", i, v, dx2[0].Data()[i])
		}
	}
}
