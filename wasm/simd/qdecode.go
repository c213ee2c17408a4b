package simd

// q8_0_rows: the Q8_0 block decoder of the fused quantized products
// (package quant) in f32x4. Go's WebAssembly code is scalar, and decoding
// W a tile at a time took about a tenth of a real-size training step in the
// page (BENCHMARKS.md); here each block of 32 values is four
// i16x8.load8x8_s, eight widenings to i32x4, eight conversions and eight
// multiplies by the block's scale.
//
//	q8_0_rows(src, srcStride, rows, blocks, dst, dstStride, tab)
//	    for each of rows rows (src + r·srcStride, dst + r·dstStride):
//	    blocks Q8_0 blocks (34 bytes: f16 d, 32 int8 q) → 32·blocks floats,
//	    x = float32(q)·d with d = tab[f16 bits] (tab: 65536 floats, the f16
//	    table). Bit for bit gguf's decoder: the conversion of q is exact and
//	    the product is one float32 rounding, as in Go.

// More opcodes (WebAssembly core spec §5.4 and the SIMD proposal).
const (
	opI32Load16U      = 0x2f
	simdLoad8x8S      = 0x01 // v128.load8x8_s: 8 bytes sign-extended to i16x8
	simdI32x4ExtLoS   = 0xa7 // i32x4.extend_low_i16x8_s
	simdI32x4ExtHiS   = 0xa8 // i32x4.extend_high_i16x8_s
	simdF32x4CvtI32x4 = 0xfa // f32x4.convert_i32x4_s
)

func q80RowsFn() *eg {
	const src, srcStride, rows, blocks, dst, dstStride, tab = 0, 1, 2, 3, 4, 5, 6
	g := newEg(i32, i32, i32, i32, i32, i32, i32)
	r, b, ps, pd, d, v := g.local(i32), g.local(i32), g.local(i32), g.local(i32), g.local(v128), g.local(v128)
	g.rows(r, rows, func() {
		g.get(src).get(r).get(srcStride).op(opI32Mul).op(opI32Add).set(ps)
		g.get(dst).get(r).get(dstStride).op(opI32Mul).op(opI32Add).set(pd)
		g.rows(b, blocks, func() {
			// d = tab[u16 at ps], in every lane
			g.get(tab).get(ps).op(opI32Load16U).memarg(1, 0).i32c(2).op(opI32Shl).op(opI32Add)
			g.f32load(0).simd(simdF32x4Splat).set(d)
			for k := range uint32(4) {
				g.get(ps).simd(simdLoad8x8S).memarg(0, 2+8*k).set(v)
				for half, ext := range []uint32{simdI32x4ExtLoS, simdI32x4ExtHiS} {
					g.get(pd)
					g.get(v).simd(ext).simd(simdF32x4CvtI32x4).get(d).simd(simdF32x4Mul)
					g.v128store(32*k + 16*uint32(half))
				}
			}
			g.addConst(ps, 34)
			g.addConst(pd, 128)
		})
	})
	return g
}
