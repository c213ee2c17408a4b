package nf4

import (
	"math"
	"testing"
)

// TestDynamicMapShape: 127 negatives mirroring 127 positives, 0, and 1.0;
// strictly increasing; range [-0.99296875, 1].
func TestDynamicMapShape(t *testing.T) {
	m := DynamicMap()
	for i := 1; i < len(m); i++ {
		if !(m[i-1] < m[i]) {
			t.Fatalf("map not strictly increasing at %d: %v, %v", i, m[i-1], m[i])
		}
	}
	if m[127] != 0 || m[255] != 1 || m[0] != float32(-0.99296875) {
		t.Errorf("m[0], m[127], m[255] = %v, %v, %v; want -0.99296875, 0, 1", m[0], m[127], m[255])
	}
	for i := range 127 {
		if m[i] != -m[254-i] {
			t.Errorf("m[%d] = %v is not -m[%d] = %v", i, m[i], 254-i, -m[254-i])
		}
	}
}

// TestDynamicMapValues checks every positive entry against the exact
// decimal of its construction, 10^(i-6)·(0.1 + (j+½)·0.9/2^i): the float32
// emulation of torch.linspace may differ from it only in rounding.
func TestDynamicMapValues(t *testing.T) {
	var want []float64
	for i := range 7 {
		for j := range 1 << i {
			want = append(want, math.Pow(10, float64(i-6))*(0.1+(float64(j)+0.5)*0.9/float64(int(1)<<i)))
		}
	}
	// Sort ascending (decades are already ordered, entries within a decade too).
	m := DynamicMap()
	for k, w := range want {
		got := float64(m[128+k])
		ulp := float64(math.Nextafter32(float32(w), 2) - float32(w))
		if math.Abs(got-w) > 2*ulp {
			t.Errorf("entry %d = %.10g, want %.10g within 2 ulp", 128+k, got, w)
		}
	}
	// Spot values that are exact in float32 whatever the rounding path.
	for idx, v := range map[int]float32{192: 0.12109375, 197: 0.19140625, 212: 0.40234375, 254: float32(0.99296875)} {
		if m[idx] != v {
			t.Errorf("m[%d] = %v, want %v", idx, m[idx], v)
		}
	}
}

func TestQuantizeDQOnMidpoints(t *testing.T) {
	m := DynamicMap()
	for i := 0; i+1 < len(m); i++ {
		mid := (m[i] + m[i+1]) / 2
		if got := quantizeDQ(mid); got != uint8(i) {
			t.Errorf("midpoint %d/%d: %d, want lower %d", i, i+1, got, i)
		}
		if got := quantizeDQ(math.Nextafter32(mid, 2)); got != uint8(i+1) {
			t.Errorf("above midpoint %d/%d: %d, want %d", i, i+1, got, i+1)
		}
		if got := quantizeDQ(m[i]); got != uint8(i) {
			t.Errorf("entry %d maps to %d", i, got)
		}
	}
	if quantizeDQ(-2) != 0 || quantizeDQ(2) != 255 {
		t.Error("out-of-range values do not saturate")
	}
}

// TestDoubleQuantHandWorked: two blocks of 64 with absmax 1 and 3 → offset
// 2, absmax-offset = [-1, 1], absmax2 = 1, codes [0, 255] (entries
// -0.99296875 and 1), so the scales become [2 - 0.99296875, 3].
func TestDoubleQuantHandWorked(t *testing.T) {
	w := make([]float32, 128)
	w[10], w[64+20] = -1, 3
	q, err := Quantize(w, 2, 64, Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	if q.offset != 2 || len(q.absmax2) != 1 || q.absmax2[0] != 1 || q.qabsmax[0] != 0 || q.qabsmax[1] != 255 {
		t.Fatalf("offset %v absmax2 %v qabsmax %v", q.offset, q.absmax2, q.qabsmax)
	}
	am := q.Absmax()
	if want := float32(-0.99296875) + 2; am[0] != want || am[1] != 3 {
		t.Errorf("scales = %v, want [%v 3]", am, want)
	}
	// Codes are chosen with the true absmax, then scaled by the DQ scale.
	deq := make([]float32, 128)
	q.Dequantize(deq)
	if deq[10] != -am[0] || deq[84] != 3 {
		t.Errorf("dequantized %v, %v; want %v, 3", deq[10], deq[84], -am[0])
	}
}

// TestDoubleQuantRoundTrip: every scale after the 8-bit round trip is within
// half the largest dynamic-map gap (times absmax2) of the true absmax, and
// the NF4 codes are the same as without double quantization.
func TestDoubleQuantRoundTrip(t *testing.T) {
	m := DynamicMap()
	var gap float64
	for i := 0; i+1 < len(m); i++ {
		gap = max(gap, float64(m[i+1])-float64(m[i]))
	}
	for _, s := range []struct{ rows, cols, bs int }{{1024, 1024, 64}, {33, 777, 32}, {3, 5, 4096}} {
		w := randNormal(11, s.rows*s.cols)
		plain, err := Quantize(w, s.rows, s.cols, Options{BlockSize: s.bs})
		if err != nil {
			t.Fatal(err)
		}
		dq, err := Quantize(w, s.rows, s.cols, Options{BlockSize: s.bs, DoubleQuant: true})
		if err != nil {
			t.Fatal(err)
		}
		if string(plain.Packed()) != string(dq.Packed()) {
			t.Errorf("%v: DQ changed the NF4 codes", s)
		}
		exact, got := plain.Absmax(), dq.Absmax()
		for b := range exact {
			bound := gap/2*float64(dq.absmax2[b/DQBlockSize])*(1+1e-6) + 1e-7*float64(exact[b])
			if e := math.Abs(float64(got[b]) - float64(exact[b])); e > bound {
				t.Fatalf("%v block %d: scale %v vs absmax %v, error %v > %v", s, b, got[b], exact[b], e, bound)
			}
		}
		if !dq.DoubleQuant() || plain.DoubleQuant() {
			t.Error("DoubleQuant() wrong")
		}
	}
}
