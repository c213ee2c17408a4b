package quant

import (
	"errors"
	"fmt"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// ErrUnsupported reports a tensor type without a fused product here.
var ErrUnsupported = errors.New("quant: unsupported type")

// ErrShape reports dimensions that do not fit the type or the data.
var ErrShape = errors.New("quant: bad shape")

// Supported reports whether t is a type a Matrix can hold: F16, BF16,
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K.
func Supported(t gguf.TensorType) bool {
	switch t {
	case gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1,
		gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K:
		return true
	}
	return false
}

// Matrix is a frozen weight W [rows × cols] kept in its GGUF type: data
// holds rows·RowBytes bytes, row r at [r·RowBytes, (r+1)·RowBytes).
type Matrix struct {
	typ        gguf.TensorType
	rows, cols int
	rowBytes   int
	data       []byte
	dec        func(dst []float32, src []byte) // gguf.BlockDecoder(typ), or decodeQ6K
}

// NewMatrix returns the matrix of type typ with rows×cols elements stored
// in data (used, not copied). cols must be a multiple of the type's block
// size and len(data) exactly rows·cols/BlockSize·TypeSize.
func NewMatrix(typ gguf.TensorType, rows, cols int, data []byte) (*Matrix, error) {
	if !Supported(typ) {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, typ)
	}
	bs, ts := typ.BlockSize(), typ.TypeSize()
	if rows <= 0 || cols <= 0 || cols%bs != 0 {
		return nil, fmt.Errorf("%w: %v matrix %d×%d (columns must be a positive multiple of %d)", ErrShape, typ, rows, cols, bs)
	}
	rb := cols / bs * ts
	if rows > len(data)/rb || len(data) != rows*rb {
		return nil, fmt.Errorf("%w: %v matrix %d×%d needs %d bytes per row, have %d bytes", ErrShape, typ, rows, cols, rb, len(data))
	}
	dec := gguf.BlockDecoder(typ)
	if typ == gguf.TypeQ6_K {
		dec = decodeQ6K // the same values, faster (q6k.go)
	}
	return &Matrix{typ: typ, rows: rows, cols: cols, rowBytes: rb, data: data, dec: dec}, nil
}

// Type returns the GGUF type of the stored blocks.
func (m *Matrix) Type() gguf.TensorType { return m.typ }

// Rows returns the number of rows (out features of a linear layer).
func (m *Matrix) Rows() int { return m.rows }

// Cols returns the number of columns (in features).
func (m *Matrix) Cols() int { return m.cols }

// RowBytes returns the bytes of one row.
func (m *Matrix) RowBytes() int { return m.rowBytes }

// Data returns the raw blocks, rows·RowBytes bytes (not a copy).
func (m *Matrix) Data() []byte { return m.data }

// BitsPerParam returns the storage cost per element (8.5 for Q8_0, 4.5 for
// Q4_K, 16 for F16, ...).
func (m *Matrix) BitsPerParam() float64 {
	return 8 * float64(m.typ.TypeSize()) / float64(m.typ.BlockSize())
}

// DequantizeRows writes rows r0..r1-1 of W into dst ((r1-r0)·cols values)
// as ggml dequantizes them. It panics on a bad range (a programmer error).
func (m *Matrix) DequantizeRows(dst []float32, r0, r1 int) {
	if r0 < 0 || r1 > m.rows || r0 > r1 || len(dst) != (r1-r0)*m.cols {
		panic(fmt.Sprintf("quant: DequantizeRows(%d, %d) into %d values of a %d×%d matrix", r0, r1, len(dst), m.rows, m.cols))
	}
	if err := gguf.Decode(m.typ, dst, m.data[r0*m.rowBytes:r1*m.rowBytes]); err != nil {
		panic("quant: " + err.Error()) // NewMatrix checked type and sizes
	}
}

// Dequantize writes all of W into dst (rows·cols values). Only for export
// and merging: the products never need it.
func (m *Matrix) Dequantize(dst []float32) { m.DequantizeRows(dst, 0, m.rows) }

// GatherRows writes row ids[i] of W to dst[i·cols:(i+1)·cols] for every i
// (an embedding lookup decoding only the rows asked for). It panics on an
// id outside [0, rows) or a dst of the wrong length.
func GatherRows[T tensor.Numeric](m *Matrix, dst []T, ids []int) {
	C := m.cols
	if len(dst) != len(ids)*C {
		panic(fmt.Sprintf("quant: GatherRows: %d values for %d rows of %d", len(dst), len(ids), C))
	}
	if d32, ok := any(dst).([]float32); ok {
		for i, id := range ids {
			m.DequantizeRows(d32[i*C:(i+1)*C], id, id+1)
		}
		return
	}
	row := make([]float32, C)
	for i, id := range ids {
		m.DequantizeRows(row, id, id+1)
		tensor.Convert(dst[i*C:(i+1)*C], row)
	}
}
