package nf4

import (
	"errors"
	"math"
	"testing"
)

// sourceCode are the NF4 values as printed in bitsandbytes' source
// (functional.py get_4bit_type("nf4") / kernels.cu nf4_dequantization_lut),
// with the fp32 bit patterns from docs/nf4.md
var sourceCode = [16]struct {
	lit  float64
	bits uint32
}{
	{-1.0, 0xbf800000}, {-0.6961928009986877, 0xbf3239b1}, {-0.5250730514526367, 0xbf066b30},
	{-0.39491748809814453, 0xbeca32a0}, {-0.28444138169288635, 0xbe91a24d}, {-0.18477343022823334, 0xbe3d353f},
	{-0.09105003625154495, 0xbdba7871}, {0.0, 0x00000000}, {0.07958029955625534, 0x3da2faff},
	{0.16093020141124725, 0x3e24cae3}, {0.24611230194568634, 0x3e7c04dd}, {0.33791524171829224, 0x3ead033a},
	{0.44070982933044434, 0x3ee1a4b8}, {0.5626170039176941, 0x3f1007ab}, {0.7229568362236023, 0x3f3913b3},
	{1.0, 0x3f800000},
}

func TestCodeBits(t *testing.T) {
	c := Code()
	for i, s := range sourceCode {
		if got := math.Float32bits(c[i]); got != s.bits {
			t.Errorf("code[%d] bits = %#08x, want %#08x", i, got, s.bits)
		}
		// Every source literal is exactly a float32: converting loses nothing.
		if f := float32(s.lit); float64(f) != s.lit || math.Float32bits(f) != s.bits {
			t.Errorf("code[%d]: literal %v is not the float32 %#08x", i, s.lit, s.bits)
		}
	}
}

// cudaThresholds are the decision-tree literals of kernels.cu dQuantizeNF4.
var cudaThresholds = [15]float64{
	-0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
	-0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
	0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
	0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
}

func TestThresholdsAreFloat32Midpoints(t *testing.T) {
	th := Thresholds()
	for i, lit := range cudaThresholds {
		// The CUDA literal taken through float64 gives the float32 midpoint.
		if got, want := th[i], float32(lit); got != want {
			t.Errorf("threshold %d/%d = %v, want float32(float64 literal) %v", i, i+1, got, want)
		}
	}
	// Rounding the decimal literal straight to float32 (as a C compiler does
	// with an f suffix) is one ulp away at exactly these four thresholds.
	direct := [15]float32{
		-0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
		-0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
		0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
		0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
	}
	for i := range direct {
		d := int64(math.Float32bits(th[i])) - int64(math.Float32bits(direct[i]))
		wantOff := i == 0 || i == 8 || i == 12 || i == 14
		if (d != 0) != wantOff || d > 1 || d < -1 {
			t.Errorf("threshold %d: midpoint and direct float32 literal differ by %d ulp", i, d)
		}
	}
}

