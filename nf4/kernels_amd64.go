package nf4

// The float32 inner loops run as SSE assembly on amd64 (SSE is part of the
// amd64 baseline, so no CPU feature check is needed). The wrappers hand the
// assembly a multiple of 4 elements and finish the tail in Go.

//go:noescape
func dot2x4SSE(a, b, w0, w1, w2, w3 *float32, n int, out *[8]float32)

//go:noescape
func axpy4SSE(d *float32, a *[4]float32, w0, w1, w2, w3 *float32, n int)

// fastKernels32 is the kernel set the float32 instantiation uses.
var fastKernels32 = kernelSet[float32]{dot: dot2x4f32, dot1: dot1x4f32, axpy: axpy4f32, axpy2: axpy2x4f32}

// axpy2x4f32 runs the SSE axpy on each row (the SSE loop is load-bound
// only lightly; sharing the w loads is what the portable loop needs).
func axpy2x4f32(d0, d1 []float32, a, b *[4]float32, w0, w1, w2, w3 []float32) {
	axpy4f32(d0, a, w0, w1, w2, w3)
	axpy4f32(d1, b, w0, w1, w2, w3)
}

// dot1x4f32 runs the 2×4 SSE loop with the row twice: four-wide SIMD at
// half use still beats the scalar 1×4 loop.
func dot1x4f32(a, w0, w1, w2, w3 []float32) [4]float32 {
	o := dot2x4f32(a, a, w0, w1, w2, w3)
	return [4]float32{o[0], o[1], o[2], o[3]}
}

// dot2x4f32 is dot2x4 for float32 with the SSE loop.
func dot2x4f32(a, b, w0, w1, w2, w3 []float32) [8]float32 {
	n := len(a)
	b, w0, w1, w2, w3 = b[:n], w0[:n], w1[:n], w2[:n], w3[:n]
	m := n &^ 3
	var out [8]float32
	if m > 0 {
		dot2x4SSE(&a[0], &b[0], &w0[0], &w1[0], &w2[0], &w3[0], m, &out)
	}
	if m < n {
		t := dot2x4(a[m:], b[m:], w0[m:], w1[m:], w2[m:], w3[m:])
		for i := range out {
			out[i] += t[i]
		}
	}
	return out
}

// axpy4f32 is axpy4 for float32 with the SSE loop.
func axpy4f32(d []float32, a *[4]float32, w0, w1, w2, w3 []float32) {
	n := len(d)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	m := n &^ 3
	if m > 0 {
		axpy4SSE(&d[0], a, &w0[0], &w1[0], &w2[0], &w3[0], m)
	}
	if m < n {
		axpy4(d[m:], a, w0[m:], w1[m:], w2[m:], w3[m:])
	}
}
