package quant

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// allTypes are the types a Matrix holds.
var allTypes = []gguf.TensorType{gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1,
	gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K}

// randomMatrix returns a random rows×cols matrix of typ and its values as
// gguf.Decode gives them.
func randomMatrix(t testing.TB, typ gguf.TensorType, rows, cols int, seed uint64) (*Matrix, []float32) {
	t.Helper()
	data, err := Random(typ, rows, cols, 0.5, seed)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float32, rows*cols)
	if err := gguf.Decode(typ, ref, data); err != nil {
		t.Fatal(err)
	}
	for _, v := range ref {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 8 {
			t.Fatalf("%v: Random gave %g", typ, v)
		}
	}
	return m, ref
}

func randomVec(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

// checkProduct compares got[i·R+j] with the float32 dot products of
// rows i of a [n×K] and rows j of b [R×K] (b read through bAt), allowing
// 1e-5 of Σ|a||b|, the scale of any summation-order difference.
func checkProduct(t *testing.T, what string, got []float32, n, R, K int, a []float32, bAt func(j, k int) float32) {
	t.Helper()
	for i := range n {
		for j := range R {
			var s, mag float32
			for k := range K {
				s += a[i*K+k] * bAt(j, k)
				mag += float32(math.Abs(float64(a[i*K+k] * bAt(j, k))))
			}
			if d := math.Abs(float64(got[i*R+j] - s)); d > 1e-5*float64(mag)+1e-30 {
				t.Fatalf("%s: [%d,%d] = %g, want %g (|Σ| scale %g)", what, i, j, got[i*R+j], s, mag)
			}
		}
	}
}

func TestMatMulEqualsDequantizeThenMultiply(t *testing.T) {
	engines := map[string]tensor.Engine[float32]{"blocked": tensor.NewBlocked[float32](), "gonum": tensor.NewCPU[float32]()}
	for ti, typ := range allTypes {
		for ename, e := range engines {
			for _, n := range []int{1, 5} {
				cols := 320 // a whole column slice and a partial one
				if typ.BlockSize() == 256 {
					cols = 512
				}
				rows := 37
				t.Run(fmt.Sprintf("%v/%s/n=%d", typ, ename, n), func(t *testing.T) {
					w, ref := randomMatrix(t, typ, rows, cols, uint64(ti))
					x := randomVec(n*cols, 1)
					y := make([]float32, n*rows)
					for i := range y {
						y[i] = float32(math.NaN()) // overwritten, not accumulated
					}
					MatMulXWt(e, w, y, x, n)
					checkProduct(t, "x·Wᵀ", y, n, rows, cols, x, func(j, k int) float32 { return ref[j*cols+k] })
					dy := randomVec(n*rows, 2)
					dx := make([]float32, n*cols)
					for i := range dx {
						dx[i] = float32(math.NaN())
					}
					MatMulXW(e, w, dx, dy, n)
					checkProduct(t, "dy·W", dx, n, cols, rows, dy, func(j, k int) float32 { return ref[k*cols+j] })
				})
			}
		}
	}
}

// TestMatMulManyTiles covers products whose W spans several tiles (the
// last one partial), with and without the parallel decode.
func TestMatMulManyTiles(t *testing.T) {
	const n = 3
	for _, typ := range []gguf.TensorType{gguf.TypeQ8_0, gguf.TypeQ6_K} {
		cols := 512
		rows := 2*tileRows(1<<30, cols) + 21
		w, ref := randomMatrix(t, typ, rows, cols, 9)
		x := randomVec(n*cols, 3)
		y := make([]float32, n*rows)
		MatMulXWt[float32](nil, w, y, x, n)
		checkProduct(t, typ.String()+" x·Wᵀ", y, n, rows, cols, x, func(j, k int) float32 { return ref[j*cols+k] })
		dy := randomVec(n*rows, 4)
		dx := make([]float32, n*cols)
		MatMulXW[float32](nil, w, dx, dy, n)
		checkProduct(t, typ.String()+" dy·W", dx, n, cols, rows, dy, func(j, k int) float32 { return ref[k*cols+j] })
	}
}

// TestMatMulFloat64 checks the float64 instantiation against float64 sums
// of the exact dequantized values.
func TestMatMulFloat64(t *testing.T) {
	const n, rows = 2, 19
	for _, typ := range []gguf.TensorType{gguf.TypeQ4_K, gguf.TypeQ5_1, gguf.TypeBF16} {
		cols := 256
		w, ref := randomMatrix(t, typ, rows, cols, 5)
		x := make([]float64, n*cols)
		for i, v := range randomVec(n*cols, 6) {
			x[i] = float64(v)
		}
		y := make([]float64, n*rows)
		MatMulXWt(tensor.NewCPU[float64](), w, y, x, n)
		dx := make([]float64, n*cols)
		MatMulXW(tensor.NewCPU[float64](), w, dx, x[:n*rows], n)
		for i := range n {
			for j := range rows {
				var s float64
				for k := range cols {
					s += x[i*cols+k] * float64(ref[j*cols+k])
				}
				if math.Abs(y[i*rows+j]-s) > 1e-12*(1+math.Abs(s)) {
					t.Fatalf("%v: y[%d,%d] = %g, want %g", typ, i, j, y[i*rows+j], s)
				}
			}
			for k := range cols {
				var s float64
				for j := range rows {
					s += x[i*rows+j] * float64(ref[j*cols+k])
				}
				if math.Abs(dx[i*cols+k]-s) > 1e-12*(1+math.Abs(s)) {
					t.Fatalf("%v: dx[%d,%d] = %g, want %g", typ, i, k, dx[i*cols+k], s)
				}
			}
		}
	}
}

func TestGatherRowsAndDequantize(t *testing.T) {
	for _, typ := range allTypes {
		cols := max(64, typ.BlockSize())
		w, ref := randomMatrix(t, typ, 11, cols, 8)
		ids := []int{3, 0, 10, 3}
		got := make([]float32, len(ids)*cols)
		GatherRows(w, got, ids)
		got64 := make([]float64, len(ids)*cols)
		GatherRows(w, got64, ids)
		for i, id := range ids {
			for k := range cols {
				want := ref[id*cols+k]
				if math.Float32bits(got[i*cols+k]) != math.Float32bits(want) || got64[i*cols+k] != float64(want) {
					t.Fatalf("%v: row %d col %d = %g / %g, want %g", typ, id, k, got[i*cols+k], got64[i*cols+k], want)
				}
			}
		}
		all := make([]float32, 11*cols)
		w.Dequantize(all)
		for i := range all {
			if math.Float32bits(all[i]) != math.Float32bits(ref[i]) {
				t.Fatalf("%v: Dequantize[%d] = %g, want %g", typ, i, all[i], ref[i])
			}
		}
	}
}

func TestNewMatrixErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		typ        gguf.TensorType
		rows, cols int
		bytes      int
		want       error
	}{
		{"f32", gguf.TypeF32, 2, 4, 32, ErrUnsupported},
		{"q2_k", gguf.TypeQ2_K, 1, 256, 84, ErrUnsupported},
		{"partial block", gguf.TypeQ8_0, 2, 48, 68, ErrShape},
		{"short data", gguf.TypeQ8_0, 2, 32, 67, ErrShape},
		{"long data", gguf.TypeQ4_K, 1, 256, 145, ErrShape},
		{"zero rows", gguf.TypeF16, 0, 4, 0, ErrShape},
	} {
		if _, err := NewMatrix(tc.typ, tc.rows, tc.cols, make([]byte, tc.bytes)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if m, err := NewMatrix(gguf.TypeQ4_K, 3, 512, make([]byte, 3*2*144)); err != nil || m.RowBytes() != 288 || m.BitsPerParam() != 4.5 {
		t.Fatalf("Q4_K 3×512: %v, %+v", err, m)
	}
}