func TestQuantizeValueOnThresholds(t *testing.T) {
	th, c := Thresholds(), Code()
	up := func(v float32) float32 { return math.Nextafter32(v, 2) }
	down := func(v float32) float32 { return math.Nextafter32(v, -2) }
	for i, v := range th {
		if got := quantizeValue(v); got != byte(i) {
			t.Errorf("exact midpoint %d/%d (%v): code %d, want lower code %d", i, i+1, v, got, i)
		}
		if got := quantizeValue(up(v)); got != byte(i+1) {
			t.Errorf("one ulp above midpoint %d/%d: code %d, want %d", i, i+1, got, i+1)
		}
		if got := quantizeValue(down(v)); got != byte(i) {
			t.Errorf("one ulp below midpoint %d/%d: code %d, want %d", i, i+1, got, i)
		}
	}
	for i, v := range c {
		if got := quantizeValue(v); got != byte(i) {
			t.Errorf("code value %v: code %d, want %d", v, got, i)
		}
	}
	for _, tc := range []struct {
		v    float32
		want byte
	}{{-1.5, 0}, {1.5, 15}, {float32(math.Copysign(0, -1)), 7}, {0, 7}} {
		if got := quantizeValue(tc.v); got != tc.want {
			t.Errorf("quantizeValue(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// TestQuantizeHandWorked: 3×11 = 33 values, block size 32, so one full
// block, a one-element partial block and a padding nibble. Block 0 has
// absmax 1 (inv = 1): 1→15, -1→0, 0.5→12 (0.3893<0.5≤0.5017), -0.5→2
// (-0.6106<-0.5≤-0.4600), 0.25→10 (0.2035<0.25≤0.2920), 0→7, 0.04→8
// (0.03979<0.04≤0.1203), 0.9→15 (>0.8615); the other 24 zeros are code 7.
// Block 1 is {-3}: absmax 3, -3·float32(1/3) = -1 → code 0, then pad 7.
func TestQuantizeHandWorked(t *testing.T) {
	w := make([]float32, 33)
	copy(w, []float32{1, -1, 0.5, -0.5, 0.25, 0, 0.04, 0.9})
	w[32] = -3
	q, err := Quantize(w, 3, 11, Options{BlockSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xF0, 0xC2, 0xA7, 0x8F, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x07}
	if got := q.Packed(); string(got) != string(want) {
		t.Errorf("packed = % x\nwant     % x", got, want)
	}
	if got := q.Absmax(); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("absmax = %v, want [1 3]", got)
	}
	deq := make([]float32, 33)
	q.Dequantize(deq)
	c := Code()
	wantDeq := []float32{1, -1, c[12], c[2], c[10], 0, c[8], 1}
	for i, v := range wantDeq {
		if deq[i] != v {
			t.Errorf("dequantized[%d] = %v, want %v", i, deq[i], v)
		}
	}
	if deq[32] != -3 {
		t.Errorf("dequantized[32] = %v, want -3", deq[32])
	}
}

// TestQuantizeExactMidpoints drives every midpoint through Quantize: with
// absmax 2 the reciprocal 0.5 is exact, so 2·t normalises to exactly t.
func TestQuantizeExactMidpoints(t *testing.T) {
	th := Thresholds()
	var w []float32
	var want []byte
	for i, v := range th {
		w = append(w, 2*v, 2*math.Nextafter32(v, 2), 2*math.Nextafter32(v, -2))
		want = append(want, byte(i), byte(i+1), byte(i))
	}
	w = append(w, 2) // sets absmax = 2 (code 15)
	want = append(want, 15)
	q, err := Quantize(w, 1, len(w), Options{BlockSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	for k := range w {
		if got := q.CodeAt(k); got != want[k] {
			t.Errorf("element %d (%v, normalised %v): code %d, want %d", k, w[k], w[k]/2, got, want[k])
		}
	}
}

// TestZeroBlock documents the all-zero-block choice: like bitsandbytes'
// PyTorch/CPU path (absmax clamped to 1e-38 before the reciprocal) every
// value gets code 7 (bytes 0x77), absmax is stored as 0 and the block
// dequantizes to zeros. (CUDA would give 0x00 from 0·inf = NaN.)
func TestZeroBlock(t *testing.T) {
	w := make([]float32, 128)
	w[64] = 0.5 // block 1 is not zero
	q, err := Quantize(w, 2, 64, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for j, b := range q.Packed()[:32] {
		if b != 0x77 {
			t.Fatalf("zero block byte %d = %#02x, want 0x77", j, b)
		}
	}
	if am := q.Absmax(); am[0] != 0 || am[1] != 0.5 {
		t.Errorf("absmax = %v, want [0 0.5]", am)
	}
	row := make([]float32, 64)
	q.DequantizeRow(0, row)
	for i, v := range row {
		if v != 0 {
			t.Fatalf("dequantized zero block [%d] = %v", i, v)
		}
	}
}

// big33 is 2^33 where int has 64 bits (computed at run time so that the
// test also compiles for 32-bit platforms, where it is 2).
var big33 = 1 << (uint(33) % (32 << (^uint(0) >> 63)))

func TestQuantizeErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name       string
		w          []float32
		rows, cols int
		opt        Options
		want       error
	}{
		{"nan", []float32{1, nan, 0, 0}, 2, 2, Options{}, ErrNonFinite},
		{"+inf", []float32{1, 0, 0, inf}, 2, 2, Options{}, ErrNonFinite},
		{"-inf", []float32{-inf}, 1, 1, Options{}, ErrNonFinite},
		{"len", []float32{1, 2, 3}, 2, 2, Options{}, ErrShape},
		{"zero rows", nil, 0, 2, Options{}, ErrShape},
		{"negative cols", nil, 2, -1, Options{}, ErrShape},
		{"overflow", nil, math.MaxInt, math.MaxInt, Options{}, ErrShape},
		{"product wraps", nil, big33, big33, Options{}, ErrShape}, // 2^66 wraps to 0 in int64
		{"product too big", nil, 1 << 17, 1<<17 + 1, Options{}, ErrShape},
		{"bs 16", []float32{1}, 1, 1, Options{BlockSize: 16}, ErrBlockSize},
		{"bs 48", []float32{1}, 1, 1, Options{BlockSize: 48}, ErrBlockSize},
		{"bs 8192", []float32{1}, 1, 1, Options{BlockSize: 8192}, ErrBlockSize},
		{"bs -64", []float32{1}, 1, 1, Options{BlockSize: -64}, ErrBlockSize},
	} {
		_, err := Quantize(tc.w, tc.rows, tc.cols, tc.opt)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	for bs := 32; bs <= 4096; bs *= 2 {
		q, err := Quantize(randNormal(9, 3*700), 3, 700, Options{BlockSize: bs})
		if err != nil || q.BlockSize() != bs || q.NumBlocks() != (2100+bs-1)/bs {
			t.Errorf("block size %d: err %v, blocks %d", bs, err, q.NumBlocks())
		}
	}
	if q, _ := Quantize([]float32{1}, 1, 1, Options{}); q.BlockSize() != DefaultBlockSize {
		t.Errorf("zero Options block size = %d, want 64", q.BlockSize())
	}
}
