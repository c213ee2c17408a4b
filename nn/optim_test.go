package nn_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

func param(name string, value, grad []float64) *nn.Parameter[float64] {
	p := nn.NewParameter(name, tensor.FromSlice(append([]float64(nil), value...), len(value)), true)
	copy(p.Grad.Data(), grad)
	return p
}

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %.12g, want %.12g", what, i, got[i], want[i])
		}
	}
}

// TestAdamWByHand follows two AdamW steps worked out by hand with lr 0.1,
// β1 0.9, β2 0.999, eps 1e-8, wd 0.01 on p = [1, −2].
func TestAdamWByHand(t *testing.T) {
	opt := nn.NewAdamW[float64](nn.AdamWConfig{LR: 0.1})
	if c := opt.Config(); c.Beta1 != 0.9 || c.Beta2 != 0.999 || c.Eps != 1e-8 || c.WeightDecay != 0.01 {
		t.Fatalf("defaults %+v", c)
	}
	p := param("w", []float64{1, -2}, []float64{0.5, -1})
	frozen := nn.NewParameter("f", tensor.FromSlice([]float64{7}, 1), false)
	// Step 1, g = [0.5, −1]:
	//   decay: p·(1 − 0.1·0.01) = [0.999, −1.998]
	//   m = 0.1·g = [0.05, −0.1], v = 0.001·g² = [0.00025, 0.001]
	//   m̂ = m/0.1 = [0.5, −1], v̂ = v/0.001 = [0.25, 1]
	//   p −= 0.1·m̂/(√v̂ + 1e-8) = [0.1·0.5/0.50000001, −0.1·1/1.00000001]
	//   p = [0.999 − 0.099999998, −1.998 + 0.0999999990] = [0.899000002, −1.898000001]
	if err := opt.Step(ctx, []*nn.Parameter[float64]{p, frozen}); err != nil {
		t.Fatal(err)
	}
	near(t, "step 1", p.Value.Data(), []float64{0.899000002, -1.898000001}, 1e-12)
	// Step 2, g = [−0.25, 2]:
	//   decay: p·0.999 = [0.898101002, −1.896101999]
	//   m = 0.9·m + 0.1·g = [0.02, 0.11], v = 0.999·v + 0.001·g² = [0.00031225, 0.004999]
	//   1 − β1² = 0.19, 1 − β2² = 0.001999
	//   m̂ = [0.105263158, 0.578947368], v̂ = [0.156203102, 2.500750375]
	//   p −= 0.1·m̂/(√v̂ + 1e-8) = [0.0266337033, 0.0366103545]
	//   p = [0.8714672987, −1.9327123535]
	copy(p.Grad.Data(), []float64{-0.25, 2})
	if err := opt.Step(ctx, []*nn.Parameter[float64]{p, frozen}); err != nil {
		t.Fatal(err)
	}
	near(t, "step 2", p.Value.Data(), []float64{0.8714672987058, -1.9327123534711}, 1e-12)
	m, v := opt.Moments(p)
	near(t, "m", m, []float64{0.02, 0.11}, 1e-15)
	near(t, "v", v, []float64{0.00031225, 0.004999}, 1e-15)
	if frozen.Value.Data()[0] != 7 || opt.StepCount() != 2 {
		t.Errorf("frozen = %v, steps = %d", frozen.Value.Data()[0], opt.StepCount())
	}
}

func TestAdamWNoWeightDecay(t *testing.T) {
	opt := nn.NewAdamW[float64](nn.AdamWConfig{LR: 0.1, NoWeightDecay: true})
	p := param("w", []float64{1}, []float64{0.5})
	if err := opt.Step(ctx, []*nn.Parameter[float64]{p}); err != nil {
		t.Fatal(err)
	}
	// No decay: p = 1 − 0.1·0.5/(0.5 + 1e-8) = 0.900000002.
	near(t, "p", p.Value.Data(), []float64{0.900000002}, 1e-12)
}

// TestAdamWStateRoundTrip resumes from an exported state and must match an
// optimizer that never stopped.
func TestAdamWStateRoundTrip(t *testing.T) {
	a := nn.NewAdamW[float64](nn.AdamWConfig{LR: 0.05})
	pa := param("layer.lora_a", []float64{1, 2, 3}, []float64{0.1, -0.2, 0.3})
	for range 3 {
		if err := a.Step(ctx, []*nn.Parameter[float64]{pa}); err != nil {
			t.Fatal(err)
		}
	}
	step, ms := a.State()
	b := nn.NewAdamW[float64](nn.AdamWConfig{LR: 0.05})
	b.SetState(step, ms)
	pb := param("layer.lora_a", pa.Value.Data(), pa.Grad.Data())
	for range 2 {
		if err := a.Step(ctx, []*nn.Parameter[float64]{pa}); err != nil {
			t.Fatal(err)
		}
		if err := b.Step(ctx, []*nn.Parameter[float64]{pb}); err != nil {
			t.Fatal(err)
		}
	}
	near(t, "resumed", pb.Value.Data(), pa.Value.Data(), 0)
	if b.StepCount() != 5 {
		t.Errorf("steps = %d, want 5", b.StepCount())
	}

	c := nn.NewAdamW[float64](nn.AdamWConfig{})
	c.SetState(step, ms)
	short := param("layer.lora_a", []float64{1}, []float64{1})
	if err := c.Step(ctx, []*nn.Parameter[float64]{short}); !errors.Is(err, nn.ErrShape) {
		t.Errorf("state of the wrong length: err = %v, want ErrShape", err)
	}
}

