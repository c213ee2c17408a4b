package lora

import (
	"testing"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// TestMerge: the merged model computes what the adapter did, with plain
// frozen Linear layers, for dense and NF4 bases and rsLoRA.
func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quant bool
		opts  []Option
	}{{"dense", false, nil}, {"dense-rslora", false, []Option{WithRSLoRA()}}, {"nf4", true, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel[float64](t, 1)
			if tc.quant {
				if err := QuantizeTargets[float64](m, []string{AllLinear}, nf4.Options{BlockSize: 32}); err != nil {
					t.Fatal(err)
				}
			}
			if err := InjectLoRA[float64](m, 3, 6, []string{AllLinear}, nil, tc.opts...); err != nil {
				t.Fatal(err)
			}
			randomizeB[float64](m, 4, 0.3)
			x := randInput[float64](5, 2, 3, tmIn)
			want := forward[float64](t, m, x)
			total := TotalParamCount[float64](m) - TrainableParamCount[float64](m) + 36 // minus A, B; plus the head
			if err := Merge[float64](m); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(forward[float64](t, m, x), want); d > 1e-12 {
				t.Fatalf("merged outputs differ by %g", d)
			}
			if n := len(Adapters[float64](m)); n != 0 {
				t.Fatalf("%d LoRA layers left", n)
			}
			for _, l := range m.Layers() {
				lin, ok := l.(*nn.Linear[float64])
				switch {
				case l.OpType() == "Tanh":
				case !ok:
					t.Fatalf("layer %s is a %s after Merge", l.Name(), l.OpType())
				case lin.Name() != "output" && lin.Weight().Trainable:
					t.Fatalf("merged %s is trainable", l.Name())
				}
			}
			if got := TotalParamCount[float64](m); got != total {
				t.Fatalf("%d parameters after Merge, want %d", got, total)
			}
			wantErr(t, Merge[float64](m), ErrNotInjected)
		})
	}
}

// TestMergeFloat32 checks the float32 path within float32 rounding.
func TestMergeFloat32(t *testing.T) {
	m := trainedModel(t, 4, []string{AllLinear})
	x := randInput[float32](5, 7, tmIn)
	want := forward[float32](t, m, x)
	if err := Merge[float32](m); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(forward[float32](t, m, x), want); d > 1e-5 {
		t.Fatalf("merged outputs differ by %g", d)
	}
}

// opaqueBase is a layer with no weight accessor: Merge cannot fold into it.
type opaqueBase struct{ nn.Node[float32] }

func (o opaqueBase) OpType() string { return "Opaque" }

func TestMergeOpaqueBase(t *testing.T) {
	base, _ := nn.NewLinear("fc", 4, 3, tensor.NewCPU[float32](), nn.LinearOptions{Seed: 1})
	l, err := NewLoraLinear[float32]("fc", opaqueBase{base}, 2, 2, tensor.NewCPU[float32](), 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := nn.NewSequential[float32]("m", l)
	wantErr(t, Merge[float32](m), ErrConfig)
	if len(Adapters[float32](m)) != 1 {
		t.Fatal("a failed Merge unwrapped the layer")
	}
}
