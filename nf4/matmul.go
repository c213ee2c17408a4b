package nf4

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Fused kernels. W is the rows×cols NF4 tensor ([out, in] of a linear
// layer). Neither kernel ever holds more than a few dequantized rows of W:
// each worker dequantizes rowGroup rows (or, for MatMulXW, a column slice
// of them) into a scratch of rowGroup·cols values, uses them against every
// row of the activations, and moves on. Dequantized values are the float32
// products code·scale converted to F, so the float64 instantiation computes
// with exactly the values Dequantize returns.

// rowGroup is the number of W rows dequantized and consumed together; the
// inner loops are register-blocked on it.
const rowGroup = 4

// parallelFlops is the work (multiply-adds) above which a kernel splits
// across GOMAXPROCS goroutines. Under wasm GOMAXPROCS is 1 and it never does.
const parallelFlops = 1 << 20

// MatMulXWt computes y = x·Wᵀ: y[n×rows] (overwritten), x[n×cols].
// It panics if the slice lengths do not match n and W's shape.
func MatMulXWt[F ~float32 | ~float64](w *Tensor, y, x []F, n int) {
	if !w.fitsN(n) || len(x) != n*w.cols || len(y) != n*w.rows {
		panic(fmt.Sprintf("nf4: MatMulXWt: len(y)=%d len(x)=%d, want %d×%d and %d×%d",
			len(y), len(x), n, w.rows, n, w.cols))
	}
	if n == 0 {
		return
	}
	ks := kernelsFor[F]()
	groups := (w.rows + rowGroup - 1) / rowGroup
	parallel(groups, float64(n)*float64(w.rows)*float64(w.cols), func(g0, g1 int) {
		xwtGroups(ks, w, y, x, n, g0*rowGroup, min(g1*rowGroup, w.rows))
	})
}

// MatMulXW computes dx = dy·W: dx[n×cols] (overwritten), dy[n×rows].
// It panics if the slice lengths do not match n and W's shape.
func MatMulXW[F ~float32 | ~float64](w *Tensor, dx, dy []F, n int) {
	if !w.fitsN(n) || len(dx) != n*w.cols || len(dy) != n*w.rows {
		panic(fmt.Sprintf("nf4: MatMulXW: len(dx)=%d len(dy)=%d, want %d×%d and %d×%d",
			len(dx), len(dy), n, w.cols, n, w.rows))
	}
	if n == 0 {
		return
	}
	// Workers own disjoint column slices of dx (multiples of 64 columns, so
	// they seldom share a cache line), each dequantizing only its slice of W.
	const colChunk = 64
	ks := kernelsFor[F]()
	chunks := (w.cols + colChunk - 1) / colChunk
	parallel(chunks, float64(n)*float64(w.rows)*float64(w.cols), func(c0, c1 int) {
		xwCols(ks, w, dx, dy, n, c0*colChunk, min(c1*colChunk, w.cols))
	})
}

// kernelSet holds the inner loops for one element type.
type kernelSet[F ~float32 | ~float64] struct {
	dot   func(a, b, w0, w1, w2, w3 []F) [8]F // two rows against four
	dot1  func(a, w0, w1, w2, w3 []F) [4]F    // one row against four (odd n)
	axpy  func(d []F, a *[4]F, w0, w1, w2, w3 []F)
	axpy2 func(d0, d1 []F, a, b *[4]F, w0, w1, w2, w3 []F) // two rows of d at once
}

// kernelsFor picks the inner loops once per call: the platform's fast
// float32 set (assembly on amd64) when F is float32, else the generic loops.
func kernelsFor[F ~float32 | ~float64]() kernelSet[F] {
	if ks, ok := any(fastKernels32).(kernelSet[F]); ok {
		return ks
	}
	return kernelSet[F]{dot: dot2x4[F], dot1: dot1x4[F], axpy: axpy4[F], axpy2: axpy2x4[F]}
}

// fitsN reports whether n activation rows are valid: n·rows and n·cols
// must not overflow int.
func (w *Tensor) fitsN(n int) bool {
	return n >= 0 && n <= math.MaxInt/max(w.rows, w.cols, 1)
}

// parallel runs body over [0, items) split into one contiguous range per
// worker, serially when the work is small or only one P is available.
func parallel(items int, work float64, body func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), items)
	if work < parallelFlops || workers <= 1 {
		body(0, items)
		return
	}
	var wg sync.WaitGroup
	for k := range workers {
		lo, hi := k*items/workers, (k+1)*items/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	wg.Wait()
}

// xwtGroups computes y[:, r0:r1] = x·W[r0:r1, :]ᵀ. Scratch: rowGroup rows of W.
func xwtGroups[F ~float32 | ~float64](ks kernelSet[F], w *Tensor, y, x []F, n, r0, r1 int) {
	C, R := w.cols, w.rows
	s := make([]F, rowGroup*C) // [rowGroup×C] dequantized rows of W
	for r := r0; r < r1; r += rowGroup {
		g := min(rowGroup, r1-r)
		for j := range g {
			dequantizeRange(w, s[j*C:(j+1)*C], (r+j)*C)
		}
		if g < rowGroup { // tail group: reuse the 4-row kernel on zero rows
			clear(s[g*C:])
		}
		w0, w1, w2, w3 := s[:C], s[C:2*C], s[2*C:3*C], s[3*C:4*C]
		i := 0
		for ; i+2 <= n; i += 2 {
			a := ks.dot(x[i*C:(i+1)*C], x[(i+1)*C:(i+2)*C], w0, w1, w2, w3)
			for j := range g {
				y[i*R+r+j] = a[j]
				y[(i+1)*R+r+j] = a[4+j]
			}
		}
		if i < n {
			a := ks.dot1(x[i*C:(i+1)*C], w0, w1, w2, w3)
			for j := range g {
				y[i*R+r+j] = a[j]
			}
		}
	}
}

