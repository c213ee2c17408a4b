package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// tileFloats bounds the dequantized scratch of one product: 2^19 values
// (2 MiB of float32) unless one k-block of rows of W is larger (tileRows).
const tileFloats = 1 << 19

// parallelDecode is the number of values in a tile above which its rows
// are decoded on several goroutines (under wasm GOMAXPROCS is 1).
const parallelDecode = 1 << 15

// tileRows returns the rows of W per tile of a dy·W product (eachRowTile)
// for W with cols columns: whole k-blocks of kChunk rows, as many as fit in
// tileFloats, at least one (then the tile is kChunk·cols floats, 8 MiB at
// 8192 columns). Each tile is a k-slice of the product, and each k-slice
// is one more pass of the engine over dx (both float32 engines block k by
// 256, so a float32 product of the same shape makes as many): tiles of 96
// rows (2 MiB at Qwen2.5-0.5B's 4864 columns) made ten passes where the
// float32 product makes four, and cost wasm Q6_K dy·W about a tenth more.
func tileRows(rows, cols int) int {
	t := max(kChunk, tileFloats/cols/kChunk*kChunk)
	return min(t, rows)
}

// kChunk is the width of the column slices MatMulXWt decodes: one k-block
// of the blocked engine, and a whole number of blocks of every type.
const kChunk = 256

// MatMulXWt computes y = x·Wᵀ: y[n×rows] (overwritten), x[n×cols], on
// engine e (nil: tensor.NewBlocked). W is decoded a tile at a time: up to
// tileFloats/kChunk rows by kChunk columns, and each tile adds its share
// x[:, p0:p1]·W[r0:r1, p0:p1]ᵀ to y[:, r0:r1] on e. Slicing along the
// columns keeps the engine's packing of x as cheap as in a float32 product
// (each slice of x is packed once per row tile). An engine that is an
// Offloader may take the whole product instead. It panics if the slice
// lengths do not match n and W's shape.
func MatMulXWt[T tensor.Numeric](e tensor.Engine[T], w *Matrix, y, x []T, n int) {
	if !w.fitsN(n) || len(x) != n*w.cols || len(y) != n*w.rows {
		panic(fmt.Sprintf("quant: MatMulXWt: len(y)=%d len(x)=%d, want %d×%d and %d×%d",
			len(y), len(x), n, w.rows, n, w.cols))
	}
	if n == 0 {
		return
	}
	if o, ok := e.(Offloader[T]); ok && o.OffloadXWt(w, y, x, n) {
		return
	}
	if e == nil {
		e = tensor.NewBlocked[T]()
	}
	R, C := w.rows, w.cols
	eachColTile(w, rowDecoder(e), func(r0, rc, p0, pc int, tile []T) {
		var beta T
		if p0 > 0 {
			beta = 1
		}
		tensor.GemmStrided(e, false, true, n, rc, pc, 1, x[p0:], C, tile, pc, beta, y[r0:], R)
	})
}

// MatMulXW computes dx = dy·W: dx[n×cols] (overwritten), dy[n×rows], on
// engine e (nil: tensor.NewBlocked). Each tile of rows adds its share
// dy[:, r0:r1]·W[r0:r1, :] to dx. It panics if the slice lengths do not
// match n and W's shape.
func MatMulXW[T tensor.Numeric](e tensor.Engine[T], w *Matrix, dx, dy []T, n int) {
	if !w.fitsN(n) || len(dx) != n*w.cols || len(dy) != n*w.rows {
		panic(fmt.Sprintf("quant: MatMulXW: len(dx)=%d len(dy)=%d, want %d×%d and %d×%d",
			len(dx), len(dy), n, w.cols, n, w.rows))
	}
	if n == 0 {
		return
	}
	if o, ok := e.(Offloader[T]); ok && o.OffloadXW(w, dx, dy, n) {
		return
	}
	if e == nil {
		e = tensor.NewBlocked[T]()
	}
	R, C := w.rows, w.cols
	eachRowTile(w, rowDecoder(e), func(r0, rc int, tile []T) {
		var beta T
		if r0 > 0 {
			beta = 1
		}
		tensor.GemmStrided(e, false, false, n, C, rc, 1, dy[r0:], R, tile, C, beta, dx, C)
	})
}

// fitsN reports whether n activation rows are valid: n·rows and n·cols
// must not overflow int.
func (m *Matrix) fitsN(n int) bool {
	return n >= 0 && n <= math.MaxInt/max(m.rows, m.cols, 1)
}

// RowDecoder is an engine that decodes some block types faster than Go
// (the WebAssembly SIMD engine: Q8_0, where Go's wasm code is scalar).
// DecodeRows decodes blocks blocks of type typ from each of rows rows
// (row r at src[r·srcStride:]) into dst (row r at dst[r·dstStride:]), the
// values gguf's decoder gives, and reports whether it did; false leaves
// the work to Go.
type RowDecoder interface {
	DecodeRows(typ gguf.TensorType, dst []float32, dstStride int, src []byte, srcStride, rows, blocks int) bool
}

