//go:build js && wasm

package llama

import (
	"context"
	"github.com/webtune/webtune/tensor"
	"math"
	"testing"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/wasm/simd"
)

// Training with package simd's element-wise module against training with it
// turned off (the scalar float32 loops of package kernels); the kernels
// themselves are compared in kernels/elem_js_test.go.

// withElem runs f with the element-wise module on or off.
func withElem(t *testing.T, on bool, f func()) {
	t.Helper()
	if err := simd.ElementwiseAvailable(); err != nil {
		t.Skip(err)
	}
	prev := simd.SetElementwise(on)
	defer simd.SetElementwise(prev)
	f()
}

// testStridedEngine is the SIMD engine when the host has it, else the
// blocked engine.
func testStridedEngine() tensor.Engine[float32] {
	if e, err := simd.New[float32](); err == nil {
		return e
	}
	return tensor.NewBlocked[float32]()
}

// TestElemTrainingMatchesScalar trains a small model a few steps with the
// element-wise module on and off: the losses agree to float32 rounding.
func TestElemTrainingMatchesScalar(t *testing.T) {
	cfg := Config{VocabSize: 97, Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, FFN: 72, Eps: 1e-5, RopeBase: 10000, ContextLength: 160}
	tokens, targets := tinyBatch(cfg, 2, 150, 3) // T > 64 rows: the blocked causal path
	losses := func(on bool) (ls []float64) {
		withElem(t, on, func() {
			m := NewRandomOn[float32](cfg, 7, testStridedEngine())
			if err := m.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
			opt := nn.NewAdamW[float32](nn.AdamWConfig{LR: 1e-3})
			for range 4 {
				m.ZeroGrad()
				l, err := m.ForwardBackward(context.Background(), tokens, targets, 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := opt.Step(context.Background(), m.Parameters()); err != nil {
					t.Fatal(err)
				}
				ls = append(ls, l)
			}
		})
		return ls
	}
	want, got := losses(false), losses(true)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-5*math.Abs(want[i]) {
			t.Fatalf("step %d: loss %.8g with the module, %.8g without", i, got[i], want[i])
		}
	}
	t.Logf("losses %v (module) %v (scalar)", got, want)
}
