//go:build js && wasm

package kernels

import (
	"math"
	"testing"
)

// TestExpf32 checks expf32 and expShift against math.Exp across the
// float32 range, special values included.
func TestExpf32(t *testing.T) {
	var xs []float32
	for x := float32(-110); x <= 100; x += 0.0137 {
		xs = append(xs, x)
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), -87, 88, 88.72, 89, -104, float32(math.Inf(1)), float32(math.Inf(-1)))
	got := make([]float32, len(xs))
	expShift(got, xs, 0, 1)
	for i, x := range xs {
		if e := expf32(x); math.Float32bits(e) != math.Float32bits(got[i]) {
			t.Fatalf("expShift's inlined exp(%g) = %g, simd.Expf32 %g", x, got[i], e)
		}
		want := float32(math.Exp(float64(x)))
		for _, g := range []float32{expf32(x), got[i]} {
			if want == 0 || math.IsInf(float64(want), 0) {
				if g != want {
					t.Fatalf("exp(%g) = %g, want %g", x, g, want)
				}
				continue
			}
			if rel := math.Abs(float64(g)-float64(want)) / float64(want); rel > 3e-7 {
				t.Fatalf("exp(%g) = %g, want %g (rel %g)", x, g, want, rel)
			}
		}
	}
	nan := float32(math.NaN())
	expShift(got[:1], []float32{nan}, 0, 1)
	if g := expf32(nan); g == g || got[0] == got[0] {
		t.Fatalf("exp(NaN) = %g, %g", g, got[0])
	}
	if m, _ := fastMax([]float32{1, nan, 2}); m == m {
		t.Fatalf("max with NaN = %g", m)
	}
	if m, _ := fastMax([]float32{-3, 2, -1}); m != 2 {
		t.Fatalf("max = %g", m)
	}
}
