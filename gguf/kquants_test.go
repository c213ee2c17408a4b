package gguf

import (
	"encoding/binary"
	"testing"
)

// Hand-built blocks: each builder places chosen codes, scales and mins by the layout described in
// kquants.go and returns the values the layout implies. The numbers are small integers times
// powers of two, so the expected values are exact.

// packScalesK4 packs eight 6-bit scales and mins into the 12-byte Q4_K/Q5_K scales field.
func packScalesK4(sc, m [8]byte) []byte {
	q := make([]byte, 12)
	for j := range 4 {
		q[j] = sc[j] | (sc[j+4]>>4)<<6
		q[j+4] = m[j] | (m[j+4]>>4)<<6
		q[j+8] = sc[j+4]&0x0F | (m[j+4]&0x0F)<<4
	}
	return q
}

func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, Float32ToFloat16(f)) }

func buildQ4K(fifthBit bool) (block []byte, want []float32) {
	size, qsOff := 144, 16
	if fifthBit {
		size, qsOff = 176, 48
	}
	block = make([]byte, size)
	d, dmin := float32(1), float32(0.5)
	putF16(block[0:], d)
	putF16(block[2:], dmin)
	var sc, m [8]byte
	for j := range 8 {
		sc[j], m[j] = byte(j+1), byte(2*j)
		if j >= 4 { // exercise the split high bits
			sc[j], m[j] = byte(40+j), byte(50+j)
		}
	}
	copy(block[4:], packScalesK4(sc, m))
	want = make([]float32, 256)
	for e := range 256 {
		s, l := e/32, e%32 // sub-block, position
		g := s / 2
		q := byte(e*7) % 16
		if fifthBit {
			q = byte(e*11) % 32
			block[16+l] |= (q >> 4) << (s % 2) << (2 * g) // qh[l] bit 2g (even s) or 2g+1 (odd s)
		}
		if s%2 == 0 {
			block[qsOff+32*g+l] |= q & 0x0F
		} else {
			block[qsOff+32*g+l] |= (q & 0x0F) << 4
		}
		want[e] = d*float32(sc[s])*float32(q) - dmin*float32(m[s])
	}
	return block, want
}

func buildQ6K() (block []byte, want []float32) {
	block = make([]byte, 210)
	d := float32(0.25)
	putF16(block[208:], d)
	for i := range 16 {
		block[192+i] = byte(int8(i - 8)) // negative scales too
	}
	want = make([]float32, 256)
	for e := range 256 {
		h, r := e/128, e%128
		k, l := r/32, r%32
		q := byte(e*13) % 64
		qlIdx := 64*h + l + 32*(k&1)
		if k < 2 {
			block[qlIdx] |= q & 0x0F
		} else {
			block[qlIdx] |= (q & 0x0F) << 4
		}
		block[128+32*h+l] |= (q >> 4) << (2 * k)
		want[e] = d * float32(e/16-8) * float32(int(q)-32)
	}
	return block, want
}

// buildLegacy builds a Q4_1, Q5_0 or Q5_1 block: element j in the low nibble of byte j, element
// j+16 in the high nibble, 5th bits in the u32 qh (bit e for element e).
func buildLegacy(typ TensorType) (block []byte, want []float32) {
	d, m := float32(0.5), float32(-3)
	block = make([]byte, typ.TypeSize())
	putF16(block[0:], d)
	qsOff, qhOff, bits := 4, -1, 4
	switch typ {
	case TypeQ5_0:
		qsOff, qhOff, bits = 6, 2, 5
	case TypeQ5_1:
		putF16(block[2:], m)
		qsOff, qhOff, bits = 8, 4, 5
	default:
		putF16(block[2:], m)
	}
	var qh uint32
	want = make([]float32, 32)
	for e := range 32 {
		q := (e*5 + 3) % (1 << bits)
		if e < 16 {
			block[qsOff+e] |= byte(q & 0x0F)
		} else {
			block[qsOff+e-16] |= byte(q&0x0F) << 4
		}
		qh |= uint32(q>>4) << e
		switch typ {
		case TypeQ5_0:
			want[e] = float32(q-16) * d
		default:
			want[e] = float32(q)*d + m
		}
	}
	if qhOff >= 0 {
		binary.LittleEndian.PutUint32(block[qhOff:], qh)
	}
	return block, want
}

func TestDequantizeHandBuilt(t *testing.T) {
	for _, tc := range []struct {
		typ   TensorType
		build func() ([]byte, []float32)
	}{
		{TypeQ4_1, func() ([]byte, []float32) { return buildLegacy(TypeQ4_1) }},
		{TypeQ5_0, func() ([]byte, []float32) { return buildLegacy(TypeQ5_0) }},
		{TypeQ5_1, func() ([]byte, []float32) { return buildLegacy(TypeQ5_1) }},
		{TypeQ4_K, func() ([]byte, []float32) { return buildQ4K(false) }},
		{TypeQ5_K, func() ([]byte, []float32) { return buildQ4K(true) }},
		{TypeQ6_K, buildQ6K},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			block, want := tc.build()
			// Two copies of the block: the second must decode identically (block stride).
			src := append(append([]byte(nil), block...), block...)
			got := make([]float32, 2*len(want))
			if err := Decode(tc.typ, got, src); err != nil {
				t.Fatal(err)
			}
			for i, w := range append(append([]float32(nil), want...), want...) {
				if got[i] != w {
					t.Fatalf("element %d = %g, layout says %g", i, got[i], w)
				}
			}
		})
	}
}

func TestScaleMinK4(t *testing.T) {
	sc := [8]byte{1, 2, 3, 63, 16, 33, 47, 63}
	m := [8]byte{0, 63, 5, 7, 17, 32, 48, 60}
	q := packScalesK4(sc, m)
	for j := range 8 {
		if s, mm := scaleMinK4(j, q); s != sc[j] || mm != m[j] {
			t.Errorf("sub-block %d: scale, min = %d, %d, want %d, %d", j, s, mm, sc[j], m[j])
		}
	}
}
