package nf4

import (
	"fmt"
	"math"
	"runtime"
	"testing"
)

var kernelShapes = []struct{ n, rows, cols, bs int }{
	{1, 1, 1, 32}, {3, 5, 7, 32}, {2, 4, 64, 64}, {5, 9, 33, 32}, {7, 13, 130, 128},
	{4, 64, 96, 64}, {17, 70, 257, 256},
	{64, 128, 256, 64}, {33, 130, 257, 32}, // big enough to run in parallel (odd cols: workers start mid-byte)
}

// refXWt computes y = x·Ŵᵀ in float64 from the dequantized W.
func refXWt(wd []float64, x []float64, n, rows, cols int) []float64 {
	y := make([]float64, n*rows)
	for i := range n {
		for r := range rows {
			var s float64
			for c := range cols {
				s += x[i*cols+c] * wd[r*cols+c]
			}
			y[i*rows+r] = s
		}
	}
	return y
}

// refXW computes dx = dy·Ŵ in float64.
func refXW(wd []float64, dy []float64, n, rows, cols int) []float64 {
	dx := make([]float64, n*cols)
	for i := range n {
		for r := range rows {
			for c := range cols {
				dx[i*cols+c] += dy[i*rows+r] * wd[r*cols+c]
			}
		}
	}
	return dx
}

func to64[F ~float32 | ~float64](v []F) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

func from64[F ~float32 | ~float64](v []float64) []F {
	out := make([]F, len(v))
	for i, f := range v {
		out[i] = F(f)
	}
	return out
}

// checkKernels runs both fused kernels in F against dequantize-then-matmul.
// tol is relative to Σ|a·b| of each output element.
func checkKernels[F ~float32 | ~float64](t *testing.T, tol float64) {
	for _, s := range kernelShapes {
		for _, dq := range []bool{false, true} {
			name := fmt.Sprintf("%T/%dx%d·%dx%d/dq=%v", F(0), s.n, s.cols, s.rows, s.cols, dq)
			w, err := Quantize(randNormal(21, s.rows*s.cols), s.rows, s.cols, Options{BlockSize: s.bs, DoubleQuant: dq})
			if err != nil {
				t.Fatal(err)
			}
			wf := make([]float32, w.Len())
			w.Dequantize(wf)
			wd := to64(wf)
			x := from64[F](to64(randNormal(22, s.n*s.cols)))
			dy := from64[F](to64(randNormal(23, s.n*s.rows)))
			y := make([]F, s.n*s.rows)
			dx := make([]F, s.n*s.cols)
			for i := range y { // garbage that must be overwritten
				y[i] = 99
			}
			for i := range dx {
				dx[i] = -99
			}
			MatMulXWt(w, y, x, s.n)
			MatMulXW(w, dx, dy, s.n)
			absW := make([]float64, len(wd))
			for i, v := range wd {
				absW[i] = math.Abs(v)
			}
			compare(t, name+"/xwt", to64(y), refXWt(wd, to64(x), s.n, s.rows, s.cols), refXWt(absW, abs64(to64(x)), s.n, s.rows, s.cols), tol)
			compare(t, name+"/xw", to64(dx), refXW(wd, to64(dy), s.n, s.rows, s.cols), refXW(absW, abs64(to64(dy)), s.n, s.rows, s.cols), tol)
		}
	}
}

func abs64(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = math.Abs(f)
	}
	return out
}

func compare(t *testing.T, name string, got, want, scale []float64, tol float64) {
	t.Helper()
	for i := range want {
		if e := math.Abs(got[i] - want[i]); e > tol*scale[i]+1e-30 {
			t.Fatalf("%s [%d]: got %v, want %v (error %v, Σ|ab| %v)", name, i, got[i], want[i], e, scale[i])
		}
	}
}

type namedFloat float32 // exercises the generic (non-float32) instantiation

func TestKernelsFloat32(t *testing.T)    { checkKernels[float32](t, 1e-5) }
func TestKernelsFloat64(t *testing.T)    { checkKernels[float64](t, 1e-13) }
func TestKernelsNamedFloat(t *testing.T) { checkKernels[namedFloat](t, 1e-5) }

