package lora

import (
	"math"
	"slices"
	"testing"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// mlp returns a 4→32→32→1 tanh MLP with seeded weights.
func mlp(t testing.TB, seed int64) *nn.Sequential[float32] {
	t.Helper()
	e := tensor.NewCPU[float32]()
	lin := func(name string, in, out int) nn.Node[float32] {
		seed++
		l, err := nn.NewLinear(name, in, out, e, nn.LinearOptions{Bias: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	act := func(name string) nn.Node[float32] {
		a, err := nn.NewActivation[float32](name, "tanh")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return nn.NewSequential("mlp", lin("fc1", 4, 32), act("act1"), lin("fc2", 32, 32), act("act2"), lin("output", 32, 1))
}

// regressionData returns n seeded inputs x ∈ U(−1, 1)⁴ and the target
// f(x) = sin(πx₀)·cos(x₁) + x₂·x₃ − 0.5·x₀.
func regressionData(n int, seed uint64) (x, y *tensor.Tensor[float32]) {
	xs := randT[float32](seed, n*4)
	ys := make([]float32, n)
	for i := range ys {
		v := xs[4*i:]
		ys[i] = float32(math.Sin(math.Pi*float64(v[0]))*math.Cos(float64(v[1])) + float64(v[2]*v[3]) - 0.5*float64(v[0]))
	}
	return tensor.FromSlice(xs, n, 4), tensor.FromSlice(ys, n, 1)
}

// TestQLoRARegression trains LoRA adapters over NF4 bases of a random MLP
// to regress f; the loss must fall at least 20× and only A, B may move.
func TestQLoRARegression(t *testing.T) {
	m := mlp(t, 1)
	opt := nn.NewAdamW[float32](nn.AdamWConfig{LR: 1e-2, NoWeightDecay: true})
	q, err := NewQLoRATrainer[float32](m, 8, 16, []string{"fc1", "fc2", "output"}, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range Adapters[float32](m) {
		if l.Base().OpType() != "NF4Linear" {
			t.Fatalf("%s base is %s, want NF4Linear", l.Name(), l.Base().OpType())
		}
	}
	if n := len(q.TrainableParams()); n != 6 || q.Alpha() != 16 || q.Rank() != 8 {
		t.Fatalf("%d trainable params, alpha %v, rank %d", n, q.Alpha(), q.Rank())
	}
	biases := map[string][]float32{}
	for _, l := range Adapters[float32](m) {
		biases[l.Name()] = slices.Clone(l.Base().Parameters()[0].Value.Data())
	}
	// 300 steps of AdamW with a linear decay from 1e-2 to 0: over 15 seeds
	// the loss fell 100–230×, so 20× leaves a wide margin.
	x, y := regressionData(256, 3)
	const steps = 300
	var first, last float32
	for step := range steps {
		opt.SetLR(1e-2 * (1 - float64(step)/steps))
		loss, err := q.Step(ctx, x, y)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
		if step%50 == 0 {
			t.Logf("step %d loss %.5f", step, loss)
		}
	}
	t.Logf("loss %.5f → %.5f (%.1f×)", first, last, first/last)
	if !(first/last >= 20) {
		t.Fatalf("loss fell from %v to %v, only %.1f×", first, last, first/last)
	}
	for _, l := range Adapters[float32](m) {
		bias := l.Base().Parameters()[0]
		if bias.Trainable || !slices.Equal(bias.Value.Data(), biases[l.Name()]) {
			t.Fatalf("%s: the base bias moved or is trainable", l.Name())
		}
	}
	// The trained adapter merges into dequantized dense layers.
	pred := forward[float32](t, m, x)
	if err := Merge[float32](m); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(forward[float32](t, m, x), pred); d > 1e-4 {
		t.Fatalf("merged QLoRA model differs by %g", d)
	}
}

// layersOnly is a Model that is not an nn.Node.
type layersOnly struct{ s *nn.Sequential[float32] }

func (l layersOnly) Layers() []Layer[float32] { return l.s.Layers() }
func (l layersOnly) ReplaceLayer(name string, r Layer[float32]) error {
	return l.s.ReplaceLayer(name, r)
}

func TestQLoRATrainerErrors(t *testing.T) {
	opt := nn.NewSGD[float32](nn.SGDConfig{LR: 0.1})
	for _, tc := range []struct {
		name    string
		model   Model[float32]
		targets []string
		opt     nn.Optimizer[float32]
		want    error
	}{
		{"not-a-node", layersOnly{mlp(t, 1)}, []string{"fc1"}, opt, ErrConfig},
		{"nil-optimizer", mlp(t, 1), []string{"fc1"}, nil, ErrConfig},
		{"unknown-target", mlp(t, 1), []string{"fc1", "fc9"}, opt, ErrNoTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := takeSnapshot(tc.model)
			_, err := NewQLoRATrainer(tc.model, 4, 8, tc.targets, nil, tc.opt)
			wantErr(t, err, tc.want)
			if !takeSnapshot(tc.model).equal(before) {
				t.Fatal("the model changed")
			}
		})
	}
	m := mlp(t, 1)
	q, err := NewQLoRATrainer[float32](m, 4, 8, []string{"fc2"}, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := regressionData(8, 1)
	if _, err := q.Step(ctx, x, tensor.Zeros[float32](8, 2)); err == nil {
		t.Fatal("Step with a target of the wrong shape succeeded")
	}
	if q.Model() != Model[float32](m) {
		t.Fatal("Model() is not the model")
	}
}