// rowDecoder returns e as a RowDecoder, or nil.
func rowDecoder(e any) RowDecoder {
	rd, _ := e.(RowDecoder)
	return rd
}

// scratch32 recycles float32 tiles between products (*[]float32).
var scratch32 sync.Pool

// withScratch calls fn with a pooled float32 buffer of n values and, for a
// T without float32 layout, a T buffer of n values to widen it into (nil
// otherwise).
func withScratch[T tensor.Numeric](n int, fn func(s []float32, wide []T)) {
	bp, _ := scratch32.Get().(*[]float32)
	if bp == nil || cap(*bp) < n {
		bp = new([]float32)
		*bp = make([]float32, n)
	}
	defer scratch32.Put(bp)
	var zero T
	var wide []T
	if unsafe.Sizeof(zero) != 4 {
		wide = make([]T, n)
	}
	fn((*bp)[:n], wide)
}

// asT returns the decoded tile as T: reinterpreted for a float32-layout T,
// else widened into wide.
func asT[T tensor.Numeric](tile []float32, wide []T) []T {
	if wide == nil {
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(tile))), len(tile))
	}
	tensor.Convert(wide[:len(tile)], tile)
	return wide[:len(tile)]
}

// eachRowTile decodes W a tile of whole rows at a time (through rd when
// it takes the type) and calls fn with the tile's first row, its row count
// and its values [rc×cols].
func eachRowTile[T tensor.Numeric](m *Matrix, rd RowDecoder, fn func(r0, rc int, tile []T)) {
	t := tileRows(m.rows, m.cols)
	withScratch(t*m.cols, func(s []float32, wide []T) {
		for r0 := 0; r0 < m.rows; r0 += t {
			rc := min(t, m.rows-r0)
			tile := s[:rc*m.cols]
			m.decodeParallel(rd, tile, r0, r0+rc, 0, m.cols)
			fn(r0, rc, asT(tile, wide))
		}
	})
}

// eachColTile decodes W in tiles of up to tileFloats/kChunk rows by kChunk
// columns (row tiles outer, column slices inner) and calls fn with the
// tile's first row and row count, its first column and column count, and
// its values [rc×pc]; rd as in eachRowTile.
func eachColTile[T tensor.Numeric](m *Matrix, rd RowDecoder, fn func(r0, rc, p0, pc int, tile []T)) {
	pw := min(kChunk, m.cols)
	t := min(m.rows, max(16, tileFloats/pw))
	withScratch(t*pw, func(s []float32, wide []T) {
		for r0 := 0; r0 < m.rows; r0 += t {
			rc := min(t, m.rows-r0)
			for p0 := 0; p0 < m.cols; p0 += pw {
				pc := min(pw, m.cols-p0)
				tile := s[:rc*pc]
				m.decodeParallel(rd, tile, r0, r0+rc, p0, pc)
				fn(r0, rc, p0, pc, asT(tile, wide))
			}
		}
	})
}

// decodeParallel decodes columns p0..p0+pc of rows r0..r1-1 into dst
// [(r1-r0)×pc], split by rows over GOMAXPROCS goroutines when the tile is
// large; or in one call of rd when rd takes the type. p0 and pc are whole
// blocks.
func (m *Matrix) decodeParallel(rd RowDecoder, dst []float32, r0, r1, p0, pc int) {
	rows := r1 - r0
	if rd != nil {
		bs, ts := m.typ.BlockSize(), m.typ.TypeSize()
		if rd.DecodeRows(m.typ, dst, pc, m.data[r0*m.rowBytes+p0/bs*ts:], m.rowBytes, rows, pc/bs) {
			return
		}
	}
	workers := min(runtime.GOMAXPROCS(0), rows)
	if workers <= 1 || len(dst) < parallelDecode {
		m.decodeCols(dst, r0, r1, p0, pc)
		return
	}
	var wg sync.WaitGroup
	for k := range workers {
		lo, hi := k*rows/workers, (k+1)*rows/workers
		wg.Go(func() { m.decodeCols(dst[lo*pc:hi*pc], r0+lo, r0+hi, p0, pc) })
	}
	wg.Wait()
}

// decodeCols decodes columns p0..p0+pc (whole blocks) of rows r0..r1-1
// into dst [(r1-r0)×pc]: one call for whole rows, one per row for a column
// slice, through the type's block decoder (gguf.BlockDecoder, the
// decoders of gguf.Decode without its per-call checks).
func (m *Matrix) decodeCols(dst []float32, r0, r1, p0, pc int) {
	if p0 == 0 && pc == m.cols {
		m.dec(dst, m.data[r0*m.rowBytes:r1*m.rowBytes])
		return
	}
	bs, ts := m.typ.BlockSize(), m.typ.TypeSize()
	b0, b1 := p0/bs*ts, (p0+pc)/bs*ts
	for r := r0; r < r1; r++ {
		row := m.data[r*m.rowBytes:]
		m.dec(dst[(r-r0)*pc:(r-r0+1)*pc], row[b0:b1])
	}
}
