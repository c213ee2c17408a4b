package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// readRef loads one reference vector written by testdata/ggmlref/harness.c from ggml's own code.
func readRef(t *testing.T, name string) (in, out []byte) {
	t.Helper()
	var err error
	dir := filepath.Join("testdata", "ggmlref")
	if in, err = os.ReadFile(filepath.Join(dir, name+".in")); err != nil {
		t.Fatal(err)
	}
	if out, err = os.ReadFile(filepath.Join(dir, name+".out")); err != nil {
		t.Fatal(err)
	}
	return in, out
}

func bytesToF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// sameBits compares float32 slices bit for bit (NaN payloads included).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d = %g (%#08x), ggml gives %g (%#08x)", what, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func TestQuantizeMatchesGGML(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  TensorType
	}{{"q8_0_quant", TypeQ8_0}, {"q4_0_quant", TypeQ4_0}} {
		in, want := readRef(t, tc.name)
		got, err := Encode(tc.typ, bytesToF32(in))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					ts := tc.typ.TypeSize()
					t.Fatalf("%v: block %d byte %d = %#x, ggml gives %#x", tc.typ, i/ts, i%ts, got[i], want[i])
				}
			}
		}
	}
}

func TestDequantizeMatchesGGML(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  TensorType
	}{
		{"q8_0_dequant", TypeQ8_0}, {"q4_0_dequant", TypeQ4_0}, {"q4_1_dequant", TypeQ4_1},
		{"q5_0_dequant", TypeQ5_0}, {"q5_1_dequant", TypeQ5_1}, {"q4_k_dequant", TypeQ4_K},
		{"q5_k_dequant", TypeQ5_K}, {"q6_k_dequant", TypeQ6_K},
	} {
		in, out := readRef(t, tc.name)
		want := bytesToF32(out)
		got := make([]float32, len(want))
		if err := Decode(tc.typ, got, in); err != nil {
			t.Fatal(err)
		}
		sameBits(t, tc.typ.String(), got, want)
	}
}

func TestHalfConversionsMatchGGML(t *testing.T) {
	for _, tc := range []struct {
		name string
		conv func(float32) uint16
	}{{"fp16", Float32ToFloat16}, {"bf16", Float32ToBFloat16}} {
		in, out := readRef(t, tc.name)
		xs := bytesToF32(in)
		for i, x := range xs {
			want := binary.LittleEndian.Uint16(out[2*i:])
			if got := tc.conv(x); got != want {
				t.Fatalf("%s(%g = %#08x) = %#04x, ggml gives %#04x", tc.name, x, math.Float32bits(x), got, want)
			}
		}
	}
}

// nearestHalf is an independent oracle: the half nearest to x (ties to even), by search over all
// finite halves in float64.
func nearestHalf(x float32) uint16 {
	sign := uint16(0)
	if math.Signbit(float64(x)) {
		sign = 0x8000
	}
	a := math.Abs(float64(x))
	if a >= 65520 { // 65504 + half an ulp (16): rounds to Inf
		return sign | 0x7C00
	}
	lo, hi := uint16(0), uint16(0x7BFF) // positive finite halves are monotonic in their bits
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if float64(Float16ToFloat32(mid)) <= a {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0x7BFF {
		return sign | lo
	}
	dl, dh := a-float64(Float16ToFloat32(lo)), float64(Float16ToFloat32(lo+1))-a
	if dh < dl || (dh == dl && lo&1 == 1) {
		lo++
	}
	return sign | lo
}

func TestFloat16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			if got := Float32ToFloat16(f); got&0x7C00 != 0x7C00 || got&0x3FF == 0 {
				t.Fatalf("NaN %#04x round-trips to %#04x", h, got)
			}
			continue
		}
		if got := Float32ToFloat16(f); got != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f, got)
		}
		// The midpoint to the next half and its float32 neighbours.
		if h&0x7FFF >= 0x7BFF {
			continue
		}
		next := Float16ToFloat32(uint16(h + 1))
		mid := float32((float64(f) + float64(next)) / 2)
		for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e9), math.Nextafter32(mid, -1e9)} {
			if got, want := Float32ToFloat16(x), nearestHalf(x); got != want {
				t.Fatalf("Float32ToFloat16(%g) = %#04x, nearest-even is %#04x", x, got, want)
			}
		}
	}
}

