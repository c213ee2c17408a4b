package nn_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/webtune/webtune/internal/gradcheck"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

func mustLinear(t *testing.T, name string, in, out int, opt nn.LinearOptions) *nn.Linear[float64] {
	t.Helper()
	l, err := nn.NewLinear(name, in, out, cpu64, opt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func names(layers []nn.Node[float64]) []string {
	var s []string
	for _, l := range layers {
		s = append(s, l.Name())
	}
	return s
}

func TestLinearForwardByHand(t *testing.T) {
	w := tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.FromSlice([]float64{0.5, -1}, 2)
	l, err := nn.NewLinearFrom("fc", w, b, cpu64)
	if err != nil {
		t.Fatal(err)
	}
	y, err := l.Forward(ctx, tensor.FromSlice([]float64{1, 0, -1, 2, 1, 0}, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	// [1,0,−1]·[1,2,3] + 0.5 = −1.5; ·[4,5,6] − 1 = −3; [2,1,0]: 4.5, 12.
	near(t, "y", y.Data(), []float64{-1.5, -3, 4.5, 12}, 0)
	if !slices.Equal(l.OutputShape(), []int{2, 2}) || l.InFeatures() != 3 || l.OutFeatures() != 2 || l.OpType() != "Linear" {
		t.Errorf("OutputShape %v, in %d, out %d", l.OutputShape(), l.InFeatures(), l.OutFeatures())
	}
}

func TestLinearInit(t *testing.T) {
	a := mustLinear(t, "a", 16, 8, nn.LinearOptions{Bias: true, Seed: 42})
	b := mustLinear(t, "b", 16, 8, nn.LinearOptions{Bias: true, Seed: 42})
	c := mustLinear(t, "c", 16, 8, nn.LinearOptions{Bias: true, Seed: 43})
	if !slices.Equal(a.Weight().Value.Data(), b.Weight().Value.Data()) {
		t.Error("same seed, different weights")
	}
	if slices.Equal(a.Weight().Value.Data(), c.Weight().Value.Data()) {
		t.Error("different seeds, same weights")
	}
	for _, p := range a.Parameters() {
		if m := tensor.MaxAbs(p.Value.Data()); m > 0.25 || m < 0.15 {
			t.Errorf("%s: max |w| = %v, want just under 1/√16", p.Name, m)
		}
	}
	if a.Weight().Name != "a.weight" || a.Bias().Name != "a.bias" {
		t.Errorf("names %q %q", a.Weight().Name, a.Bias().Name)
	}
	if !slices.Equal(a.Weight().Value.Shape(), []int{8, 16}) {
		t.Errorf("weight shape %v", a.Weight().Value.Shape())
	}
}

func TestLinearFrozenAndParamsOnly(t *testing.T) {
	l := mustLinear(t, "fc", 3, 2, nn.LinearOptions{Bias: true, Seed: 1, Frozen: true})
	if l.Weight().Grad != nil || l.Bias().Grad != nil || l.Weight().Trainable {
		t.Fatal("frozen layer has gradients")
	}
	x := randTensor(1, 4, 3)
	dy := randTensor(2, 4, 2)
	g, err := l.Backward(ctx, nn.ParamsOnly, dy, x)
	if err != nil || len(g) != 1 || g[0] != nil {
		t.Fatalf("ParamsOnly on a frozen layer: %v, %v", g, err)
	}
	l.SetFrozen(false)
	full, _ := l.Backward(ctx, nn.FullBackprop, dy, x)
	dw := slices.Clone(l.Weight().Grad.Data())
	nn.ZeroGrads(l.Parameters())
	if _, err := l.Backward(ctx, nn.ParamsOnly, dy, x); err != nil {
		t.Fatal(err)
	}
	near(t, "dW in ParamsOnly", l.Weight().Grad.Data(), dw, 0)
	if full[0] == nil {
		t.Fatal("FullBackprop returned no dx")
	}
}

func TestLinearShapeErrors(t *testing.T) {
	l := mustLinear(t, "fc", 3, 2, nn.LinearOptions{})
	x := randTensor(1, 4, 3)
	cases := map[string]error{}
	_, cases["wrong in"] = l.Forward(ctx, randTensor(1, 4, 5))
	_, cases["no input"] = l.Forward(ctx)
	_, cases["two inputs"] = l.Forward(ctx, x, x)
	_, cases["bad dy"] = l.Backward(ctx, nn.FullBackprop, randTensor(2, 4, 3), x)
	_, cases["dy rows"] = l.Backward(ctx, nn.FullBackprop, randTensor(2, 5, 2), x)
	_, cases["in 0"] = nn.NewLinear("z", 0, 2, cpu64, nn.LinearOptions{})
	_, cases["weight 1-d"] = nn.NewLinearFrom("z", tensor.Zeros[float64](3), nil, cpu64)
	_, cases["bias size"] = nn.NewLinearFrom("z", tensor.Zeros[float64](2, 3), tensor.Zeros[float64](3), cpu64)
	_, _, cases["mse"] = nn.MSELoss(randTensor(1, 2, 3), randTensor(1, 3, 2))
	_, _, cases["ce targets"] = nn.CrossEntropyLoss(randTensor(1, 2, 3), []int{0}, -100)
	for name, err := range cases {
		if !errors.Is(err, nn.ErrShape) {
			t.Errorf("%s: err = %v, want ErrShape", name, err)
		}
	}
}

func TestNF4LinearMatchesDequantizedLinear(t *testing.T) {
	dense := mustLinear(t, "fc", 128, 10, nn.LinearOptions{Bias: true, Seed: 3})
	q, err := nn.QuantizeLinear(dense, nf4.Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	if q.Name() != "fc" || q.InFeatures() != 128 || q.OutFeatures() != 10 || q.OpType() != "NF4Linear" {
		t.Fatalf("%s %d %d %s", q.Name(), q.InFeatures(), q.OutFeatures(), q.OpType())
	}
	if ps := q.Parameters(); len(ps) != 1 || ps[0].Trainable {
		t.Fatalf("parameters %v: want only the frozen bias", ps)
	}
	ref, err := nn.NewLinearFrom("ref", q.DequantizedWeight(), q.Bias().Value, cpu64)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(1, 3, 128)
	yq, _ := q.Forward(ctx, x)
	yr, _ := ref.Forward(ctx, x)
	near(t, "forward", yq.Data(), yr.Data(), 1e-12)
	dy := randTensor(2, 3, 10)
	gq, _ := q.Backward(ctx, nn.FullBackprop, dy, x)
	gr, _ := ref.Backward(ctx, nn.FullBackprop, dy, x)
	near(t, "dx", gq[0].Data(), gr[0].Data(), 1e-12)
	// The quantization error is small against the dense layer.
	yd, _ := dense.Forward(ctx, x)
	for i := range yd.Data() {
		if d := math.Abs(yd.Data()[i] - yq.Data()[i]); d > 0.1 {
			t.Fatalf("y[%d]: dense %v, nf4 %v", i, yd.Data()[i], yq.Data()[i])
		}
	}
}

func TestSequentialLayersAndReplace(t *testing.T) {
	relu, _ := nn.NewActivation[float64]("act", nn.ReLU)
	attn := nn.NewSequential("blk.0.attn",
		mustLinear(t, "blk.0.attn_q", 4, 4, nn.LinearOptions{}),
		mustLinear(t, "blk.0.attn_v", 4, 4, nn.LinearOptions{}))
	blk := nn.NewSequential("blk.0", attn, relu, mustLinear(t, "blk.0.ffn_up", 4, 4, nn.LinearOptions{}))
	model := nn.NewSequential[float64]("model", mustLinear(t, "in", 4, 4, nn.LinearOptions{}), blk,
		mustLinear(t, "output", 4, 2, nn.LinearOptions{}))
	want := []string{"in", "blk.0.attn_q", "blk.0.attn_v", "act", "blk.0.ffn_up", "output"}
	if got := names(model.Layers()); !slices.Equal(got, want) {
		t.Fatalf("Layers = %v, want %v", got, want)
	}
	repl := mustLinear(t, "blk.0.attn_v", 4, 4, nn.LinearOptions{Seed: 9})
	if err := model.ReplaceLayer("blk.0.attn_v", repl); err != nil {
		t.Fatal(err)
	}
	if model.Layers()[2] != nn.Node[float64](repl) {
		t.Error("nested layer not replaced")
	}
	if err := model.ReplaceLayer("blk.9.attn_v", repl); !errors.Is(err, nn.ErrNotFound) {
		t.Errorf("missing name: err = %v, want ErrNotFound", err)
	}
	if n := len(model.Parameters()); n != 5 {
		t.Errorf("%d parameters, want 5 weights", n)
	}
	y, err := model.Forward(ctx, randTensor(1, 3, 4))
	if err != nil || !slices.Equal(y.Shape(), []int{3, 2}) || !slices.Equal(model.OutputShape(), []int{3, 2}) {
		t.Fatalf("forward: %v %v", y, err)
	}
	// Backward on inputs never seen by Forward reruns Forward first.
	x2 := randTensor(5, 2, 4)
	g, err := model.Backward(ctx, nn.FullBackprop, randTensor(6, 2, 2), x2)
	if err != nil || !slices.Equal(g[0].Shape(), []int{2, 4}) {
		t.Fatalf("backward on new inputs: %v %v", g, err)
	}
}

func TestMSELossByHand(t *testing.T) {
	pred := tensor.FromSlice([]float64{1, 2, 3, 4}, 2, 2)
	target := tensor.FromSlice([]float64{0, 2, 5, 4}, 2, 2)
	loss, g, err := nn.MSELoss(pred, target)
	if err != nil {
		t.Fatal(err)
	}
	// d = [1, 0, −2, 0]: mean d² = 5/4; grad = 2d/4.
	if loss != 1.25 {
		t.Errorf("loss = %v, want 1.25", loss)
	}
	near(t, "grad", g.Data(), []float64{0.5, 0, -1, 0}, 0)
}

// TestMSELossFloat32 checks the float32 loss and gradient against float64
// on lengths around the 64-element summation chunk (odd tails included).
func TestMSELossFloat32(t *testing.T) {
	for _, n := range []int{1, 2, 63, 64, 65, 129, 1001} {
		p64, t64 := gradcheck.Rand(uint64(n), n), gradcheck.Rand(uint64(n)+1, n)
		p32, t32 := make([]float32, n), make([]float32, n)
		for i := range n {
			p32[i], t32[i] = float32(p64[i]), float32(t64[i])
			p64[i], t64[i] = float64(p32[i]), float64(t32[i])
		}
		want, wantG, err := nn.MSELoss(tensor.FromSlice(p64, n), tensor.FromSlice(t64, n))
		if err != nil {
			t.Fatal(err)
		}
		got, g, err := nn.MSELoss(tensor.FromSlice(p32, n), tensor.FromSlice(t32, n))
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(float64(got)-want) / want; d > 1e-6 {
			t.Errorf("n=%d: loss %g, float64 %g (relative %g)", n, got, want, d)
		}
		for i, v := range g.Data() {
			if d := math.Abs(float64(v) - wantG.Data()[i]); d > 1e-6*math.Abs(wantG.Data()[i])+1e-12 {
				t.Fatalf("n=%d: grad[%d] = %g, float64 %g", n, i, v, wantG.Data()[i])
			}
		}
	}
}

func TestCrossEntropyByHand(t *testing.T) {
	// Row 0: logits [0, 0], target 0: −log ½ = ln 2.
	// Row 1: ignored.
	// Row 2: logits [ln 3, 0], target 1: softmax [¾, ¼], −log ¼ = ln 4.
	// Mean over the 2 counted rows: 1.5·ln 2.
	logits := tensor.FromSlice([]float64{0, 0, 9, -9, math.Log(3), 0}, 3, 2)
	loss, g, err := nn.CrossEntropyLoss(logits, []int{0, -100, 1}, -100)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss-1.5*math.Ln2) > 1e-15 {
		t.Errorf("loss = %v, want %v", loss, 1.5*math.Ln2)
	}
	// (softmax − onehot)/2: [−¼, ¼], ignored row 0, [⅜, −⅜].
	near(t, "grad", g.Data(), []float64{-0.25, 0.25, 0, 0, 0.375, -0.375}, 1e-15)

	// Stable with huge logits; no counted row gives zero.
	big := tensor.FromSlice([]float32{1000, 0, -1000, 1000}, 2, 2)
	l32, g32, err := nn.CrossEntropyLoss(big, []int{0, 1}, -1)
	if err != nil || l32 != 0 || !tensor.AllFinite(g32.Data()) {
		t.Errorf("huge logits: loss %v grad %v err %v", l32, g32.Data(), err)
	}
	l0, g0, err := nn.CrossEntropyLoss(logits, []int{-100, -100, -100}, -100)
	if err != nil || l0 != 0 || tensor.MaxAbs(g0.Data()) != 0 {
		t.Errorf("all ignored: loss %v err %v", l0, err)
	}
	if _, _, err := nn.CrossEntropyLoss(logits, []int{0, 2, 1}, -100); !errors.Is(err, nn.ErrRange) {
		t.Errorf("target out of range: err = %v, want ErrRange", err)
	}
}

func TestEmbeddingAndActivationErrors(t *testing.T) {
	e := nn.NewEmbedding[float64]("tok", 4, 2, 1)
	for _, ids := range [][]float64{{4}, {-1}, {1.5}} {
		if _, err := e.Forward(ctx, tensor.FromSlice(ids, 1)); !errors.Is(err, nn.ErrRange) {
			t.Errorf("ids %v: err = %v, want ErrRange", ids, err)
		}
	}
	y, err := e.ForwardIDs([]int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	w := e.Weight().Value.Data()
	near(t, "rows", y.Data(), []float64{w[4], w[5], w[0], w[1]}, 0)
	if _, err := nn.NewActivation[float64]("a", "swish"); !errors.Is(err, nn.ErrNotFound) {
		t.Errorf("unknown activation: err = %v", err)
	}
}

func TestRMSNormByHand(t *testing.T) {
	r := nn.NewRMSNorm[float64]("norm", 2, 0)
	copy(r.Weight().Value.Data(), []float64{1, 2})
	// x = [3, 4]: mean x² = 12.5, y = x/√12.5·g.
	y, err := r.Forward(ctx, tensor.FromSlice([]float64{3, 4}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	s := 1 / math.Sqrt(12.5)
	near(t, "y", y.Data(), []float64{3 * s, 8 * s}, 1e-15)
}

// TestFloat32MatchesFloat64 runs one small model in both precisions.
func TestFloat32MatchesFloat64(t *testing.T) {
	build := func(l64 *nn.Linear[float64]) *nn.Linear[float32] {
		w := make([]float32, l64.Weight().Value.Size())
		tensor.Convert(w, l64.Weight().Value.Data())
		l, err := nn.NewLinearFrom("fc", tensor.FromSlice(w, l64.OutFeatures(), l64.InFeatures()), nil, tensor.NewCPU[float32]())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l64 := mustLinear(t, "fc", 8, 5, nn.LinearOptions{Seed: 5})
	l32 := build(l64)
	x64 := randTensor(1, 3, 8)
	x32 := tensor.Zeros[float32](3, 8)
	tensor.Convert(x32.Data(), x64.Data())
	y64, _ := l64.Forward(ctx, x64)
	y32, _ := l32.Forward(ctx, x32)
	got := make([]float64, y32.Size())
	tensor.Convert(got, y32.Data())
	near(t, "float32", got, y64.Data(), 1e-6)
}
