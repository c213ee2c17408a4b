package gguf

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
)

// TensorInfo describes one tensor: its name, element type, shape and where its data is.
type TensorInfo struct {
	Name   string     // Name is the tensor's name, at most 63 bytes.
	Type   TensorType // Type is the element type.
	Dims   []uint64   // Dims is the shape in ggml "ne" order: Dims[0] is the row length (fastest varying).
	Offset uint64     // Offset is the data's offset relative to File.DataOffset.
}

// NumElements returns the product of the dims (1 for no dims).
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// NumBytes returns the size of the tensor's data in bytes (0 for an unknown type).
func (t TensorInfo) NumBytes() uint64 {
	bs := t.Type.BlockSize()
	if bs == 0 {
		return 0
	}
	return t.NumElements() / uint64(bs) * uint64(t.Type.TypeSize())
}

// checkShape checks a type and dims as ggml does: a known type, at most MaxDims dims each below
// 2^63, rows of whole blocks, and an element count and byte size that fit in an int64.
func checkShape(typ TensorType, dims []uint64) error {
	if !typ.Known() {
		return fmt.Errorf("unknown tensor type %d: %w", uint32(typ), ErrUnsupported)
	}
	if len(dims) > MaxDims {
		return fmt.Errorf("%d dims (max %d): %w", len(dims), MaxDims, ErrFormat)
	}
	n := uint64(1)
	for i, d := range dims {
		if d > math.MaxInt64 {
			return fmt.Errorf("dimension %d is %d: %w", i, d, ErrFormat)
		}
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > math.MaxInt64 {
			return fmt.Errorf("element count of %v overflows: %w", dims, ErrTooLarge)
		}
		n = lo
	}
	bs := uint64(typ.BlockSize())
	row := uint64(1)
	if len(dims) > 0 {
		row = dims[0]
	}
	if row%bs != 0 {
		return fmt.Errorf("row length %d of %v is not a multiple of its block size %d: %w", row, typ, bs, ErrFormat)
	}
	if n/bs > math.MaxInt64/uint64(typ.TypeSize()) {
		return fmt.Errorf("byte size of %v %v overflows: %w", typ, dims, ErrTooLarge)
	}
	return nil
}

// Value returns the value of key and whether it is present.
func (f *File) Value(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KVs[i].Value, true
}

func typeName(v Value) string {
	if v.Type() == ValueArray {
		return "ARRAY[" + v.ElemType().String() + "]"
	}
	return v.Type().String()
}

// get returns key's value as T, requiring value type want (and element type elem for arrays).
func get[T any](f *File, key string, want, elem ValueType) (T, error) {
	var zero T
	v, ok := f.Value(key)
	if !ok {
		return zero, fmt.Errorf("gguf: key %s: %w", quoteKey(key), ErrNotFound)
	}
	x, ok := v.Any().(T)
	if v.Type() != want || (want == ValueArray && v.ElemType() != elem) || !ok {
		w := Value{typ: want, elem: elem}
		return zero, fmt.Errorf("gguf: key %s is %s, not %s: %w", quoteKey(key), typeName(v), typeName(w), ErrType)
	}
	return x, nil
}

// GetString returns the STRING value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetString(key string) (string, error) { return get[string](f, key, ValueString, 0) }

// GetUint32 returns the UINT32 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetUint32(key string) (uint32, error) { return get[uint32](f, key, ValueUint32, 0) }

// GetInt32 returns the INT32 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetInt32(key string) (int32, error) { return get[int32](f, key, ValueInt32, 0) }

// GetFloat32 returns the FLOAT32 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetFloat32(key string) (float32, error) { return get[float32](f, key, ValueFloat32, 0) }

// GetBool returns the BOOL value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetBool(key string) (bool, error) { return get[bool](f, key, ValueBool, 0) }

// GetUint64 returns the UINT64 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetUint64(key string) (uint64, error) { return get[uint64](f, key, ValueUint64, 0) }

// GetInt64 returns the INT64 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetInt64(key string) (int64, error) { return get[int64](f, key, ValueInt64, 0) }

// GetFloat64 returns the FLOAT64 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetFloat64(key string) (float64, error) { return get[float64](f, key, ValueFloat64, 0) }

// GetStrings returns the ARRAY of STRING value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetStrings(key string) ([]string, error) {
	return get[[]string](f, key, ValueArray, ValueString)
}

// GetFloat32s returns the ARRAY of FLOAT32 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetFloat32s(key string) ([]float32, error) {
	return get[[]float32](f, key, ValueArray, ValueFloat32)
}

// GetInt32s returns the ARRAY of INT32 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetInt32s(key string) ([]int32, error) {
	return get[[]int32](f, key, ValueArray, ValueInt32)
}

// GetUint32s returns the ARRAY of UINT32 value of key, or an error wrapping ErrNotFound or ErrType.
func (f *File) GetUint32s(key string) ([]uint32, error) {
	return get[[]uint32](f, key, ValueArray, ValueUint32)
}

// Tensor returns the info of the named tensor and whether it exists.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tenIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns a view of the named tensor's bytes in the underlying reader (no copy).
func (f *File) TensorData(name string) (*io.SectionReader, error) {
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	return io.NewSectionReader(f.r, f.DataOffset+int64(ti.Offset), int64(ti.NumBytes())), nil
}

// ReadTensorF32 reads the named tensor and decodes it to float32 in ggml (row-major) order. Types
// without a decoder give an error wrapping ErrUnsupported. The data is read in chunks of whole blocks.
func (f *File) ReadTensorF32(name string) ([]float32, error) {
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	if !CanDecode(ti.Type) {
		return nil, fmt.Errorf("gguf: tensor %q: decoding %v: %w", name, ti.Type, ErrUnsupported)
	}
	sr, _ := f.TensorData(name)
	bs, ts := ti.Type.BlockSize(), ti.Type.TypeSize()
	nBlocks := int(ti.NumBytes()) / ts
	perChunk := max(1, chunkSize/ts)
	// Allocate up front for all but huge tensors; beyond that grow as chunks actually arrive, so a
	// caller's wrong size cannot make us allocate memory the data does not back.
	out := make([]float32, 0, min(int(ti.NumElements()), 1<<24))
	buf := make([]byte, min(nBlocks, perChunk)*ts)
	for done := 0; done < nBlocks; {
		k := min(perChunk, nBlocks-done)
		src := buf[:k*ts]
		if _, err := sr.ReadAt(src, int64(done*ts)); err != nil {
			if errors.Is(err, io.EOF) {
				err = ErrFormat
			}
			off := f.DataOffset + int64(ti.Offset) + int64(done*ts)
			return nil, &FormatError{Offset: off, Msg: fmt.Sprintf("reading tensor %q", name), Err: err}
		}
		out = slices.Grow(out, k*bs)[:len(out)+k*bs]
		if err := Decode(ti.Type, out[len(out)-k*bs:], src); err != nil {
			return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
		}
		done += k
	}
	return out, nil
}
