//go:build js && wasm

package simd

import (
	"unsafe"

	"github.com/webtune/webtune/nf4"
)

// nf4Chunk is the number of weight floats dequantized at a time (256 KB of
// scratch): W is decoded chunk by chunk of whole rows and every chunk runs
// on the SIMD kernel, so no full-size float copy of W ever exists. Decoding
// costs rows·cols per call against n·rows·cols multiply-adds.
const nf4Chunk = 1 << 16

// NF4MatMulXWt computes y[n×rows] = x[n×cols]·Wᵀ for an NF4 W [rows×cols]
// (y overwritten), as nf4.MatMulXWt does in scalar Go.
func (e *engine[T]) NF4MatMulXWt(w *nf4.Tensor, y, x []T, n int) {
	rows, cols := w.Rows(), w.Cols()
	checkGemm(n, rows, cols, len(x), rows*cols, len(y))
	e.nf4Chunks(w, func(r0, rc int, chunk []T) {
		// y[:, r0:r0+rc] = x · chunkᵀ
		e.GemmStrided(false, true, n, rc, cols, 1, x, cols, chunk, cols, 0, y[r0:], rows)
	})
}

// NF4MatMulXW computes dx[n×cols] = dy[n×rows]·W for an NF4 W [rows×cols]
// (dx overwritten), as nf4.MatMulXW does in scalar Go.
func (e *engine[T]) NF4MatMulXW(w *nf4.Tensor, dx, dy []T, n int) {
	rows, cols := w.Rows(), w.Cols()
	checkGemm(n, cols, rows, len(dy), rows*cols, len(dx))
	e.nf4Chunks(w, func(r0, rc int, chunk []T) {
		// dx += dy[:, r0:r0+rc] · chunk (the first chunk overwrites)
		var beta T
		if r0 > 0 {
			beta = 1
		}
		e.GemmStrided(false, false, n, cols, rc, 1, dy[r0:], rows, chunk, cols, beta, dx, cols)
	})
}

// nf4Chunks dequantizes W a chunk of whole rows at a time into the engine's
// scratch and calls fn with the first row, the row count and the chunk
// [rc×cols]. It holds the scratch lock throughout.
func (e *engine[T]) nf4Chunks(w *nf4.Tensor, fn func(r0, rc int, chunk []T)) {
	rows, cols := w.Rows(), w.Cols()
	chunk := max(1, nf4Chunk/cols)
	e.nf4mu.Lock()
	defer e.nf4mu.Unlock()
	buf := e.nf4Scratch(chunk * cols)
	for r0 := 0; r0 < rows; r0 += chunk {
		rc := min(chunk, rows-r0)
		for r := range rc {
			w.DequantizeRow(r0+r, buf[r*cols:(r+1)*cols])
		}
		fn(r0, rc, asT[T](buf[:rc*cols]))
	}
}

// nf4Scratch returns the engine's dequantization buffer, grown to n.
func (e *engine[T]) nf4Scratch(n int) []float32 {
	if cap(e.deq) < n {
		e.deq = make([]float32, n)
	}
	return e.deq[:n]
}

// asT reinterprets float32 scratch as the engine's float32-layout T.
func asT[T any](s []float32) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
