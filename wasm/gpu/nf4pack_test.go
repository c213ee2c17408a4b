package gpu

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/webtune/webtune/nf4"
)

// TestPackNF4Rows: decoding the packed rows as the GPU kernel does (scale of
// the element's block times the code of its nibble, high nibble first) gives
// package nf4's dequantization bit for bit; blocks that cross rows are refused.
func TestPackNF4Rows(t *testing.T) {
	const rows, cols = 5, 128
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) * 0.3
	}
	for _, dq := range []bool{false, true} {
		q, err := nf4.Quantize(w, rows, cols, nf4.Options{BlockSize: 64, DoubleQuant: dq})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, rows*cols)
		q.Dequantize(want)
		b, err := PackNF4Rows(q)
		if err != nil {
			t.Fatal(err)
		}
		nb, rb := cols/64, 4*(cols/64)+cols/2
		if len(b) != rows*rb {
			t.Fatalf("dq=%v: %d bytes, want %d", dq, len(b), rows*rb)
		}
		code := nf4.Code()
		for r := range rows {
			for c := range cols {
				row := b[r*rb:]
				sc := math.Float32frombits(binary.LittleEndian.Uint32(row[4*(c/64):]))
				by := row[4*nb+c/2]
				nib := by & 15
				if c%2 == 0 {
					nib = by >> 4
				}
				if got := code[nib] * sc; got != want[r*cols+c] {
					t.Fatalf("dq=%v: (%d,%d) = %v, want %v", dq, r, c, got, want[r*cols+c])
				}
			}
		}
	}
	q, err := nf4.Quantize(make([]float32, 3*96), 3, 96, nf4.Options{BlockSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PackNF4Rows(q); !errors.Is(err, ErrNF4Layout) {
		t.Fatalf("96 columns in blocks of 64: err %v, want ErrNF4Layout", err)
	}
}
