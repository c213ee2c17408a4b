package tensor

import (
	"runtime"
	"sync"
	"unsafe"
)

// The blocked float32 engine: the BLIS/GotoBLAS loop nest around an
// assembly micro-kernel (sgemm_amd64.s, AVX2 + FMA, 6×16 tile).
//
//	for pc in k by blkK:            B block [blkK × n] packed into [kc][16] panels
//	  for ic in m by blkM (parallel): A block [blkM × kc] packed into [kc][6] slivers
//	    for each panel jr, each sliver ir: C[6×16] += alpha·sliver·panel
//
// Packing reads a and b through strides, so the four transpose cases cost
// the same. c is scaled by beta once up front; the kernel then accumulates.
// Edge tiles (m mod 6, n mod 16) run into a scratch tile that is added to c.
const (
	blkMR, blkNR = 6, 16
	blkK         = 256 // a [kc][16] panel is 16 KB: L1
	blkM         = 96  // an A block is 96 KB: L2
	// blkParWork is the m·n·k above which row blocks run on several goroutines.
	blkParWork = 1 << 21
)

// NewBlocked returns the blocked CPU engine: for a float32-layout T on a
// CPU with AVX2 and FMA it runs Gemm through the packed assembly kernel
// (5–9× gonum's Sgemm on the large training products, BENCHMARKS.md);
// otherwise it returns NewCPU[T](). It is safe for concurrent use.
func NewBlocked[T Numeric]() Engine[T] {
	var zero T
	if unsafe.Sizeof(zero) != 4 || !haveBlkKernel {
		return NewCPU[T]()
	}
	return &blocked32[T]{name: "cpu-avx2"}
}

// blocked32 is the blocked engine for T with float32 layout.
type blocked32[T Numeric] struct {
	name string
	bufs sync.Pool
}

// blockBuf is one goroutine's packing space.
type blockBuf struct {
	a    []float32 // [blkM/6][kc][6] slivers
	b    []float32 // [n/16][kc][16] panels
	tile [blkMR * blkNR]float32
}

func (e *blocked32[T]) Name() string { return e.name }

// Gemm computes c[m×n] = alpha·op(a)·op(b) + beta·c.
func (e *blocked32[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a, b []T, beta T, c []T) {
	lda, ldb := gemmCheck(transA, transB, m, n, k, len(a), len(b), len(c))
	e.gemm(transA, transB, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), max(1, n))
}

