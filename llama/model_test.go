package llama

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// tinyBatch returns seeded tokens [B][T] and next-token targets with one
// ignored entry.
func tinyBatch(cfg Config, B, T int, seed uint64) (tokens, targets [][]int) {
	r := rand.New(rand.NewPCG(seed, 1))
	for b := 0; b < B; b++ {
		row := make([]int, T+1)
		for i := range row {
			row[i] = r.IntN(cfg.VocabSize)
		}
		tokens = append(tokens, row[:T])
		targets = append(targets, append([]int(nil), row[1:]...))
	}
	targets[0][1] = IgnoreIndex
	return tokens, targets
}

// checkModelGrads compares every trainable parameter's gradient from
// ForwardBackward with central differences of Loss.
func checkModelGrads(t *testing.T, m *Model[float64], tokens, targets [][]int) {
	t.Helper()
	ctx := context.Background()
	m.ZeroGrad()
	if _, err := m.ForwardBackward(ctx, tokens, targets, 1); err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		l, err := m.Loss(ctx, tokens, targets)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	params := m.Parameters()
	if len(params) == 0 {
		t.Fatal("no trainable parameters")
	}
	for _, p := range params {
		checkGrad(t, p.Name, p.Value.Data(), p.Grad.Data(), loss)
	}
}

func TestModelGradFullFineTune(t *testing.T) {
	for _, tied := range []bool{false, true} {
		cfg := TinyConfig()
		cfg.TiedOutput = tied
		m := NewRandom[float64](cfg, 42)
		if err := m.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
		want := int(cfg.ParamCount())
		got := 0
		for _, p := range m.Parameters() {
			got += p.Value.Size()
		}
		if got != want {
			t.Fatalf("tied=%v: %d trainable values, config says %d", tied, got, want)
		}
		tokens, targets := tinyBatch(cfg, 2, 5, 7)
		checkModelGrads(t, m, tokens, targets)
	}
}

// testLoRA is a minimal LoRA wrapper y = base(x) + s·x·Aᵀ·Bᵀ with a frozen
// base, used to check the model's wiring independently of package lora.
type testLoRA struct {
	nn.Node[float64]
	A, B    *nn.Parameter[float64] // [r, in], [out, r]
	in, out int
	s       float64
}

func newTestLoRA(base nn.Node[float64], in, out, r int, seed uint64) *testLoRA {
	rng := rand.New(rand.NewPCG(seed, 3))
	a, b := make([]float64, r*in), make([]float64, out*r)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	for i := range b {
		b[i] = rng.NormFloat64() * 0.5 // non-zero so that dA is exercised
	}
	return &testLoRA{Node: base, in: in, out: out, s: 2.0 / float64(r),
		A: nn.NewParameter(base.Name()+".lora_a", tensor.FromSlice(a, r, in), true),
		B: nn.NewParameter(base.Name()+".lora_b", tensor.FromSlice(b, out, r), true)}
}

func (l *testLoRA) Parameters() []*nn.Parameter[float64] { return []*nn.Parameter[float64]{l.A, l.B} }

func (l *testLoRA) Forward(ctx context.Context, in ...*tensor.Tensor[float64]) (*tensor.Tensor[float64], error) {
	y, err := l.Node.Forward(ctx, in...)
	if err != nil {
		return nil, err
	}
	x, r := in[0].Data(), l.A.Value.Dim(0)
	N := len(x) / l.in
	e := tensor.NewCPU[float64]()
	h := make([]float64, N*r)
	e.Gemm(false, true, N, r, l.in, 1, x, l.A.Value.Data(), 0, h)
	e.Gemm(false, true, N, l.out, r, l.s, h, l.B.Value.Data(), 1, y.Data())
	return y, nil
}

func (l *testLoRA) Backward(ctx context.Context, mode nn.BackwardMode, dy *tensor.Tensor[float64], in ...*tensor.Tensor[float64]) ([]*tensor.Tensor[float64], error) {
	g, err := l.Node.Backward(ctx, mode, dy, in...)
	if err != nil {
		return nil, err
	}
	x, r := in[0].Data(), l.A.Value.Dim(0)
	N := len(x) / l.in
	e := tensor.NewCPU[float64]()
	h := make([]float64, N*r)
	e.Gemm(false, true, N, r, l.in, 1, x, l.A.Value.Data(), 0, h)
	dh := make([]float64, N*r)
	e.Gemm(false, false, N, r, l.out, l.s, dy.Data(), l.B.Value.Data(), 0, dh)
	e.Gemm(true, false, l.out, r, N, l.s, dy.Data(), h, 1, l.B.Grad.Data())
	e.Gemm(true, false, r, l.in, N, 1, dh, x, 1, l.A.Grad.Data())
	if mode == nn.FullBackprop {
		e.Gemm(false, false, N, l.in, r, 1, dh, l.A.Value.Data(), 1, g[0].Data())
	}
	return g, nil
}

func TestModelGradLoRAEveryTarget(t *testing.T) {
	cfg := TinyConfig()
	m := NewRandom[float64](cfg, 43)
	for i, l := range m.Layers() {
		lin := l.(*nn.Linear[float64])
		if err := m.ReplaceLayer(l.Name(), newTestLoRA(l, lin.InFeatures(), lin.OutFeatures(), 2, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.Parameters()); n != 2*(7*cfg.Layers+1) {
		t.Fatalf("%d trainable parameters, want A and B of %d layers", n, 7*cfg.Layers+1)
	}
	tokens, targets := tinyBatch(cfg, 2, 5, 8)
	checkModelGrads(t, m, tokens, targets)
}

func TestReplaceLayerErrors(t *testing.T) {
	cfg := TinyConfig()
	cfg.TiedOutput = true
	m := NewRandom[float32](cfg, 1)
	if err := m.ReplaceLayer("blk.9.attn_q", m.Layers()[0]); err == nil {
		t.Fatal("unknown layer accepted")
	}
	if err := m.ReplaceLayer("output", m.Layers()[0]); err == nil {
		t.Fatal("tied output replaced")
	}
	names := []string{}
	for _, l := range m.Layers() {
		names = append(names, l.Name())
	}
	if names[0] != "blk.0.attn_q" || names[6] != "blk.0.ffn_down" || names[len(names)-1] != "output" {
		t.Fatalf("layer names %v", names)
	}
}
