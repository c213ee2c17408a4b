//go:build js && wasm

package simd

import (
	"flag"
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

// requireRelaxed turns a relaxed variant the host does not validate into a
// failure: Chromium runs relaxed SIMD by default, so the browser run of
// these tests (scripts/tests/wasm-chromium.test.mjs) sets it; Node 20
// rejects relaxed SIMD and runs without it.
var requireRelaxed = flag.Bool("require-relaxed", false, "fail when a relaxed-SIMD variant cannot run")

// TestEngineVariants checks every tile height and unrolling, with and
// without relaxed SIMD where the host validates it: forward (x·Wᵀ) and
// backward (dy·W, xᵀ·dy) products are Gemm's transposition cases, each
// against a float64 reference.
func TestEngineVariants(t *testing.T) {
	ran := 0
	for mr := 1; mr <= 6; mr++ {
		for _, u := range []int{1, 4} {
			for _, relaxed := range []bool{false, true} {
				e, err := NewVariant[float32](Variant{MR: mr, Unroll: u, Relaxed: relaxed})
				if err != nil {
					if relaxed && *requireRelaxed {
						t.Errorf("relaxed variant MR=%d unroll=%d: %v", mr, u, err)
					}
					t.Logf("%v", err)
					continue
				}
				enginetest.Gemm(t, e, 2e-6)
				ran++
			}
		}
	}
	t.Logf("%d variants checked", ran)
	if *requireRelaxed && ran != 24 {
		t.Errorf("%d of 24 variants ran", ran)
	}
}

func TestNewFloat64Unavailable(t *testing.T) {
	if _, err := New[float64](); err == nil {
		t.Fatal("float64 engine: want ErrUnavailable")
	}
}
