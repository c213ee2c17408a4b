package nf4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// refCode is a deliberately naive restatement of the published rule:
// v = x·(1/max(absmax, 1e-38)) in float32, code = #{i : v > (c[i]+c[i+1])/2}.
func refCode(x, absmax float32) byte {
	inv := float32(1) / max(absmax, float32(1e-38))
	v := x * inv
	var k byte
	c := Code()
	for i := 0; i+1 < len(c); i++ {
		mid := (c[i] + c[i+1]) / 2
		if v > mid {
			k++
		}
	}
	return k
}

// FuzzQuantize decodes the fuzz bytes as float32 values (rows given by the
// fuzzer, a block size from 32..4096) and checks every invariant: errors only
// for non-finite input, codes and absmax against refCode, padding, the error
// bound, DequantizeRow, both kernels against Dequantize and the serialised
// round trip.
func FuzzQuantize(f *testing.F) {
	seed := func(vals []float32, rows, bsLog uint8, dq bool) {
		b := make([]byte, 0, 4*len(vals))
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		f.Add(b, rows, bsLog, dq)
	}
	seed([]float32{1, -1, 0.5, -0.5, 0.25, 0, 0.04, 0.9, -3}, 3, 0, false)
	seed(make([]float32, 70), 2, 1, true)
	seed([]float32{1e-40, -1e-39, 0, 3e-39}, 1, 0, true)
	seed([]float32{float32(math.NaN())}, 1, 0, false)
	seed([]float32{3.4e38, -3.4e38, 1e-45, 7}, 2, 2, true)
	seed(randNormal(3, 333), 9, 3, true)
	f.Fuzz(func(t *testing.T, data []byte, rows, bsLog uint8, dq bool) {
		n := len(data) / 4
		if n == 0 {
			return
		}
		w := make([]float32, n)
		finite := true
		for i := range w {
			w[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			finite = finite && !math.IsNaN(float64(w[i])) && !math.IsInf(float64(w[i]), 0)
		}
		r := int(rows)%n + 1
		for n%r != 0 {
			r--
		}
		c := n / r
		bs := 32 << (bsLog % 8)
		q, err := Quantize(w, r, c, Options{BlockSize: bs, DoubleQuant: dq})
		if !finite {
			if !errors.Is(err, ErrNonFinite) {
				t.Fatalf("non-finite input: err = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkQuantized(t, q, w, bs, dq)
	})
}

func checkQuantized(t *testing.T, q *Tensor, w []float32, bs int, dq bool) {
	n := len(w)
	var plain []float32 // true block maxima
	for lo := 0; lo < n; lo += bs {
		var am float32
		for _, v := range w[lo:min(lo+bs, n)] {
			am = max(am, float32(math.Abs(float64(v))))
		}
		plain = append(plain, am)
	}
	for k, x := range w {
		if got, want := q.CodeAt(k), refCode(x, plain[k/bs]); got != want {
			t.Fatalf("element %d (%v, absmax %v): code %d, want %d", k, x, plain[k/bs], got, want)
		}
	}
	if n%2 == 1 && q.Packed()[n/2]&15 != padCode {
		t.Fatalf("padding nibble %d", q.Packed()[n/2]&15)
	}
	scales := q.Absmax()
	if !dq && !equalBits(scales, plain) {
		t.Fatalf("absmax %v, want %v", scales, plain)
	}
	deq := make([]float32, n)
	q.Dequantize(deq)
	half := maxCodeGap() / 2
	for k, x := range w {
		if dq {
			if want := Code()[q.CodeAt(k)] * scales[k/bs]; deq[k] != want {
				t.Fatalf("element %d: dequantized %v, want %v", k, deq[k], want)
			}
			continue
		}
		// Below 1e-38 the torch clamp changes the normalisation, so allow absmax.
		bound := half*float64(plain[k/bs])*(1+1e-6) + 1.2e-38
		if e := math.Abs(float64(x) - float64(deq[k])); e > bound {
			t.Fatalf("element %d: |%v - %v| = %v > %v", k, x, deq[k], e, bound)
		}
	}
	row := make([]float32, q.Cols())
	for r := range q.Rows() {
		q.DequantizeRow(r, row)
		if !equalBits(row, deq[r*q.Cols():(r+1)*q.Cols()]) {
			t.Fatalf("DequantizeRow(%d) differs from Dequantize", r)
		}
	}
	data, _ := q.MarshalBinary()
	var u Tensor
	if err := u.UnmarshalBinary(data); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if again, _ := u.MarshalBinary(); !bytes.Equal(again, data) {
		t.Fatal("round trip changed the bytes")
	}
	checkKernelsAgainst(t, q, deq)
}

// checkKernelsAgainst runs the float64 kernels with unit vectors, which must
// reproduce rows and columns of Ŵ exactly.
func checkKernelsAgainst(t *testing.T, q *Tensor, deq []float32) {
	R, C := q.Rows(), q.Cols()
	if R*C > 1<<14 || hasHuge(deq) {
		return
	}
	x, y := make([]float64, C), make([]float64, R)
	x[C-1] = 1
	MatMulXWt(q, y, x, 1) // y[r] = Ŵ[r, C-1]
	dy, dx := make([]float64, R), make([]float64, C)
	dy[R-1] = 1
	MatMulXW(q, dx, dy, 1) // dx[c] = Ŵ[R-1, c]
	for r := range R {
		if y[r] != float64(deq[r*C+C-1]) {
			t.Fatalf("MatMulXWt column %d row %d: %v, want %v", C-1, r, y[r], deq[r*C+C-1])
		}
	}
	for c := range C {
		if dx[c] != float64(deq[(R-1)*C+c]) {
			t.Fatalf("MatMulXW row %d col %d: %v, want %v", R-1, c, dx[c], deq[(R-1)*C+c])
		}
	}
}

func hasHuge(v []float32) bool {
	for _, f := range v {
		if math.Abs(float64(f)) > 1e30 {
			return true
		}
	}
	return false
}

// FuzzUnmarshalBinary: arbitrary bytes never panic, and whatever parses
// re-marshals to the same bytes.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, dq := range []bool{false, true} {
		q, _ := Quantize(randNormal(1, 3*11), 3, 11, Options{BlockSize: 32, DoubleQuant: dq})
		b, _ := q.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("NF4T"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var u Tensor
		if err := u.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		out, _ := u.MarshalBinary()
		if !bytes.Equal(out, data) {
			t.Fatal("accepted bytes do not round-trip")
		}
		u.Dequantize(make([]float32, u.Len()))
	})
}
