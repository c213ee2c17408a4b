package llama

import (
	"math"
	"testing"

	"github.com/webtune/webtune/gguf"
)

func TestRoundActivations(t *testing.T) {
	// Q8_0: max 127 gives d = 1, q = round-half-even(x)
	src := make([]float32, 32)
	copy(src, []float32{127, 0.5, 1.5, -2.5, 3.4, -126.6})
	dst := make([]float32, 32)
	roundActivations(dst, src, gguf.TypeQ8_0, 32)
	for i, want := range []float32{127, 0, 2, -2, 3, -127} {
		if dst[i] != want {
			t.Fatalf("q8_0[%d] = %g, want %g", i, dst[i], want)
		}
	}
	// Q8_K: the scale comes from the signed extreme, q ≤ 127
	src = make([]float32, 256)
	copy(src, []float32{-254, 1, 3, 254})
	dst = make([]float32, 256)
	roundActivations(dst, src, gguf.TypeQ8_K, 256)
	for i, want := range []float32{-254, 0, 4, 254} {
		if dst[i] != want {
			t.Fatalf("q8_K[%d] = %g, want %g", i, dst[i], want)
		}
	}
	// F16 and BF16 round to nearest even
	x := []float64{1 + 1.0/2048, 1 + 3.0/2048, 1 + 1.0/256}
	y := make([]float64, 3)
	roundActivations(y, x, gguf.TypeF16, 3)
	if y[0] != 1 || y[1] != 1+4.0/2048 || y[2] != x[2] {
		t.Fatalf("f16 %v", y)
	}
	roundActivations(y, x, gguf.TypeBF16, 3)
	if y[0] != 1 || y[2] != 1 {
		t.Fatalf("bf16 %v", y)
	}
	if !math.IsNaN(float64(bf16Round(float32(math.NaN())))) {
		t.Fatal("bf16 NaN")
	}
	for typ, want := range map[gguf.TensorType]gguf.TensorType{
		gguf.TypeF32: gguf.TypeF32, gguf.TypeF16: gguf.TypeF16, gguf.TypeQ4_0: gguf.TypeQ8_0,
		gguf.TypeQ5_1: gguf.TypeQ8_1, gguf.TypeQ6_K: gguf.TypeQ8_K, gguf.TypeBF16: gguf.TypeBF16,
	} {
		if got := vecDotType(typ); got != want {
			t.Errorf("vecDotType(%v) = %v, want %v", typ, got, want)
		}
	}
}

func TestMatchGGMLOnlyTouchesQuantizedLayers(t *testing.T) {
	cfg := quantConfig()
	m := NewRandom[float32](cfg, 10)
	tokens, _ := tinyBatch(cfg, 1, 6, 5)
	for _, tc := range []struct {
		typ     gguf.TensorType
		changes bool
	}{{gguf.TypeF32, false}, {gguf.TypeQ8_0, true}} {
		data := saved(t, m, tc.typ)
		plain, err := load[float32](data, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		match, err := load[float32](data, LoadOptions{MatchGGML: true})
		if err != nil {
			t.Fatal(err)
		}
		d := maxDiff(logitsOf(t, plain, tokens), logitsOf(t, match, tokens))
		if (d != 0) != tc.changes || d > 0.1 {
			t.Fatalf("%v: MatchGGML changed logits by %g", tc.typ, d)
		}
	}
}
