//go:build js && wasm

package nosimdtest

import (
	"context"
	"errors"
	"strings"
	"syscall/js"
	"testing"

	"github.com/webtune/webtune/wasm/bridge/core"
	"github.com/webtune/webtune/wasm/simd"
)

// TestNoSIMDFallsBackToGo hides SIMD from the host as an old browser would
// (WebAssembly.validate refuses every module that is not plain MVP wasm),
// then checks that the SIMD engine reports ErrUnavailable and that the
// bridge's models compute on the pure-Go engine and still train.
func TestNoSIMDFallsBackToGo(t *testing.T) {
	wa := js.Global().Get("WebAssembly")
	validate := wa.Get("validate")
	wa.Set("validate", js.FuncOf(func(this js.Value, args []js.Value) any { return false }))
	defer wa.Set("validate", validate)

	if _, err := simd.New[float32](); !errors.Is(err, simd.ErrUnavailable) {
		t.Fatalf("simd.New without SIMD: %v, want ErrUnavailable", err)
	}
	e := core.Engine()
	if strings.HasPrefix(e.Name(), "wasm-simd") {
		t.Fatalf("engine %q without SIMD", e.Name())
	}
	m, err := core.LoadBuiltin(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.InjectLoRA(core.LoRAOptions{Rank: 4}); err != nil {
		t.Fatal(err)
	}
	r, err := m.Train(core.TrainOptions{Text: strings.Repeat("The sea was calm that morning. ", 40), Steps: 3, Batch: 2, SeqLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	state, err := r.Loop(context.Background(), nil, nil)
	if state != core.StateDone || err != nil {
		t.Fatalf("training on %s: %s, %v", e.Name(), state, err)
	}
	if h := r.History(); len(h.Losses) != 3 {
		t.Fatalf("losses %v", h.Losses)
	}
}
