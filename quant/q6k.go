package quant

import "github.com/webtune/webtune/gguf"

// decodeQ6K decodes whole Q6_K blocks (210 bytes: ql[128], qh[64],
// scales[16] int8, d f16 → 256 values) bit for bit as gguf's decoder
// does (x = float32(d·scale) · (q − 32), the product d·scale rounded to
// float32 first, as ggml does), but faster: each scale's product is taken
// once per 16 values instead of once per value, and every access goes
// through fixed-size array pointers so the compiler drops the bounds
// checks. Q6_K is the slowest type to decode, and under wasm (no SIMD in
// Go's code generation) the decode is a visible share of a dy·W product.
func decodeQ6K(dst []float32, src []byte) {
	const ts = 210
	nb := len(src) / ts
	dst = dst[:nb*256]
	for b := range nb {
		blk := (*[ts]byte)(src[b*ts:])
		d := gguf.Float16ToFloat32(uint16(blk[208]) | uint16(blk[209])<<8)
		y := (*[256]float32)(dst[b*256:])
		for h := range 2 {
			ql := (*[64]byte)(blk[64*h:])
			qh := (*[32]byte)(blk[128+32*h:])
			sc := (*[8]byte)(blk[192+8*h:])
			yh := (*[128]float32)(y[128*h:])
			q6KQuarter(yh, ql, qh, sc, d, 0)
			q6KQuarter(yh, ql, qh, sc, d, 1)
		}
	}
}

// q6KQuarter decodes elements l = 16i..16i+15 of each of the four
// 32-element quarters of one half block (i is 0 or 1): the four values of
// one l share ql[l], ql[l+32] and qh[l], and each quarter's 16 values
// share one scale.
func q6KQuarter(y *[128]float32, ql *[64]byte, qh *[32]byte, sc *[8]byte, d float32, i int) {
	s0 := float32(d * float32(int8(sc[i])))
	s1 := float32(d * float32(int8(sc[i+2])))
	s2 := float32(d * float32(int8(sc[i+4])))
	s3 := float32(d * float32(int8(sc[i+6])))
	lo := (*[16]byte)(ql[16*i:])
	hi := (*[16]byte)(ql[32+16*i:])
	top := (*[16]byte)(qh[16*i:])
	y0 := (*[16]float32)(y[16*i:])
	y1 := (*[16]float32)(y[32+16*i:])
	y2 := (*[16]float32)(y[64+16*i:])
	y3 := (*[16]float32)(y[96+16*i:])
	for l := range 16 {
		a, c, t := int32(lo[l]), int32(hi[l]), int32(top[l])
		y0[l] = s0 * float32(a&15|(t&3)<<4-32)
		y1[l] = s1 * float32(c&15|(t>>2&3)<<4-32)
		y2[l] = s2 * float32(a>>4|(t>>4&3)<<4-32)
		y3[l] = s3 * float32(c>>4|(t>>6)<<4-32)
	}
}
