package nn_test

import (
	"errors"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// mustQuantLinear returns a float64 QuantLinear of random typ weights
// [out, in], with a random bias when bias is set.
func mustQuantLinear(t *testing.T, typ gguf.TensorType, in, out int, bias bool) *nn.QuantLinear[float64] {
	t.Helper()
	data, err := quant.Random(typ, out, in, 0.3, 11)
	if err != nil {
		t.Fatal(err)
	}
	w, err := quant.NewMatrix(typ, out, in, data)
	if err != nil {
		t.Fatal(err)
	}
	var b *tensor.Tensor[float64]
	if bias {
		b = randTensor(12, out)
	}
	l, err := nn.NewQuantLinear("fc", w, b, cpu64)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestQuantLinearMatchesDequantizedLinear(t *testing.T) {
	q := mustQuantLinear(t, gguf.TypeQ6_K, 512, 10, true)
	if q.Name() != "fc" || q.InFeatures() != 512 || q.OutFeatures() != 10 || q.OpType() != "QuantLinear" ||
		q.Attributes()["type"] != "Q6_K" || q.Matrix().Type() != gguf.TypeQ6_K {
		t.Fatalf("%s %d %d %s %v", q.Name(), q.InFeatures(), q.OutFeatures(), q.OpType(), q.Attributes())
	}
	if ps := q.Parameters(); len(ps) != 1 || ps[0].Trainable {
		t.Fatalf("parameters %v: want only the frozen bias", ps)
	}
	ref, err := nn.NewLinearFrom("ref", q.DequantizedWeight(), q.Bias().Value, cpu64)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(1, 2, 3, 512)
	yq, _ := q.Forward(ctx, x)
	yr, _ := ref.Forward(ctx, x)
	near(t, "forward", yq.Data(), yr.Data(), 1e-12)
	if s := q.OutputShape(); len(s) != 3 || s[2] != 10 {
		t.Fatalf("OutputShape %v", s)
	}
	dy := randTensor(2, 2, 3, 10)
	gq, _ := q.Backward(ctx, nn.FullBackprop, dy, x)
	gr, _ := ref.Backward(ctx, nn.FullBackprop, dy, x)
	near(t, "dx", gq[0].Data(), gr[0].Data(), 1e-12)
	if g, err := q.Backward(ctx, nn.ParamsOnly, dy, x); err != nil || g[0] != nil {
		t.Fatalf("ParamsOnly: %v %v", g, err)
	}
}

func TestQuantLinearErrors(t *testing.T) {
	w, err := quant.NewMatrix(gguf.TypeQ8_0, 4, 32, make([]byte, 4*34))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]error{}
	_, cases["nil weight"] = nn.NewQuantLinear[float64]("fc", nil, nil, cpu64)
	_, cases["nil engine"] = nn.NewQuantLinear[float64]("fc", w, nil, nil)
	_, cases["bias shape"] = nn.NewQuantLinear("fc", w, randTensor(1, 5), cpu64)
	l, _ := nn.NewQuantLinear[float64]("fc", w, nil, cpu64)
	_, cases["input width"] = l.Forward(ctx, randTensor(1, 2, 31))
	_, cases["two inputs"] = l.Forward(ctx, randTensor(1, 2, 32), randTensor(1, 2, 32))
	_, cases["dy shape"] = l.Backward(ctx, nn.FullBackprop, randTensor(1, 2, 3), randTensor(1, 2, 32))
	for name, err := range cases {
		if !errors.Is(err, nn.ErrShape) {
			t.Errorf("%s: err = %v, want ErrShape", name, err)
		}
	}
}
