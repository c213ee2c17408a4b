package nf4

import "fmt"

// Rows returns the number of rows (out features of a linear layer).
func (t *Tensor) Rows() int { return t.rows }

// Cols returns the number of columns (in features of a linear layer).
func (t *Tensor) Cols() int { return t.cols }

// BlockSize returns the number of consecutive values that share a scale.
func (t *Tensor) BlockSize() int { return t.blockSize }

// DoubleQuant reports whether the scales are themselves 8-bit quantized.
func (t *Tensor) DoubleQuant() bool { return t.qabsmax != nil }

// Len returns rows·cols.
func (t *Tensor) Len() int { return t.rows * t.cols }

// NumBlocks returns the number of scale blocks, ceil(rows·cols/BlockSize).
func (t *Tensor) NumBlocks() int {
	if t.blockSize == 0 { // zero Tensor
		return 0
	}
	return (t.Len() + t.blockSize - 1) / t.blockSize
}

// Packed returns the codes in bitsandbytes' layout: byte j holds element 2j
// in its high nibble and element 2j+1 in its low nibble; an odd length ends
// with a padding nibble of code 7. The slice is the tensor's own storage.
func (t *Tensor) Packed() []byte { return t.packed }

// Absmax returns a new slice with the per-block scales as used to
// dequantize: the block maxima, or with double quantization the maxima after
// the 8-bit round trip (dqCode[q]·absmax2 + offset).
func (t *Tensor) Absmax() []float32 {
	out := make([]float32, t.NumBlocks())
	for b := range out {
		out[b] = t.scale(b)
	}
	return out
}

// scale returns the dequantization scale of block b.
func (t *Tensor) scale(b int) float32 {
	if t.qabsmax == nil {
		return t.absmax[b]
	}
	// The explicit conversion rounds the product, forbidding a fused multiply-add,
	// so every platform gives torch's two-rounding result.
	return float32(dqCode[t.qabsmax[b]]*t.absmax2[b/DQBlockSize]) + t.offset
}

// BitsPerParam returns 8·(bytes held)/(rows·cols), counting the packed codes
// and every scale byte (absmax, or qabsmax + absmax2 + offset). The shared
// code tables are package constants and are not counted.
func (t *Tensor) BitsPerParam() float64 {
	if t.Len() == 0 {
		return 0
	}
	bytes := len(t.packed) + 4*len(t.absmax)
	if t.qabsmax != nil {
		bytes += len(t.qabsmax) + 4*len(t.absmax2) + 4
	}
	return 8 * float64(bytes) / float64(t.Len())
}

// Dequantize writes all rows·cols values, x̂[k] = code[c_k]·scale[k/BlockSize]
// in float32, into dst (len(dst) must be rows·cols).
func (t *Tensor) Dequantize(dst []float32) {
	if len(dst) != t.Len() {
		panic(fmt.Sprintf("nf4: Dequantize: len(dst) = %d, want %d", len(dst), t.Len()))
	}
	dequantizeRange(t, dst, 0)
}

// DequantizeRow writes row r (len(dst) must be cols) into dst.
func (t *Tensor) DequantizeRow(r int, dst []float32) {
	if r < 0 || r >= t.rows {
		panic(fmt.Sprintf("nf4: DequantizeRow: row %d out of range [0,%d)", r, t.rows))
	}
	if len(dst) != t.cols {
		panic(fmt.Sprintf("nf4: DequantizeRow: len(dst) = %d, want %d", len(dst), t.cols))
	}
	dequantizeRange(t, dst, r*t.cols)
}

// dequantizeRange writes the len(dst) values starting at flat index lo.
// It walks the blocks that intersect the range and, inside a block, turns
// each packed byte into two values with pairLUT. The float64 instantiation
// converts the float32 products, so it sees exactly Dequantize's values.
func dequantizeRange[F ~float32 | ~float64](t *Tensor, dst []F, lo int) {
	hi := lo + len(dst)
	bs := t.blockSize
	for k := lo; k < hi; {
		b := k / bs
		end := min((b+1)*bs, hi)
		dequantizeSpan(t.packed, dst[k-lo:end-lo], k, t.scale(b))
		k = end
	}
}

// dequantizeSpan writes the values of flat indices k..k+len(dst)-1, which all
// share the scale s.
func dequantizeSpan[F ~float32 | ~float64](packed []byte, dst []F, k int, s float32) {
	if len(dst) == 0 {
		return
	}
	if k%2 == 1 { // odd start: the low nibble of a byte
		dst[0] = F(code[packed[k/2]&15] * s)
		dst = dst[1:]
		k++
	}
	src := packed[k/2 : k/2+len(dst)/2]
	pairs := dst[:2*len(src)]
	for j, b := range src {
		p := &pairLUT[b]
		pairs[2*j] = F(p[0] * s)
		pairs[2*j+1] = F(p[1] * s)
	}
	if len(dst)%2 == 1 { // odd end: the high nibble of the next byte
		dst[len(dst)-1] = F(code[packed[(k+len(dst))/2]>>4] * s)
	}
}

// CodeAt returns the 4-bit code of flat element k (row-major index).
func (t *Tensor) CodeAt(k int) byte {
	b := t.packed[k/2]
	if k%2 == 0 {
		return b >> 4
	}
	return b & 15
}
