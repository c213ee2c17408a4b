package lora

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/internal/gradcheck"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// wrappedNames returns the names of m's LoRA layers.
func wrappedNames[T tensor.Numeric](m Model[T]) []string { return loraNames(m) }

func TestInjectTargets(t *testing.T) {
	for _, tc := range []struct {
		targets []string
		want    []string
	}{
		{[]string{"attn_q"}, []string{"blk.0.attn_q", "blk.1.attn_q"}},
		{[]string{"q_proj"}, []string{"blk.0.attn_q", "blk.1.attn_q"}},
		{[]string{"blk.1.ffn_up"}, []string{"blk.1.ffn_up"}},
		{[]string{"down_proj", "up_proj"}, []string{"blk.0.ffn_up", "blk.0.ffn_down", "blk.1.ffn_up", "blk.1.ffn_down"}},
		{[]string{"attn_q", "blk.0.attn_q"}, []string{"blk.0.attn_q", "blk.1.attn_q"}},
		{[]string{"lm_head"}, []string{"output"}},
		{[]string{"output", "attn_q"}, []string{"blk.0.attn_q", "blk.1.attn_q", "output"}},
		{[]string{AllLinear}, []string{"blk.0.attn_q", "blk.0.ffn_up", "blk.0.ffn_down", "blk.1.attn_q", "blk.1.ffn_up", "blk.1.ffn_down"}},
	} {
		t.Run(strings.Join(tc.targets, ","), func(t *testing.T) {
			m := newTestModel[float64](t, 1)
			x := randInput[float64](1, 3, tmIn)
			before := forward[float64](t, m, x)
			if err := InjectLoRA[float64](m, 2, 4, tc.targets, cpu64); err != nil {
				t.Fatal(err)
			}
			if got := wrappedNames[float64](m); !slices.Equal(got, tc.want) {
				t.Fatalf("wrapped %v, want %v", got, tc.want)
			}
			// B = 0: the injected model computes exactly what the base did.
			if d := maxDiff(forward[float64](t, m, x), before); d != 0 {
				t.Fatalf("output changed by %g at injection", d)
			}
			for _, l := range Adapters[float64](m) {
				if l.Rank() != 2 || l.Alpha() != 4 || l.Scale() != 2 {
					t.Fatalf("%s: rank %d alpha %v scale %v", l.Name(), l.Rank(), l.Alpha(), l.Scale())
				}
				for _, p := range l.Base().Parameters() {
					if p.Trainable {
						t.Fatalf("base parameter %s still trainable", p.Name)
					}
				}
			}
			if got, want := len(TrainableParameters[float64](m)), 2*len(tc.want); got != want {
				t.Fatalf("%d trainable parameters, want %d", got, want)
			}
		})
	}
}

// TestInjectTrainsThroughSequential: a nested Sequential runs Backward
// through the wrapped layers; only A and B get gradients.
func TestInjectTrainsThroughSequential(t *testing.T) {
	m := newTestModel[float64](t, 2)
	if err := InjectLoRA[float64](m, 2, 2, []string{AllLinear}, cpu64, WithSeed(3)); err != nil {
		t.Fatal(err)
	}
	randomizeB[float64](m, 1, 0.1)
	x := randInput[float64](2, 4, tmIn)
	y, err := m.Forward(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Backward(ctx, nn.FullBackprop, randInput[float64](3, y.Shape()...), x); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Parameters() {
		isLoRA := strings.HasSuffix(p.Name, ".lora_a") || strings.HasSuffix(p.Name, ".lora_b")
		inHead := strings.HasPrefix(p.Name, "output.")
		switch {
		case isLoRA && (p.Grad == nil || tensor.MaxAbs(p.Grad.Data()) == 0):
			t.Errorf("%s got no gradient", p.Name)
		case !isLoRA && !inHead && p.Trainable:
			t.Errorf("base parameter %s is trainable", p.Name)
		case inHead && !p.Trainable:
			t.Errorf("the head %s (not targeted) was frozen", p.Name)
		}
	}
}

func TestInjectErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets []string
		rank    int
		alpha   float32
		opts    []Option
		want    error
	}{
		{"unknown-target", []string{"attn_q", "attn_k"}, 2, 1, nil, ErrNoTarget},
		{"activation-target", []string{"act"}, 2, 1, nil, ErrNoTarget},
		{"no-targets", nil, 2, 1, nil, ErrNoTarget},
		{"rank-0", []string{"attn_q"}, 0, 1, nil, ErrConfig},
		{"alpha-0", []string{"attn_q"}, 2, 0, nil, ErrConfig},
		{"dropout-1", []string{"attn_q"}, 2, 1, []Option{WithDropout(1)}, ErrConfig},
		{"bad-init", []string{"attn_q"}, 2, 1, []Option{WithInit(Init(9))}, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel[float32](t, 1)
			before := takeSnapshot[float32](m)
			err := InjectLoRA[float32](m, tc.rank, tc.alpha, tc.targets, nil, tc.opts...)
			wantErr(t, err, tc.want)
			if !takeSnapshot[float32](m).equal(before) {
				t.Fatal("the model changed")
			}
			if tc.want == ErrNoTarget && len(tc.targets) > 0 {
				for _, s := range []string{"attn_q", "ffn_up", "ffn_down", "output", AllLinear} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not list %q", err, s)
					}
				}
			}
		})
	}
}

