//go:build js && wasm

package simd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/quant"
)

// TestDecodeQ8_0Rows: the module's Q8_0 decoder gives gguf's values bit for
// bit, on quantized weights and on arbitrary bytes (every f16 scale, Inf and
// NaN included), for a column slice of strided rows as the fused products
// ask for it, and leaves everything outside the slice alone.
func TestDecodeQ8_0Rows(t *testing.T) {
	if err := ElementwiseAvailable(); err != nil {
		t.Fatalf("the element-wise module should run under Node: %v", err)
	}
	const rows, cols = 7, 32 * 12
	const rowBytes = cols / 32 * 34
	quantized, err := quant.Random(gguf.TypeQ8_0, rows, cols, 0.05, 5)
	if err != nil {
		t.Fatal(err)
	}
	arbitrary := make([]byte, rows*rowBytes)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range arbitrary {
		arbitrary[i] = byte(r.Uint32())
	}
	for name, src := range map[string][]byte{"quantized": quantized, "arbitrary bytes": arbitrary} {
		want := make([]float32, rows*cols)
		if err := gguf.Decode(gguf.TypeQ8_0, want, src); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ b0, nb int }{{0, cols / 32}, {3, 5}, {11, 1}} {
			const stride = cols + 3 // dst rows wider than the slice
			got := make([]float32, rows*stride)
			for i := range got {
				got[i] = -7
			}
			if !DecodeQ8_0Rows(got, stride, src[c.b0*34:], rowBytes, rows, c.nb) {
				t.Fatal("DecodeQ8_0Rows did not run")
			}
			for row := range rows {
				for j := range stride {
					g := got[row*stride+j]
					if j >= 32*c.nb {
						if g != -7 {
							t.Fatalf("%s: wrote past the slice at row %d, column %d", name, row, j)
						}
						continue
					}
					w := want[row*cols+32*c.b0+j]
					if math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%s, blocks %d+%d: row %d value %d = %v (%#x), gguf %v (%#x)", name, c.b0, c.nb, row, j, g, math.Float32bits(g), w, math.Float32bits(w))
					}
				}
			}
		}
	}
}