func TestQuantizeByHand(t *testing.T) {
	// Q8_0: max 127 gives d = 1 exactly; values round half away from zero.
	x := make([]float32, 32)
	x[0], x[1], x[2], x[3], x[4] = 127, -2.5, 2.5, 0.49, -126.6
	b, err := Encode(TypeQ8_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := binary.LittleEndian.Uint16(b); d != 0x3C00 {
		t.Errorf("Q8_0 d = %#x, want 0x3C00 (1.0)", d)
	}
	if got := []int8{int8(b[2]), int8(b[3]), int8(b[4]), int8(b[5]), int8(b[6])}; got[0] != 127 || got[1] != -3 || got[2] != 3 || got[3] != 0 || got[4] != -127 {
		t.Errorf("Q8_0 q = %v, want [127 -3 3 0 -127]", got)
	}
	// Q4_0: max is -8 (first of the ±8 tie), so d = 1; packing: byte j = elem j | elem j+16 << 4.
	y := make([]float32, 32)
	y[0], y[1], y[16], y[17], y[5] = -8, 8, 7, 3.5, -0.5
	b, err = Encode(TypeQ4_0, y)
	if err != nil {
		t.Fatal(err)
	}
	if d := binary.LittleEndian.Uint16(b); d != 0x3C00 {
		t.Errorf("Q4_0 d = %#x, want 0x3C00", d)
	}
	// q = min(15, trunc(x + 8.5)): -8 -> 0, 8 -> 15 (16 clamped), 7 -> 15, 3.5 -> 12, -0.5 -> 8, 0 -> 8.
	want := map[int]byte{0: 0 | 15<<4, 1: 15 | 12<<4, 5: 8 | 8<<4, 2: 8 | 8<<4}
	for j, w := range want {
		if b[2+j] != w {
			t.Errorf("Q4_0 byte %d = %#x, want %#x", j, b[2+j], w)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	x := make([]float32, 256)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 3
	}
	for _, tc := range []struct {
		typ TensorType
		tol float64 // relative to max |x|
	}{{TypeF32, 0}, {TypeF16, 1e-3}, {TypeBF16, 8e-3}, {TypeQ8_0, 1.0 / 127}, {TypeQ4_0, 1.0 / 8}} {
		b, err := Encode(tc.typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len(x)/tc.typ.BlockSize()*tc.typ.TypeSize() {
			t.Fatalf("%v: %d bytes", tc.typ, len(b))
		}
		y := make([]float32, len(x))
		if err := Decode(tc.typ, y, b); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if math.Abs(float64(y[i]-x[i])) > tc.tol*3 {
				t.Fatalf("%v: x[%d] = %g decoded as %g", tc.typ, i, x[i], y[i])
			}
		}
	}
}

func TestCodecErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		run  func() error
	}{
		{"encode Q4_K", ErrUnsupported, func() error { _, err := Encode(TypeQ4_K, make([]float32, 256)); return err }},
		{"encode partial block", ErrFormat, func() error { _, err := Encode(TypeQ8_0, make([]float32, 33)); return err }},
		{"decode IQ2_XXS", ErrUnsupported, func() error { return Decode(TypeIQ2_XXS, make([]float32, 256), make([]byte, 66)) }},
		{"decode short src", ErrFormat, func() error { return Decode(TypeQ8_0, make([]float32, 32), make([]byte, 33)) }},
		{"decode dst size", ErrFormat, func() error { return Decode(TypeF16, make([]float32, 3), make([]byte, 4)) }},
	} {
		if err := tc.run(); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
}