func TestInjectTwice(t *testing.T) {
	m := newTestModel[float32](t, 1)
	if err := InjectLoRA[float32](m, 2, 1, []string{"attn_q"}, nil); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot[float32](m)
	for _, targets := range [][]string{{"attn_q"}, {"ffn_up"}} {
		wantErr(t, InjectLoRA[float32](m, 2, 1, targets, nil), ErrAlreadyInjected)
	}
	if !takeSnapshot[float32](m).equal(before) {
		t.Fatal("the model changed")
	}
}

// failingModel refuses to replace one layer, as llama.Model refuses a tied
// output head.
type failingModel[T tensor.Numeric] struct {
	*nn.Sequential[T]
	refuse string
}

var errRefused = errors.New("refused")

func (m failingModel[T]) ReplaceLayer(name string, l Layer[T]) error {
	if name == m.refuse {
		return errRefused
	}
	return m.Sequential.ReplaceLayer(name, l)
}

// TestInjectRollback: a ReplaceLayer failure after other replacements
// leaves the model as it was (layers and trainability).
func TestInjectRollback(t *testing.T) {
	m := failingModel[float32]{newTestModel[float32](t, 1), "blk.1.ffn_down"}
	before := takeSnapshot[float32](m)
	err := InjectLoRA[float32](m, 2, 1, []string{AllLinear}, nil)
	wantErr(t, err, errRefused)
	if !takeSnapshot[float32](m).equal(before) {
		t.Fatal("the model changed")
	}
	m.refuse = ""
	if err := InjectLoRA[float32](m, 2, 1, []string{AllLinear}, nil); err != nil {
		t.Fatal(err)
	}
	m.refuse = "blk.1.ffn_down"
	before = takeSnapshot[float32](m)
	wantErr(t, Merge[float32](m), errRefused)
	if !takeSnapshot[float32](m).equal(before) {
		t.Fatal("a failed Merge changed the model")
	}
}

// TestInjectOptions: rsLoRA scale, dropout and seeds reach the layers.
func TestInjectOptions(t *testing.T) {
	a := newTestModel[float64](t, 1)
	b := newTestModel[float64](t, 1)
	c := newTestModel[float64](t, 1)
	if err := InjectLoRA[float64](a, 4, 8, []string{"attn_q"}, nil, WithRSLoRA(), WithDropout(0.1), WithSeed(5), WithInit(InitGaussian)); err != nil {
		t.Fatal(err)
	}
	if err := InjectLoRA[float64](b, 4, 8, []string{"attn_q"}, nil, WithSeed(5), WithInit(InitGaussian)); err != nil {
		t.Fatal(err)
	}
	if err := InjectLoRA[float64](c, 4, 8, []string{"attn_q"}, nil, WithSeed(6), WithInit(InitGaussian)); err != nil {
		t.Fatal(err)
	}
	la, lb, lc := Adapters[float64](a)[0], Adapters[float64](b)[0], Adapters[float64](c)[0]
	if la.Scale() != 4 || !la.RSLoRA() || la.Dropout() != 0.1 || lb.Scale() != 2 {
		t.Fatalf("rsLoRA scale %v (want 8/√4 = 4), dropout %v, plain scale %v", la.Scale(), la.Dropout(), lb.Scale())
	}
	if !slices.Equal(la.A.Value.Data(), lb.A.Value.Data()) || slices.Equal(la.A.Value.Data(), lc.A.Value.Data()) {
		t.Fatal("A does not follow WithSeed")
	}
	if slices.Equal(Adapters[float64](a)[0].A.Value.Data(), Adapters[float64](a)[1].A.Value.Data()) {
		t.Fatal("two layers got the same A")
	}
	SetTraining[float64](a, false)
	if la.training {
		t.Fatal("SetTraining(false) did not reach the layer")
	}
}

// TestModelGradients checks dx and every A and B of a nested model with LoRA
// on all linears (the NF4 head included) against central differences.
func TestModelGradients(t *testing.T) {
	m := newTestModel[float64](t, 3)
	if err := QuantizeTargets[float64](m, []string{"output"}, nf4.Options{BlockSize: 32}); err != nil {
		t.Fatal(err)
	}
	if err := InjectLoRA[float64](m, 2, 3, []string{AllLinear, "output"}, nil, WithSeed(2)); err != nil {
		t.Fatal(err)
	}
	randomizeB[float64](m, 5, 0.5)
	x := randInput[float64](6, 2, 3, tmIn)
	y, err := m.Forward(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	r := gradcheck.Rand(7, y.Size())
	nn.ZeroGrads(m.Parameters())
	g, err := m.Backward(ctx, nn.FullBackprop, tensor.FromSlice(slices.Clone(r), y.Shape()...), x)
	if err != nil {
		t.Fatal(err)
	}
	params, grads := [][]float64{x.Data()}, [][]float64{g[0].Data()}
	for _, p := range TrainableParameters[float64](m) {
		params, grads = append(params, p.Value.Data()), append(grads, p.Grad.Data())
	}
	f := func() float64 {
		y, err := m.Forward(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		return gradcheck.Dot(y.Data(), r)
	}
	t.Logf("worst relative error %.2g over %d slices", gradcheck.Check(t, f, params, grads), len(params))
}
