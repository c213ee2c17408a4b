package lora

import (
	"math"
	"slices"
	"testing"

	"github.com/webtune/webtune/internal/gradcheck"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

var cpu64 = tensor.NewCPU[float64]()

// gradBases returns the bases the gradient checks run over: dense with and
// without bias, and NF4 with bias.
func gradBases(t *testing.T, in, out int) map[string]nn.Node[float64] {
	dense, err := nn.NewLinear("blk.0.attn_q", in, out, cpu64, nn.LinearOptions{Bias: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := nn.NewLinear("blk.0.attn_q", in, out, cpu64, nn.LinearOptions{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]nn.Node[float64]{
		"dense":         dense,
		"dense-no-bias": plain,
		"nf4":           nf4Base[float64](t, "blk.0.attn_q", in, out, 5, true),
	}
}

// checkLoraGrad checks dx, dA and dB of l against central differences of
// loss = Σ y·R at input x, and that the base received no gradient.
func checkLoraGrad(t *testing.T, l *LoraLinear[float64], x *tensor.Tensor[float64], reset func()) {
	t.Helper()
	if reset != nil {
		reset()
	}
	y, err := l.Forward(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	r := gradcheck.Rand(99, y.Size())
	dy := tensor.FromSlice(slices.Clone(r), y.Shape()...)
	nn.ZeroGrads(l.Parameters())
	g, err := l.Backward(ctx, nn.FullBackprop, dy, x)
	if err != nil {
		t.Fatal(err)
	}
	f := func() float64 {
		if reset != nil {
			reset()
		}
		y, err := l.Forward(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		return gradcheck.Dot(y.Data(), r)
	}
	worst := gradcheck.Check(t, f,
		[][]float64{x.Data(), l.A.Value.Data(), l.B.Value.Data()},
		[][]float64{g[0].Data(), l.A.Grad.Data(), l.B.Grad.Data()})
	t.Logf("worst relative error %.2g", worst)
	for _, p := range l.base.Parameters() {
		if p.Trainable || p.Grad != nil {
			t.Errorf("base parameter %s is trainable after wrapping", p.Name)
		}
	}
}

func TestLoraLinearGradients(t *testing.T) {
	const in, out, r = 8, 6, 3
	for name, base := range gradBases(t, in, out) {
		for _, rs := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "", true: "-rslora"}[rs], func(t *testing.T) {
				l, err := newLoraLinear(base.Name(), base, r, 5, cpu64, in, out, config{rslora: rs, seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				l.freezeBase()
				copy(l.B.Value.Data(), gradcheck.Rand(7, out*r)) // B = 0 would make dA vanish
				checkLoraGrad(t, l, randInput[float64](2, 2, 3, in), nil)
			})
		}
	}
}

func TestLoraLinearGradientsDropout(t *testing.T) {
	const in, out, r = 8, 6, 2
	for name, base := range gradBases(t, in, out) {
		t.Run(name, func(t *testing.T) {
			l, err := newLoraLinear(base.Name(), base, r, 4, cpu64, in, out, config{dropout: 0.4, seed: 11})
			if err != nil {
				t.Fatal(err)
			}
			l.freezeBase()
			copy(l.B.Value.Data(), gradcheck.Rand(8, out*r))
			// The same mask at every evaluation: a fixed draw key.
			l.SetDropoutKey(7, 0)
			reset := func() {}
			checkLoraGrad(t, l, randInput[float64](3, 5, in), reset)
			zeros := 0
			for _, m := range l.mask {
				if m == 0 {
					zeros++
				} else if math.Abs(m-1/0.6) > 1e-12 {
					t.Fatalf("mask value %v, want 0 or 1/(1−p)", m)
				}
			}
			if zeros == 0 || zeros == len(l.mask) {
				t.Fatalf("%d of %d inputs dropped", zeros, len(l.mask))
			}
		})
	}
}

// TestLoraLinearForward checks y against the formula computed naively, for
// leading dims and a single row, in and out of training mode.
func TestLoraLinearForward(t *testing.T) {
	const in, out, r = 5, 4, 2
	base, err := nn.NewLinear("fc", in, out, cpu64, nn.LinearOptions{Bias: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoraLinear[float64]("fc", base, r, 3, cpu64, in, out)
	if err != nil {
		t.Fatal(err)
	}
	copy(l.B.Value.Data(), gradcheck.Rand(4, out*r))
	for _, shape := range [][]int{{in}, {3, in}, {2, 3, in}} {
		x := randInput[float64](5, shape...)
		y, err := l.Forward(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(shape[:len(shape)-1]), out)
		if !slices.Equal(y.Shape(), want) || !slices.Equal(l.OutputShape(), want) {
			t.Fatalf("output shape %v, want %v", y.Shape(), want)
		}
		W, b := base.Weight().Value.Data(), base.Bias().Value.Data()
		A, B := l.A.Value.Data(), l.B.Value.Data()
		xd := x.Data()
		for n := 0; n < x.Size()/in; n++ {
			for o := 0; o < out; o++ {
				s := b[o]
				for i := 0; i < in; i++ {
					s += xd[n*in+i] * W[o*in+i]
				}
				for k := 0; k < r; k++ {
					h := 0.0
					for i := 0; i < in; i++ {
						h += A[k*in+i] * xd[n*in+i]
					}
					s += 1.5 * B[o*r+k] * h
				}
				if d := math.Abs(s - y.Data()[n*out+o]); d > 1e-12 {
					t.Fatalf("shape %v: y[%d,%d] = %v, want %v", shape, n, o, y.Data()[n*out+o], s)
				}
			}
		}
	}
	if l.Scale() != 1.5 || l.Rank() != r || l.Alpha() != 3 || l.OpType() != "LoraLinear" {
		t.Fatalf("scale %v rank %d alpha %v op %s", l.Scale(), l.Rank(), l.Alpha(), l.OpType())
	}
	if got := len(l.Parameters()); got != 2 {
		t.Fatalf("%d parameters, want A and B", got)
	}
}

// TestLoraLinearDropoutModes: dropout is random in training, absent after
// SetTraining(false), and Backward refuses a mask it does not have.
func TestLoraLinearDropoutModes(t *testing.T) {
	const in, out = 6, 3
	base, _ := nn.NewLinear("fc", in, out, cpu64, nn.LinearOptions{Seed: 1})
	plain, _ := nn.NewLinear("fc", in, out, cpu64, nn.LinearOptions{Seed: 1})
	l, err := newLoraLinear("fc", base, 2, 2, cpu64, in, out, config{dropout: 0.5, seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := NewLoraLinear[float64]("fc", plain, 2, 2, cpu64, in, out)
	copy(l.A.Value.Data(), ref.A.Value.Data())
	copy(l.B.Value.Data(), gradcheck.Rand(3, out*2))
	copy(ref.B.Value.Data(), l.B.Value.Data())
	x := randInput[float64](1, 4, in)
	dy := randInput[float64](2, 4, out)
	if _, err := l.Backward(ctx, nn.FullBackprop, dy, x); err == nil {
		t.Fatal("Backward before any Forward with dropout succeeded")
	} else {
		wantErr(t, err, ErrState)
	}
	y1, y2 := forward[float64](t, l, x), forward[float64](t, l, x)
	if maxDiff(y1, y2) == 0 {
		t.Fatal("two training forwards gave the same output under dropout")
	}
	if _, err := l.Backward(ctx, nn.FullBackprop, dy, randInput[float64](1, 3, in)); err == nil {
		t.Fatal("Backward on an input of another size succeeded")
	}
	l.SetTraining(false)
	if d := maxDiff(forward[float64](t, l, x), forward[float64](t, ref, x)); d > 1e-12 {
		t.Fatalf("eval output differs from no-dropout output by %g", d)
	}
	if _, err := l.Backward(ctx, nn.FullBackprop, dy, x); err != nil {
		t.Fatal(err)
	}
}

// TestLoraLinearParamsOnly: ParamsOnly gives nil dx and the same dA, dB.
func TestLoraLinearParamsOnly(t *testing.T) {
	const in, out = 6, 5
	base, _ := nn.NewLinear("fc", in, out, cpu64, nn.LinearOptions{Seed: 1})
	l, _ := NewLoraLinear[float64]("fc", base, 2, 2, cpu64, in, out)
	copy(l.B.Value.Data(), gradcheck.Rand(3, out*2))
	x, dy := randInput[float64](1, 3, in), randInput[float64](2, 3, out)
	grads := func(mode nn.BackwardMode) (*tensor.Tensor[float64], []float64, []float64) {
		nn.ZeroGrads(l.Parameters())
		g, err := l.Backward(ctx, mode, dy, x)
		if err != nil {
			t.Fatal(err)
		}
		return g[0], slices.Clone(l.A.Grad.Data()), slices.Clone(l.B.Grad.Data())
	}
	_, a1, b1 := grads(nn.FullBackprop)
	dx, a2, b2 := grads(nn.ParamsOnly)
	if dx != nil || !slices.Equal(a1, a2) || !slices.Equal(b1, b2) {
		t.Fatalf("ParamsOnly: dx %v, dA equal %t, dB equal %t", dx, slices.Equal(a1, a2), slices.Equal(b1, b2))
	}
	// Frozen B: dA still computed, dB skipped.
	l.B.SetTrainable(false)
	nn.ZeroGrads(l.Parameters())
	if _, err := l.Backward(ctx, nn.FullBackprop, dy, x); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.A.Grad.Data(), a1) {
		t.Fatal("dA changed when B was frozen")
	}
}

func TestNewLoraLinearErrors(t *testing.T) {
	base, _ := nn.NewLinear("fc", 4, 3, cpu64, nn.LinearOptions{Seed: 1})
	for _, tc := range []struct {
		name      string
		base      nn.Node[float64]
		rank      int
		alpha     float32
		engine    tensor.Engine[float64]
		din, dout int
	}{
		{"rank-0", base, 0, 1, cpu64, 4, 3},
		{"alpha-0", base, 2, 0, cpu64, 4, 3},
		{"alpha-negative", base, 2, -1, cpu64, 4, 3},
		{"alpha-nan", base, 2, float32(math.NaN()), cpu64, 4, 3},
		{"alpha-inf", base, 2, float32(math.Inf(1)), cpu64, 4, 3},
		{"dims-disagree", base, 2, 1, cpu64, 3, 4},
		{"dims-zero", base, 2, 1, cpu64, 0, 3},
		{"nil-base", nil, 2, 1, cpu64, 4, 3},
		{"nil-engine", base, 2, 1, nil, 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLoraLinear(tc.name, tc.base, tc.rank, tc.alpha, tc.engine, tc.din, tc.dout)
			wantErr(t, err, ErrConfig)
		})
	}
	if !base.Weight().Trainable {
		t.Fatal("a failed NewLoraLinear froze the base")
	}
	l, _ := NewLoraLinear[float64]("fc", base, 2, 1, cpu64, 4, 3)
	for _, x := range []*tensor.Tensor[float64]{randInput[float64](1, 2, 5), nil} {
		if _, err := l.Forward(ctx, x); err == nil {
			t.Fatalf("Forward(%v) succeeded", x)
		} else {
			wantErr(t, err, ErrShape)
		}
	}
	if _, err := l.Backward(ctx, nn.FullBackprop, randInput[float64](1, 2, 4), randInput[float64](1, 2, 4)); err == nil {
		t.Fatal("Backward with a [2 4] output gradient for a 4→3 layer succeeded")
	}
}

// TestInitDistributions checks the three inits' scale on many draws, B = 0,
// and that the stream depends on seed and name only.
func TestInitDistributions(t *testing.T) {
	const in, out, r = 256, 4, 16
	base, _ := nn.NewLinear("fc", in, out, cpu64, nn.LinearOptions{Seed: 1})
	stats := func(init Init, seed int64, name string) (a []float64, maxAbs, std float64) {
		l, err := newLoraLinear(name, base, r, 1, cpu64, in, out, config{init: init, seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if tensor.MaxAbs(l.B.Value.Data()) != 0 {
			t.Fatal("B is not zero at start")
		}
		a = l.A.Value.Data()
		return a, tensor.MaxAbs(a), math.Sqrt(tensor.SumSq(a) / float64(len(a)))
	}
	a, m, s := stats(InitKaiming, 1, "fc")
	bound := 1 / math.Sqrt(in)
	if m > bound || m < 0.99*bound || math.Abs(s-bound/math.Sqrt(3)) > 0.03*bound {
		t.Errorf("kaiming: max %v std %v, want ≤ %v and std %v", m, s, bound, bound/math.Sqrt(3))
	}
	if _, _, s := stats(InitGaussian, 1, "fc"); math.Abs(s-1.0/r) > 0.03/r {
		t.Errorf("gaussian: std %v, want %v", s, 1.0/r)
	}
	if _, _, s := stats(InitNormal, 1, "fc"); math.Abs(s-1) > 0.03 {
		t.Errorf("normal: std %v, want 1", s)
	}
	again, _, _ := stats(InitKaiming, 1, "fc")
	other, _, _ := stats(InitKaiming, 2, "fc")
	renamed, _, _ := stats(InitKaiming, 1, "fc2")
	if !slices.Equal(a, again) || slices.Equal(a, other) || slices.Equal(a, renamed) {
		t.Fatal("A does not depend on exactly the seed and the name")
	}
}

// TestDropoutMaskByPosition: with a draw key set, a row's dropout mask
// depends on the key and the row's position only — the rows 2..5 of a
// 6-row call equal a 4-row call at position 2 (how data-parallel replicas
// and resumed runs draw a single run's masks) — while another key, or no
// key (the stream advances), gives other masks; about p of the inputs drop.
func TestDropoutMaskByPosition(t *testing.T) {
	const in, out, p = 64, 3, 0.25
	base, _ := nn.NewLinear("fc", in, out, cpu64, nn.LinearOptions{Seed: 1})
	l, err := newLoraLinear("fc", base, 2, 2, cpu64, in, out, config{dropout: p, seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	maskOf := func(rows int) []float64 {
		forward[float64](t, l, randInput[float64](1, rows, in))
		return slices.Clone(l.mask)
	}
	free1, free2 := maskOf(6), maskOf(6)
	if slices.Equal(free1, free2) {
		t.Fatal("without a key, two forwards drew the same masks")
	}
	l.SetDropoutKey(9, 0)
	all := maskOf(6)
	if again := maskOf(6); !slices.Equal(all, again) {
		t.Fatal("the same key and position drew other masks")
	}
	l.SetDropoutKey(9, 2)
	if part := maskOf(4); !slices.Equal(part, all[2*in:]) {
		t.Fatal("rows 2..5 drawn at position 2 differ from the same rows drawn in one call")
	}
	l.SetDropoutKey(10, 0)
	if other := maskOf(6); slices.Equal(other, all) {
		t.Fatal("another key drew the same masks")
	}
	zeros := 0
	for _, m := range all {
		if m == 0 {
			zeros++
		}
	}
	if f := float64(zeros) / float64(len(all)); math.Abs(f-p) > 0.08 {
		t.Fatalf("%.3f of the inputs dropped, want about %g", f, p)
	}
}
