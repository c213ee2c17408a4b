package gguf

import "encoding/binary"

// Block decoders of the legacy 32-element types and the 256-element K-quants. Layouts from ggml's
// ggml-common.h; the arithmetic mirrors dequantize_row_* in ggml-quants.c (float32 throughout, each
// product rounded on its own: the float32(...) conversions forbid fused multiply-adds).

func f16At(b []byte, i int) float32 { return Float16ToFloat32(binary.LittleEndian.Uint16(b[i:])) }

// dequantQ4_1: d f16, m f16, qs[16]; x = q*d + m with q the 4-bit code (low nibbles are
// elements 0..15, high nibbles 16..31).
func dequantQ4_1(dst []float32, src []byte) {
	d, m := f16At(src, 0), f16At(src, 2)
	qs := src[4:20]
	for j := range 16 {
		dst[j] = float32(float32(qs[j]&0x0F)*d) + m
		dst[j+16] = float32(float32(qs[j]>>4)*d) + m
	}
}

// dequantQ5_0: d f16, qh u32 (bit j = 5th bit of element j), qs[16]; x = (q - 16)*d.
func dequantQ5_0(dst []float32, src []byte) {
	d := f16At(src, 0)
	qh := binary.LittleEndian.Uint32(src[2:])
	qs := src[6:22]
	for j := range 16 {
		lo := int(qs[j]&0x0F) | int(qh>>j&1)<<4
		hi := int(qs[j]>>4) | int(qh>>(j+16)&1)<<4
		dst[j] = float32(lo-16) * d
		dst[j+16] = float32(hi-16) * d
	}
}

// dequantQ5_1: d f16, m f16, qh u32, qs[16]; x = q*d + m.
func dequantQ5_1(dst []float32, src []byte) {
	d, m := f16At(src, 0), f16At(src, 2)
	qh := binary.LittleEndian.Uint32(src[4:])
	qs := src[8:24]
	for j := range 16 {
		lo := qs[j]&0x0F | byte(qh>>j&1)<<4
		hi := qs[j]>>4 | byte(qh>>(j+16)&1)<<4
		dst[j] = float32(float32(lo)*d) + m
		dst[j+16] = float32(float32(hi)*d) + m
	}
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes q:
// sub-blocks 0..3 use the low 6 bits of q[j] and q[j+4]; 4..7 take their low 4 bits from q[j+4]
// and their top 2 bits from the top bits of q[j-4] (scale) and q[j] (min).
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0x0F | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// dequantQ4_K: d f16, dmin f16, scales[12], qs[128]. Eight sub-blocks of 32; each 64-element
// group g uses qs[32g:32g+32], low nibbles for sub-block 2g, high nibbles for 2g+1;
// x = d*sc*q - dmin*m.
func dequantQ4_K(dst []float32, src []byte) {
	d, dmin := f16At(src, 0), f16At(src, 2)
	scales, qs := src[4:16], src[16:144]
	for g := range 4 {
		sc1, m1 := scaleMinK4(2*g, scales)
		sc2, m2 := scaleMinK4(2*g+1, scales)
		d1, mm1 := d*float32(sc1), dmin*float32(m1)
		d2, mm2 := d*float32(sc2), dmin*float32(m2)
		q, y := qs[32*g:32*g+32], dst[64*g:64*g+64]
		for l := range 32 {
			y[l] = float32(d1*float32(q[l]&0x0F)) - mm1
			y[l+32] = float32(d2*float32(q[l]>>4)) - mm2
		}
	}
}

// dequantQ5_K: d f16, dmin f16, scales[12], qh[32], qs[128]. As Q4_K, plus a 5th bit: for group g,
// bit 2g of qh[l] belongs to the low-nibble element l and bit 2g+1 to the high-nibble element.
func dequantQ5_K(dst []float32, src []byte) {
	d, dmin := f16At(src, 0), f16At(src, 2)
	scales, qh, qs := src[4:16], src[16:48], src[48:176]
	for g := range 4 {
		sc1, m1 := scaleMinK4(2*g, scales)
		sc2, m2 := scaleMinK4(2*g+1, scales)
		d1, mm1 := d*float32(sc1), dmin*float32(m1)
		d2, mm2 := d*float32(sc2), dmin*float32(m2)
		q, y := qs[32*g:32*g+32], dst[64*g:64*g+64]
		for l := range 32 {
			lo := q[l]&0x0F | (qh[l]>>(2*g)&1)<<4
			hi := q[l]>>4 | (qh[l]>>(2*g+1)&1)<<4
			y[l] = float32(d1*float32(lo)) - mm1
			y[l+32] = float32(d2*float32(hi)) - mm2
		}
	}
}

// dequantQ6_K: ql[128], qh[64], scales[16] int8, d f16. Two halves of 128 elements; in half h,
// element l (0..31) of each quarter k (0..3) takes its low 4 bits from ql[64h + l + 32*(k&1)]
// (low nibble for k < 2, high for k >= 2) and its top 2 bits from bits 2k..2k+1 of qh[32h + l];
// x = d * scales[8h + l/16 + 2k] * (q - 32).
func dequantQ6_K(dst []float32, src []byte) {
	ql, qh, sc := src[0:128], src[128:192], src[192:208]
	d := f16At(src, 208)
	for h := range 2 {
		l4, h2, s, y := ql[64*h:], qh[32*h:], sc[8*h:], dst[128*h:]
		for l := range 32 {
			is := l / 16
			q1 := int(l4[l]&0x0F|(h2[l]>>0&3)<<4) - 32
			q2 := int(l4[l+32]&0x0F|(h2[l]>>2&3)<<4) - 32
			q3 := int(l4[l]>>4|(h2[l]>>4&3)<<4) - 32
			q4 := int(l4[l+32]>>4|(h2[l]>>6&3)<<4) - 32
			y[l] = float32(d*float32(int8(s[is]))) * float32(q1)
			y[l+32] = float32(d*float32(int8(s[is+2]))) * float32(q2)
			y[l+64] = float32(d*float32(int8(s[is+4]))) * float32(q3)
			y[l+96] = float32(d*float32(int8(s[is+6]))) * float32(q4)
		}
	}
}
