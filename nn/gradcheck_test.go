package nn_test

import (
	"context"
	"slices"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/internal/gradcheck"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

var ctx = context.Background()

var cpu64 = tensor.NewCPU[float64]()

// randTensor returns a tensor of the given shape with values U(−1, 1).
func randTensor(seed uint64, shape ...int) *tensor.Tensor[float64] {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.FromSlice(gradcheck.Rand(seed, n), shape...)
}

// checkNode checks a one-input node's Backward against finite differences of
// loss = Σ Forward(x)·r: dx and the gradient of every trainable parameter.
// Frozen parameters must stay without a gradient.
func checkNode(t *testing.T, node nn.Node[float64], x *tensor.Tensor[float64], seed uint64, opts ...gradcheck.Options) {
	t.Helper()
	y, err := node.Forward(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	dy := randTensor(seed, y.Shape()...)
	nn.ZeroGrads(node.Parameters())
	grads, err := node.Backward(ctx, nn.FullBackprop, dy, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(grads) != 1 || grads[0] == nil {
		t.Fatalf("Backward returned %d input gradients", len(grads))
	}
	params := [][]float64{x.Data()}
	want := [][]float64{grads[0].Data()}
	for _, p := range node.Parameters() {
		if !p.Trainable {
			if p.Grad != nil {
				t.Errorf("frozen %s has a gradient", p.Name)
			}
			continue
		}
		params = append(params, p.Value.Data())
		want = append(want, p.Grad.Data())
	}
	f := func() float64 {
		y, err := node.Forward(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		return gradcheck.Dot(y.Data(), dy.Data())
	}
	gradcheck.Check(t, f, params, want, opts...)
}

func TestLinearGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opt    nn.LinearOptions
		xShape []int
	}{
		{"bias", nn.LinearOptions{Bias: true, Seed: 1}, []int{5, 4}},
		{"no-bias", nn.LinearOptions{Seed: 2}, []int{5, 4}},
		{"frozen", nn.LinearOptions{Bias: true, Seed: 3, Frozen: true}, []int{5, 4}},
		{"leading-dims", nn.LinearOptions{Bias: true, Seed: 4}, []int{2, 3, 4}},
		{"single-row", nn.LinearOptions{Bias: true, Seed: 5}, []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := nn.NewLinear("fc", 4, 3, cpu64, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkNode(t, l, randTensor(10, tc.xShape...), 11)
		})
	}
}

func TestNF4LinearGradients(t *testing.T) {
	dense, err := nn.NewLinear("fc", 64, 6, cpu64, nn.LinearOptions{Bias: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	q, err := nn.QuantizeLinear(dense, nf4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkNode(t, q, randTensor(1, 3, 64), 2) // frozen bias: dx only
	q.SetFrozen(false)
	checkNode(t, q, randTensor(3, 2, 2, 64), 4) // dx and db
}

func TestActivationGradients(t *testing.T) {
	for _, kind := range []string{nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU} {
		t.Run(kind, func(t *testing.T) {
			a, err := nn.NewActivation[float64]("act", kind)
			if err != nil {
				t.Fatal(err)
			}
			x := randTensor(5, 3, 7)
			for i, v := range x.Data() { // keep ReLU's kink out of reach of ±h
				x.Data()[i] = 2.5 * v
				if v > -0.01 && v < 0.01 {
					x.Data()[i] = 0.5
				}
			}
			checkNode(t, a, x, 6)
		})
	}
}

func TestEmbeddingGradients(t *testing.T) {
	e := nn.NewEmbedding[float64]("tok", 7, 5, 1)
	ids := tensor.FromSlice([]float64{3, 0, 6, 3, 2, 3}, 2, 3)
	y, err := e.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	dy := randTensor(2, y.Shape()...)
	grads, err := e.Backward(ctx, nn.FullBackprop, dy, ids)
	if err != nil {
		t.Fatal(err)
	}
	if tensor.MaxAbs(grads[0].Data()) != 0 || !slices.Equal(grads[0].Shape(), []int{2, 3}) {
		t.Errorf("ids gradient %v, want zeros [2 3]", grads[0].Data())
	}
	f := func() float64 {
		y, _ := e.Forward(ctx, ids)
		return gradcheck.Dot(y.Data(), dy.Data())
	}
	w := e.Weight()
	gradcheck.Check(t, f, [][]float64{w.Value.Data()}, [][]float64{w.Grad.Data()})
}

func TestRMSNormGradients(t *testing.T) {
	r := nn.NewRMSNorm[float64]("norm", 6, 1e-5)
	copy(r.Weight().Value.Data(), gradcheck.Rand(9, 6)) // a non-trivial gain
	checkNode(t, r, randTensor(1, 2, 3, 6), 2)
}

func TestSequentialGradients(t *testing.T) {
	lin := func(name string, in, out int, seed int64, frozen bool) nn.Node[float64] {
		l, err := nn.NewLinear(name, in, out, cpu64, nn.LinearOptions{Bias: true, Seed: seed, Frozen: frozen})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	act := func(kind string) nn.Node[float64] {
		a, err := nn.NewActivation[float64](kind, kind)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	dense, _ := nn.NewLinear("q", 64, 5, cpu64, nn.LinearOptions{Seed: 9})
	q, err := nn.QuantizeLinear(dense, nf4.Options{BlockSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	inner := nn.NewSequential("blk.0", lin("blk.0.up", 5, 6, 3, false), act(nn.SiLU), lin("blk.0.down", 6, 64, 4, true))
	model := nn.NewSequential("mlp",
		lin("in", 4, 5, 1, false), act(nn.GELU), nn.NewRMSNorm[float64]("norm", 5, 1e-6),
		inner, act(nn.Tanh), q, act(nn.Sigmoid), lin("out", 5, 3, 5, false))
	checkNode(t, model, randTensor(7, 3, 4), 8)
}

func TestLossGradients(t *testing.T) {
	pred, target := randTensor(1, 3, 4), randTensor(2, 3, 4)
	_, g, err := nn.MSELoss(pred, target)
	if err != nil {
		t.Fatal(err)
	}
	mse := func() float64 { l, _, _ := nn.MSELoss(pred, target); return l }
	gradcheck.Check(t, mse, [][]float64{pred.Data()}, [][]float64{g.Data()})

	logits := randTensor(3, 2, 3, 5)
	tensor.Scale(logits.Data(), 3)
	targets := []int{4, -100, 0, 2, -100, 1}
	_, g, err = nn.CrossEntropyLoss(logits, targets, -100)
	if err != nil {
		t.Fatal(err)
	}
	ce := func() float64 { l, _, _ := nn.CrossEntropyLoss(logits, targets, -100); return l }
	gradcheck.Check(t, ce, [][]float64{logits.Data()}, [][]float64{g.Data()})
}

func TestQuantLinearGradients(t *testing.T) {
	for _, typ := range []gguf.TensorType{gguf.TypeQ4_K, gguf.TypeQ8_0, gguf.TypeBF16} {
		t.Run(typ.String(), func(t *testing.T) {
			q := mustQuantLinear(t, typ, 256, 6, true)
			checkNode(t, q, randTensor(1, 3, 256), 2) // frozen bias: dx only
			q.SetFrozen(false)
			checkNode(t, q, randTensor(3, 2, 2, 256), 4) // dx and db
		})
	}
}
