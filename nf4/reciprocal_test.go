package nf4

import (
	"math"
	"testing"
)

// TestQuantizeMultipliesByReciprocal pins bitsandbytes' normalisation,
// x · (1/absmax) in float32, against the tempting x / absmax: for absmaxes
// other than powers of two the two round differently one ulp around a
// threshold·absmax, and land on different codes. The expected code is
// worked out here from the published rule (the number of thresholds strictly
// below the normalised value), candidate by candidate.
func TestQuantizeMultipliesByReciprocal(t *testing.T) {
	thr := Thresholds()
	separating := 0
	for _, absmax := range []float32{0.7, 1.3e-3, 123.456, -0.7, 0.3, 5.5, 1e-5, 77.7, 0.1, 9.99} {
		am := float32(math.Abs(float64(absmax)))
		inv := float32(1) / am
		var values []float32
		disagree := 0
		for _, th := range thr {
			center := th * am
			for d := -512; d <= 512; d += step(d) {
				v := nextAfterN(center, d)
				mul, div := v*inv, v/am
				if abs32(v) >= am {
					continue // it would change the block's absmax
				}
				if codeOf(thr, mul) != codeOf(thr, div) {
					disagree++
				}
				values = append(values, v)
			}
		}
		if disagree > 0 {
			separating++
		}
		// One block per candidate: [absmax, v, 0, …] so the block's absmax is am.
		const bs = 64
		w := make([]float32, len(values)*bs)
		for i, v := range values {
			w[i*bs], w[i*bs+1] = absmax, v
		}
		q, err := Quantize(w, len(values), bs, Options{BlockSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		p := q.Packed()
		for i, v := range values {
			got := p[(i*bs+1)/2] & 15 // element 1 is the low nibble of byte 0
			want := codeOf(thr, v*inv)
			if got != want {
				t.Errorf("absmax %g, x = %g (bits %#08x): code %d, want %d (x·(1/absmax) = %g; x/absmax = %g gives %d)",
					absmax, v, math.Float32bits(v), got, want, v*inv, v/am, codeOf(thr, v/am))
			}
		}
		t.Logf("absmax %g: %d candidates, %d where division would differ", absmax, len(values), disagree)
	}
	if separating < 3 {
		t.Fatalf("only %d absmaxes have a value that separates x·(1/absmax) from x/absmax; the test proves too little", separating)
	}
}

// codeOf is the number of thresholds strictly below n.
func codeOf(thr [15]float32, n float32) byte {
	c := byte(0)
	for _, t := range thr {
		if n > t {
			c++
		}
	}
	return c
}

// nextAfterN steps f by d ulps (towards +Inf for d > 0).
func nextAfterN(f float32, d int) float32 {
	for ; d > 0; d-- {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	for ; d < 0; d++ {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

// step walks every ulp near the centre and every 16th further out.
func step(d int) int {
	if d >= -32 && d < 32 {
		return 1
	}
	return 16
}
