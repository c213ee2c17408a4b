//go:build js && wasm

package nn

import (
	"testing"

	"github.com/webtune/webtune/wasm/simd"
)

// TestSIMDEngineIsNF4Engine checks that the browser's SIMD engine provides
// the fused NF4 products NF4Linear looks for.
func TestSIMDEngineIsNF4Engine(t *testing.T) {
	e, err := simd.New[float32]()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.(NF4Engine[float32]); !ok {
		t.Fatalf("engine %s does not implement NF4Engine", e.Name())
	}
}
