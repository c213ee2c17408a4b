//go:build js && wasm

package simd

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/webtune/webtune/gguf"
)

// f16Table maps every f16 bit pattern to its float32 value (256 KB, made
// on first use): q8_0_rows reads each block's scale through it.
var f16Table = sync.OnceValue(func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = gguf.Float16ToFloat32(uint16(i))
	}
	return t
})

// DecodeQ8_0Rows decodes, for each of rows rows, blocks Q8_0 blocks from
// src (row r at src[r·srcStride:]) into dst (row r at dst[r·dstStride:],
// 32·blocks floats) in the SIMD module, bit for bit as gguf decodes them.
// It reports false, having done nothing, when the module cannot run here
// (the caller decodes in Go). It panics when the slices are too short.
func DecodeQ8_0Rows(dst []float32, dstStride int, src []byte, srcStride, rows, blocks int) bool {
	if rows <= 0 || blocks <= 0 {
		return true
	}
	if (rows-1)*srcStride+34*blocks > len(src) || (rows-1)*dstStride+32*blocks > len(dst) || srcStride < 34*blocks || dstStride < 32*blocks {
		panic(fmt.Sprintf("simd: DecodeQ8_0Rows: %d rows of %d blocks (strides %d bytes, %d floats) in %d bytes into %d floats",
			rows, blocks, srcStride, dstStride, len(src), len(dst)))
	}
	f, ok := elemFn("q8_0_rows")
	if !ok {
		return false
	}
	tab := f16Table()
	f.Invoke(addr(src), srcStride, rows, blocks, addr(dst), 4*dstStride, addr(tab))
	runtime.KeepAlive(src)
	runtime.KeepAlive(dst)
	runtime.KeepAlive(tab)
	return true
}

// DecodeRows decodes Q8_0 rows for package quant's fused products
// (quant.RowDecoder); other types are left to Go.
func (e *engine[T]) DecodeRows(typ gguf.TensorType, dst []float32, dstStride int, src []byte, srcStride, rows, blocks int) bool {
	return typ == gguf.TypeQ8_0 && DecodeQ8_0Rows(dst, dstStride, src, srcStride, rows, blocks)
}
