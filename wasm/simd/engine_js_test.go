//go:build js && wasm

package simd

import (
	"testing"

	"github.com/webtune/webtune/tensor/enginetest"
)

// TestEngine runs the engine conformance suite on the SIMD engine under
// Node (go_js_wasm_exec): Node 20 has WebAssembly SIMD, and the module
// finds Go's memory through wasm_exec.js's Go instance.
func TestEngine(t *testing.T) {
	e, err := New[float32]()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine %s", e.Name())
	enginetest.All(t, e, 2e-6)
}

// TestEngineVariants checks every tile height and unrolling, with and
// without relaxed SIMD where the host validates it.
func TestEngineVariants(t *testing.T) {
	for mr := 1; mr <= 6; mr++ {
		for _, u := range []int{1, 4} {
			for _, relaxed := range []bool{false, true} {
				e, err := NewVariant[float32](Variant{MR: mr, Unroll: u, Relaxed: relaxed})
				if err != nil {
					t.Logf("%v", err)
					continue
				}
				enginetest.Gemm(t, e, 2e-6)
			}
		}
	}
}

func TestNewFloat64Unavailable(t *testing.T) {
	if _, err := New[float64](); err == nil {
		t.Fatal("float64 engine: want ErrUnavailable")
	}
}