// GemmStrided is Gemm on sub-matrices with leading dimensions (see
// StridedEngine).
func (e *blocked32[T]) GemmStrided(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	stridedCheck(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	e.gemm(transA, transB, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
}

// gemm is the blocked product on checked operands: row i of op(a)'s storage
// starts at i·lda, and so on (BLAS row-major conventions).
func (e *blocked32[T]) gemm(transA, transB bool, m, n, k int, alpha float32, a32 []float32, lda int, b32 []float32, ldb int, beta float32, c32 []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := range m {
			scaleC(c32[i*ldc:i*ldc+n], beta)
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	// A(i,p) = a32[i·rsA + p·csA], B(p,j) = b32[p·rsB + j·csB]
	rsA, csA, rsB, csB := lda, 1, ldb, 1
	if transA {
		rsA, csA = 1, lda
	}
	if transB {
		rsB, csB = 1, ldb
	}
	buf := e.get()
	defer e.bufs.Put(buf)
	nPanels := (n + blkNR - 1) / blkNR
	for p0 := 0; p0 < k; p0 += blkK {
		kc := min(blkK, k-p0)
		buf.b = blkGrow(buf.b, nPanels*kc*blkNR)
		blkPackB(buf.b, b32[p0*rsB:], rsB, csB, kc, n)
		blocks := (m + blkM - 1) / blkM
		workers := min(blocks, runtime.GOMAXPROCS(0))
		if workers == 1 || m*n*k < blkParWork {
			workers = 1
		}
		run := func(w int, wb *blockBuf) {
			for blk := w; blk < blocks; blk += workers {
				i0 := blk * blkM
				e.rowBlock(wb, buf.b, a32[i0*rsA+p0*csA:], rsA, csA, c32[i0*ldc:], ldc, min(blkM, m-i0), n, kc, alpha)
			}
		}
		if workers == 1 {
			run(0, buf)
			continue
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				wb := buf
				if w > 0 {
					wb = e.get()
					defer e.bufs.Put(wb)
				}
				run(w, wb)
			})
		}
		wg.Wait()
	}
}

func (e *blocked32[T]) get() *blockBuf {
	if b, ok := e.bufs.Get().(*blockBuf); ok {
		return b
	}
	return &blockBuf{}
}

// rowBlock packs mc rows of A (kc columns) and runs every tile of those
// rows against the packed panels bp: c[mc×n] += alpha·A·B (c's rows ldc
// apart).
func (e *blocked32[T]) rowBlock(buf *blockBuf, bp, a []float32, rsA, csA int, c []float32, ldc, mc, n, kc int, alpha float32) {
	slivers := (mc + blkMR - 1) / blkMR
	buf.a = blkGrow(buf.a, slivers*kc*blkMR)
	blkPackA(buf.a, a, rsA, csA, mc, kc)
	for j0 := 0; j0 < n; j0 += blkNR {
		panel := bp[(j0/blkNR)*kc*blkNR:][:kc*blkNR]
		nc := min(blkNR, n-j0)
		for s := range slivers {
			i0 := s * blkMR
			sliver := buf.a[s*kc*blkMR:][:kc*blkMR]
			rows := min(blkMR, mc-i0)
			if rows == blkMR && nc == blkNR {
				blkKernel(kc, sliver, panel, c[i0*ldc+j0:], ldc, alpha)
				continue
			}
			clear(buf.tile[:])
			blkKernel(kc, sliver, panel, buf.tile[:], blkNR, alpha)
			for r := range rows {
				dst := c[(i0+r)*ldc+j0:][:nc]
				for j, v := range buf.tile[r*blkNR : r*blkNR+nc] {
					dst[j] += v
				}
			}
		}
	}
}

// blkPackA writes rows 0..mc of A (A(i,p) = a[i·rsA + p·csA], p < kc) as
// [kc][6] slivers, the last one zero-padded.
func blkPackA(dst, a []float32, rsA, csA, mc, kc int) {
	for i0 := 0; i0 < mc; i0 += blkMR {
		s := dst[(i0/blkMR)*kc*blkMR:][:kc*blkMR]
		rows := min(blkMR, mc-i0)
		if rows < blkMR {
			clear(s)
		}
		if csA == 1 {
			for r := range rows {
				row := a[(i0+r)*rsA:][:kc]
				for p, v := range row {
					s[p*blkMR+r] = v
				}
			}
			continue
		}
		for p := range kc {
			col := a[p*csA+i0*rsA:]
			d := s[p*blkMR : p*blkMR+rows]
			for r := range d {
				d[r] = col[r*rsA]
			}
		}
	}
}

// blkPackB writes columns 0..n of B (B(p,j) = b[p·rsB + j·csB], p < kc) as
// [kc][16] panels, the last one zero-padded.
func blkPackB(dst, b []float32, rsB, csB, kc, n int) {
	for j0 := 0; j0 < n; j0 += blkNR {
		pn := dst[(j0/blkNR)*kc*blkNR:][:kc*blkNR]
		cols := min(blkNR, n-j0)
		if cols < blkNR {
			clear(pn)
		}
		if csB == 1 {
			for p := range kc {
				copy(pn[p*blkNR:p*blkNR+cols], b[p*rsB+j0:][:cols])
			}
			continue
		}
		for j := range cols {
			col := b[(j0+j)*csB:][:kc]
			for p, v := range col {
				pn[p*blkNR+j] = v
			}
		}
	}
}

func blkGrow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

var _ StridedEngine[float32] = (*blocked32[float32])(nil)