func TestKernelsZeroN(t *testing.T) {
	w, _ := Quantize(randNormal(1, 12), 3, 4, Options{})
	MatMulXWt[float32](w, nil, nil, 0)
	MatMulXW[float64](w, nil, nil, 0)
}

// allocBytes returns the bytes allocated by f, averaged over runs.
func allocBytes(runs int, f func()) float64 {
	f() // warm up
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&b)
	return float64(b.TotalAlloc-a.TotalAlloc) / float64(runs)
}

// TestKernelsNoFullCopy: the kernels allocate only per-worker scratch of
// rowGroup rows of W (≤ rowGroup·cols·sizeof(F) per worker), never a
// full-size float copy of W (rows·cols·4 bytes).
func TestKernelsNoFullCopy(t *testing.T) {
	const n, rows, cols = 8, 512, 1024
	w, err := Quantize(randNormal(5, rows*cols), rows, cols, Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	x32, y32 := randNormal(6, n*cols), make([]float32, n*rows)
	dy64, dx64 := to64(randNormal(7, n*rows)), make([]float64, n*cols)
	workers := runtime.GOMAXPROCS(0)
	full := float64(rows * cols * 4)
	for _, tc := range []struct {
		name   string
		f      func()
		scrach float64 // bytes of scratch per worker
	}{
		{"xwt/float32", func() { MatMulXWt(w, y32, x32, n) }, rowGroup * cols * 4},
		{"xw/float64", func() { MatMulXW(w, dx64, dy64, n) }, rowGroup * cols * 8},
	} {
		allocs := testing.AllocsPerRun(5, tc.f)
		bytes := allocBytes(5, tc.f)
		limit := float64(workers)*tc.scrach + 4096 // + goroutine/closure bookkeeping
		t.Logf("%s: %.0f allocs, %.0f bytes per call (full copy would be %.0f)", tc.name, allocs, bytes, full)
		if bytes > limit || bytes > full/16 {
			t.Errorf("%s: %.0f bytes per call, want ≤ %.0f (scratch of %d rows per worker)", tc.name, bytes, limit, rowGroup)
		}
		if allocs > float64(4*workers+4) {
			t.Errorf("%s: %.0f allocations per call", tc.name, allocs)
		}
	}
}

// TestFastKernels32 checks the platform float32 inner loops (SSE assembly
// on amd64) against float64 loops for every length 0..40, so every tail
// path of the 4- and 8-wide loops runs.
func TestFastKernels32(t *testing.T) {
	ks := kernelsFor[float32]()
	for n := range 41 {
		v := make([][]float32, 6)
		for i := range v {
			v[i] = randNormal(uint64(100*n+i), n)
		}
		got := ks.dot(v[0], v[1], v[2], v[3], v[4], v[5])
		want := dot2x4(to64(v[0]), to64(v[1]), to64(v[2]), to64(v[3]), to64(v[4]), to64(v[5]))
		one := ks.dot1(v[1], v[2], v[3], v[4], v[5])
		if one != [4]float32(got[4:]) { // same summation order as the second row of dot
			t.Fatalf("dot1 n=%d: %v, want %v", n, one, got[4:])
		}
		for i := range got {
			if e := math.Abs(float64(got[i]) - want[i]); e > 1e-6*float64(n+1)*0.02*0.02 {
				t.Fatalf("dot n=%d [%d]: %v, want %v", n, i, got[i], want[i])
			}
		}
		d := randNormal(uint64(7*n), n)
		d64 := to64(d)
		a := [4]float32{0.5, -1.25, 2, 0.75}
		ks.axpy(d, &a, v[2], v[3], v[4], v[5])
		axpy4(d64, &[4]float64{0.5, -1.25, 2, 0.75}, to64(v[2]), to64(v[3]), to64(v[4]), to64(v[5]))
		for i := range d {
			if e := math.Abs(float64(d[i]) - d64[i]); e > 1e-6 {
				t.Fatalf("axpy n=%d [%d]: %v, want %v", n, i, d[i], d64[i])
			}
		}
	}
}