// TestSGDMomentumByHand: lr 0.1, μ 0.9, g = 1 each step.
func TestSGDMomentumByHand(t *testing.T) {
	opt := nn.NewSGD[float64](nn.SGDConfig{LR: 0.1, Momentum: 0.9})
	p := param("w", []float64{1}, []float64{1})
	want := []float64{
		0.9,   // b = 1,    p = 1 − 0.1
		0.71,  // b = 1.9,  p = 0.9 − 0.19
		0.439, // b = 2.71, p = 0.71 − 0.271
	}
	for _, w := range want {
		if err := opt.Step(ctx, []*nn.Parameter[float64]{p}); err != nil {
			t.Fatal(err)
		}
		near(t, "p", p.Value.Data(), []float64{w}, 1e-12)
	}
	// Weight decay is L2 added to the gradient: d = g + wd·p.
	// p = 2, g = 1, wd = 0.5: d = 2, b = 2, p = 2 − 0.1·2 = 1.8;
	// then d = 1 + 0.9 = 1.9, b = 0.9·2 + 1.9 = 3.7, p = 1.8 − 0.37 = 1.43.
	wd := nn.NewSGD[float64](nn.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 0.5})
	q := param("w", []float64{2}, []float64{1})
	for _, w := range []float64{1.8, 1.43} {
		if err := wd.Step(ctx, []*nn.Parameter[float64]{q}); err != nil {
			t.Fatal(err)
		}
		near(t, "q", q.Value.Data(), []float64{w}, 1e-12)
	}
	wd.SetLR(0.5)
	if wd.LR() != 0.5 {
		t.Errorf("LR = %v", wd.LR())
	}
}

func TestClipGradNorm(t *testing.T) {
	a := param("a", []float64{0, 0}, []float64{3, 4})
	b := param("b", []float64{0, 0, 0}, []float64{0, 0, 12})
	frozen := nn.NewParameter("f", tensor.FromSlice([]float64{1}, 1), false)
	ps := []*nn.Parameter[float64]{a, frozen, b}
	if n := nn.ClipGradNorm(ps, 100); n != 13 {
		t.Fatalf("norm = %v, want 13", n)
	}
	near(t, "unclipped", a.Grad.Data(), []float64{3, 4}, 0)
	if n := nn.ClipGradNorm(ps, 6.5); n != 13 {
		t.Fatalf("norm = %v, want 13", n)
	}
	c := 6.5 / (13 + 1e-6)
	near(t, "a", a.Grad.Data(), []float64{3 * c, 4 * c}, 1e-15)
	near(t, "b", b.Grad.Data(), []float64{0, 0, 12 * c}, 1e-15)
	if n := nn.ClipGradNorm(ps, 6.5); math.Abs(n-6.5) > 1e-6 {
		t.Errorf("norm after clipping = %v, want 6.5", n)
	}
}

func TestOptimizersHonourContext(t *testing.T) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p := param("w", []float64{1}, []float64{1})
	for _, o := range []nn.Optimizer[float64]{nn.NewAdamW[float64](nn.AdamWConfig{}), nn.NewSGD[float64](nn.SGDConfig{})} {
		if err := o.Step(cctx, []*nn.Parameter[float64]{p}); !errors.Is(err, context.Canceled) {
			t.Errorf("%T: err = %v", o, err)
		}
	}
	if p.Value.Data()[0] != 1 {
		t.Error("a cancelled step changed the parameter")
	}
}

// TestAdamWFloat32 runs the float32 instantiation against float64.
func TestAdamWFloat32(t *testing.T) {
	o64 := nn.NewAdamW[float64](nn.AdamWConfig{LR: 0.01})
	o32 := nn.NewAdamW[float32](nn.AdamWConfig{LR: 0.01})
	p64 := param("w", []float64{0.3, -0.2, 1.5}, []float64{0.1, -0.4, 0.02})
	p32 := nn.NewParameter("w", tensor.FromSlice([]float32{0.3, -0.2, 1.5}, 3), true)
	copy(p32.Grad.Data(), []float32{0.1, -0.4, 0.02})
	for range 5 {
		if err := o64.Step(ctx, []*nn.Parameter[float64]{p64}); err != nil {
			t.Fatal(err)
		}
		if err := o32.Step(ctx, []*nn.Parameter[float32]{p32}); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]float64, 3)
	tensor.Convert(got, p32.Value.Data())
	near(t, "float32", got, p64.Value.Data(), 1e-6)
}