// dot2x4 returns the eight dot products of rows a, b with rows w0..w3
// (a·w0..a·w3, b·w0..b·w3): six loads feed eight multiply-adds.
func dot2x4[F ~float32 | ~float64](a, b, w0, w1, w2, w3 []F) [8]F {
	var s0, s1, s2, s3, t0, t1, t2, t3 F
	b = b[:len(a)]
	w0, w1, w2, w3 = w0[:len(a)], w1[:len(a)], w2[:len(a)], w3[:len(a)]
	for k, av := range a {
		bv := b[k]
		v0, v1, v2, v3 := w0[k], w1[k], w2[k], w3[k]
		s0 += av * v0
		s1 += av * v1
		s2 += av * v2
		s3 += av * v3
		t0 += bv * v0
		t1 += bv * v1
		t2 += bv * v2
		t3 += bv * v3
	}
	return [8]F{s0, s1, s2, s3, t0, t1, t2, t3}
}

// dot1x4 returns the four dot products of row a with rows w0..w3.
func dot1x4[F ~float32 | ~float64](a, w0, w1, w2, w3 []F) [4]F {
	var s0, s1, s2, s3 F
	w0, w1, w2, w3 = w0[:len(a)], w1[:len(a)], w2[:len(a)], w3[:len(a)]
	for k, av := range a {
		s0 += av * w0[k]
		s1 += av * w1[k]
		s2 += av * w2[k]
		s3 += av * w3[k]
	}
	return [4]F{s0, s1, s2, s3}
}

// xwCols computes dx[:, c0:c1] = dy·W[:, c0:c1]. Scratch: rowGroup column
// slices of W rows, each c1-c0 long.
func xwCols[F ~float32 | ~float64](ks kernelSet[F], w *Tensor, dx, dy []F, n, c0, c1 int) {
	C, R, L := w.cols, w.rows, c1-c0
	for i := range n {
		clear(dx[i*C+c0 : i*C+c1])
	}
	s := make([]F, rowGroup*L) // [rowGroup×L] dequantized W[r:r+4, c0:c1]
	a := new([2][rowGroup]F)   // dy[i:i+2, r:r+4]; zero for rows a tail group lacks
	for r := 0; r < R; r += rowGroup {
		g := min(rowGroup, R-r)
		for j := range g {
			dequantizeRange(w, s[j*L:(j+1)*L], (r+j)*C+c0)
		}
		if g < rowGroup {
			clear(s[g*L:])
		}
		w0, w1, w2, w3 := s[:L], s[L:2*L], s[2*L:3*L], s[3*L:4*L]
		i := 0
		for ; i+2 <= n; i += 2 {
			*a = [2][rowGroup]F{}
			copy(a[0][:], dy[i*R+r:i*R+r+g])
			copy(a[1][:], dy[(i+1)*R+r:(i+1)*R+r+g])
			ks.axpy2(dx[i*C+c0:i*C+c1], dx[(i+1)*C+c0:(i+1)*C+c1], &a[0], &a[1], w0, w1, w2, w3)
		}
		if i < n {
			a[0] = [rowGroup]F{}
			copy(a[0][:], dy[i*R+r:i*R+r+g])
			ks.axpy(dx[i*C+c0:i*C+c1], &a[0], w0, w1, w2, w3)
		}
	}
}

// axpy4 computes d += a[0]·w0 + a[1]·w1 + a[2]·w2 + a[3]·w3 (one load and
// store of d per four multiply-adds).
func axpy4[F ~float32 | ~float64](d []F, a *[4]F, w0, w1, w2, w3 []F) {
	a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
	w0, w1, w2, w3 = w0[:len(d)], w1[:len(d)], w2[:len(d)], w3[:len(d)]
	for k := range d {
		d[k] += a0*w0[k] + a1*w1[k] + a2*w2[k] + a3*w3[k]
	}
}

// axpy2x4 is axpy4 on two rows of d sharing the loads of w0..w3.
func axpy2x4[F ~float32 | ~float64](d0, d1 []F, a, b *[4]F, w0, w1, w2, w3 []F) {
	a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
	b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
	d1 = d1[:len(d0)]
	w0, w1, w2, w3 = w0[:len(d0)], w1[:len(d0)], w2[:len(d0)], w3[:len(d0)]
	for k := range d0 {
		v0, v1, v2, v3 := w0[k], w1[k], w2[k], w3[k]
		d0[k] += a0*v0 + a1*v1 + a2*v2 + a3*v3
		d1[k] += b0*v0 + b1*v1 + b2*v2 + b3*v3
	}
}
