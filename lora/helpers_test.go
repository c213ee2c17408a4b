package lora

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/webtune/webtune/internal/gradcheck"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

var ctx = context.Background()

// Dimensions of the test model (newTestModel).
const (
	tmIn  = 8 // model input and block width
	tmFF  = 16
	tmOut = 4
)

// newTestModel returns a nested model with GGUF-like names:
//
//	model
//	├── blk.0: blk.0.attn_q 8→8, blk.0.act (tanh), blk.0.ffn_up 8→16, blk.0.act2, blk.0.ffn_down 16→8
//	├── blk.1: the same with blk.1.*
//	└── output 8→4
//
// All linears have biases and are seeded from seed.
func newTestModel[T tensor.Numeric](t testing.TB, seed int64) *nn.Sequential[T] {
	t.Helper()
	e := tensor.NewCPU[T]()
	lin := func(name string, in, out int) nn.Node[T] {
		seed++
		l, err := nn.NewLinear(name, in, out, e, nn.LinearOptions{Bias: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	act := func(name string) nn.Node[T] {
		a, err := nn.NewActivation[T](name, "tanh")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	block := func(i string) nn.Node[T] {
		p := "blk." + i + "."
		return nn.NewSequential(p[:len(p)-1], lin(p+"attn_q", tmIn, tmIn), act(p+"act"),
			lin(p+"ffn_up", tmIn, tmFF), act(p+"act2"), lin(p+"ffn_down", tmFF, tmIn))
	}
	return nn.NewSequential("model", block("0"), block("1"), lin("output", tmIn, tmOut))
}

// testModelParams is TotalParamCount of newTestModel, counted by hand:
// per block 8·8+8 + 8·16+16 + 16·8+8 = 72+144+136 = 352, head 8·4+4 = 36.
const testModelParams = 2*352 + 36

// archModel is a Sequential that claims an architecture.
type archModel[T tensor.Numeric] struct {
	*nn.Sequential[T]
	arch string
}

func (m archModel[T]) Architecture() string { return m.arch }

// randT returns n values U(−1, 1) as T.
func randT[T tensor.Numeric](seed uint64, n int) []T {
	r := gradcheck.Rand(seed, n)
	out := make([]T, n)
	tensor.Convert(out, r)
	return out
}

// randInput returns a tensor of the given shape with values U(−1, 1).
func randInput[T tensor.Numeric](seed uint64, shape ...int) *tensor.Tensor[T] {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.FromSlice(randT[T](seed, n), shape...)
}

// randomizeB gives every LoRA B of m values N(0, σ²), as after training.
func randomizeB[T tensor.Numeric](m Model[T], seed uint64, sigma float64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for _, l := range Adapters(m) {
		for i := range l.B.Value.Data() {
			l.B.Value.Data()[i] = T(r.NormFloat64() * sigma)
		}
	}
}

// forward runs a Node model.
func forward[T tensor.Numeric](t testing.TB, m nn.Node[T], x *tensor.Tensor[T]) []T {
	t.Helper()
	y, err := m.Forward(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(y.Data())
}

// maxDiff returns max |a[i] − b[i]|.
func maxDiff[T tensor.Numeric](a, b []T) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// snapshot records what a failed operation must not change: each layer's
// name, type and every parameter's value and trainability.
type snapshot struct {
	layers    []string
	values    [][]float64
	trainable []bool
}

func takeSnapshot[T tensor.Numeric](m Model[T]) snapshot {
	var s snapshot
	var walk func(l Layer[T])
	walk = func(l Layer[T]) {
		s.layers = append(s.layers, l.Name()+":"+l.OpType())
		for _, p := range l.Parameters() {
			v := make([]float64, p.Value.Size())
			tensor.Convert(v, p.Value.Data())
			s.values = append(s.values, v)
			s.trainable = append(s.trainable, p.Trainable)
		}
		if ll, ok := l.(*LoraLinear[T]); ok {
			s.layers = append(s.layers, fmt.Sprintf("rank=%d scale=%v", ll.Rank(), ll.Scale()))
			walk(ll.base)
		}
	}
	for _, l := range m.Layers() {
		walk(l)
	}
	return s
}

func (s snapshot) equal(o snapshot) bool {
	if !slices.Equal(s.layers, o.layers) || !slices.Equal(s.trainable, o.trainable) || len(s.values) != len(o.values) {
		return false
	}
	for i := range s.values {
		if !slices.Equal(s.values[i], o.values[i]) {
			return false
		}
	}
	return true
}

// wantErr fails unless err wraps target.
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one wrapping %v", err, target)
	}
}

// nf4Base returns an NF4Linear [out, in] quantized from a seeded dense layer.
func nf4Base[T tensor.Numeric](t testing.TB, name string, in, out int, seed int64, bias bool) *nn.NF4Linear[T] {
	t.Helper()
	d, err := nn.NewLinear(name, in, out, tensor.NewCPU[T](), nn.LinearOptions{Bias: bias, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	q, err := nn.QuantizeLinear(d, nf4.Options{BlockSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	return q
}
