package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Writer collects metadata and tensors and writes them as one GGUF v3 file. Tensor data is laid out
// as ggml's reader demands: in AddTensor order, each tensor at an offset that is a multiple of the
// alignment, tightly packed, with zero padding after every tensor including the last.
// Tensor byte slices are kept, not copied: do not modify them before WriteTo.
type Writer struct {
	kvs       []KV
	keys      map[string]int
	alignment uint64
	tensors   []writerTensor
	names     map[string]bool
	dataSize  uint64 // aligned size of the data section so far
}

type writerTensor struct {
	info TensorInfo
	data []byte            // data, or
	sec  *io.SectionReader // a view to copy from at WriteTo time
}

// NewWriter returns an empty Writer with the default alignment of 32.
func NewWriter() *Writer {
	return &Writer{keys: map[string]int{}, names: map[string]bool{}, alignment: DefaultAlignment}
}

// Add appends a metadata pair. It refuses an empty or duplicate key, an invalid Value (nested array,
// element slice of the wrong type) and a general.alignment that is not a UINT32 power of two.
func (w *Writer) Add(key string, v Value) error {
	if key == "" || len(key) > MaxKeyLength {
		return fmt.Errorf("gguf: invalid key length %d", len(key))
	}
	if _, dup := w.keys[key]; dup {
		return fmt.Errorf("gguf: duplicate key %q", key)
	}
	if err := v.check(); err != nil {
		return fmt.Errorf("gguf: key %q: %w", key, err)
	}
	if v.Type() == ValueString && len(v.v.(string)) > MaxStringLength {
		return fmt.Errorf("gguf: key %q: string too long: %w", key, ErrTooLarge)
	}
	if key == alignmentKey {
		a, ok := v.v.(uint32)
		if v.Type() != ValueUint32 || !ok {
			return fmt.Errorf("gguf: %s must be UINT32, not %s", key, typeName(v))
		}
		if err := w.setAlignment(a); err != nil {
			return err
		}
	}
	w.keys[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
	return nil
}

// SetAlignment sets the data alignment (a power of two, at most MaxAlignment) and records it as the
// general.alignment key, replacing an earlier value in place. It must be called before AddTensor.
func (w *Writer) SetAlignment(a uint32) error {
	if err := w.setAlignment(a); err != nil {
		return err
	}
	if i, ok := w.keys[alignmentKey]; ok {
		w.kvs[i].Value = Uint32(a)
		return nil
	}
	w.keys[alignmentKey] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: alignmentKey, Value: Uint32(a)})
	return nil
}

func (w *Writer) setAlignment(a uint32) error {
	if a == 0 || a&(a-1) != 0 || a > MaxAlignment {
		return fmt.Errorf("gguf: alignment %d is not a power of two in [1, %d]", a, MaxAlignment)
	}
	if len(w.tensors) > 0 && uint64(a) != w.alignment {
		return errors.New("gguf: alignment must be set before the first tensor")
	}
	w.alignment = uint64(a)
	return nil
}

// AddTensor appends a tensor of type typ and shape dims (ggml order, 1 to 4 dims) whose encoded
// bytes are data. It refuses empty, duplicate or 64-byte-or-longer names, rows that are not whole
// blocks, and a len(data) other than the shape's byte size.
func (w *Writer) AddTensor(name string, typ TensorType, dims []uint64, data []byte) error {
	ti, err := w.checkTensor(name, typ, dims)
	if err != nil {
		return err
	}
	if uint64(len(data)) != ti.NumBytes() {
		return fmt.Errorf("gguf: tensor %q: %d bytes given, %v %v needs %d", name, len(data), typ, dims, ti.NumBytes())
	}
	w.append(writerTensor{info: ti, data: data})
	return nil
}

// AddTensorSection is AddTensor with the bytes read from sec when WriteTo runs, so a tensor can be
// copied from another file (File.TensorData) without loading it. sec.Size() must equal the byte size.
func (w *Writer) AddTensorSection(name string, typ TensorType, dims []uint64, sec *io.SectionReader) error {
	ti, err := w.checkTensor(name, typ, dims)
	if err != nil {
		return err
	}
	if sec == nil || uint64(sec.Size()) != ti.NumBytes() {
		return fmt.Errorf("gguf: tensor %q: section size does not match %v %v (%d bytes)", name, typ, dims, ti.NumBytes())
	}
	w.append(writerTensor{info: ti, sec: sec})
	return nil
}

// AddTensorF32 encodes data (NumElements values in ggml order) as typ (F32, F16, BF16, Q8_0 or
// Q4_0, see Encode) and adds it as AddTensor does.
func (w *Writer) AddTensorF32(name string, dims []uint64, data []float32, typ TensorType) error {
	ti, err := w.checkTensor(name, typ, dims)
	if err != nil {
		return err
	}
	if uint64(len(data)) != ti.NumElements() {
		return fmt.Errorf("gguf: tensor %q: %d values given, dims %v need %d", name, len(data), dims, ti.NumElements())
	}
	b, err := Encode(typ, data)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	w.append(writerTensor{info: ti, data: b})
	return nil
}

func (w *Writer) checkTensor(name string, typ TensorType, dims []uint64) (TensorInfo, error) {
	ti := TensorInfo{Name: name, Type: typ, Dims: append([]uint64(nil), dims...)}
	switch {
	case name == "" || len(name) > MaxTensorNameLength:
		return ti, fmt.Errorf("gguf: tensor name %q must have 1 to %d bytes", name, MaxTensorNameLength)
	case w.names[name]:
		return ti, fmt.Errorf("gguf: duplicate tensor name %q", name)
	case len(dims) == 0:
		return ti, fmt.Errorf("gguf: tensor %q has no dims", name)
	}
	if err := checkShape(typ, dims); err != nil {
		return ti, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if w.dataSize+alignUp(ti.NumBytes(), w.alignment) > math.MaxInt64 {
		return ti, fmt.Errorf("gguf: tensor %q: data section too large: %w", name, ErrTooLarge)
	}
	return ti, nil
}

func (w *Writer) append(t writerTensor) {
	t.info.Offset = w.dataSize
	w.dataSize += alignUp(t.info.NumBytes(), w.alignment)
	w.names[t.info.Name] = true
	w.tensors = append(w.tensors, t)
}

// WriteTo writes the file to dst: header, metadata in Add order, tensor infos, padding, then each
// tensor's data followed by padding. It returns the number of bytes written.
func (w *Writer) WriteTo(dst io.Writer) (int64, error) {
	cw := &countWriter{w: dst}
	e := &encoder{w: bufio.NewWriterSize(cw, 64<<10)}
	e.raw([]byte("GGUF"))
	e.u32(Version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Dims)))
		for _, d := range t.info.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.info.Type))
		e.u64(t.info.Offset)
	}
	e.pad(w.alignment)
	for _, t := range w.tensors {
		if t.sec != nil {
			e.copy(t.sec)
		} else {
			e.raw(t.data)
		}
		e.pad(w.alignment)
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return cw.n, e.err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian fields, remembering the first error and the byte count.
type encoder struct {
	w   *bufio.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) raw(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
		e.n += uint64(len(p))
	}
}

func (e *encoder) copy(sec *io.SectionReader) {
	if e.err == nil {
		var k int64
		k, e.err = io.Copy(e.w, io.NewSectionReader(sec, 0, sec.Size()))
		e.n += uint64(k)
		if e.err == nil && k != sec.Size() {
			e.err = io.ErrUnexpectedEOF
		}
	}
}

func (e *encoder) pad(a uint64) {
	var zeros [64]byte
	for k := alignUp(e.n, a) - e.n; k > 0; k -= min(k, 64) {
		e.raw(zeros[:min(k, 64)])
	}
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.raw(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.raw(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.raw(e.buf[:8]) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
		e.n += uint64(len(s))
	}
}

// value writes a value type id and the value; v has passed Value.check.
func (e *encoder) value(v Value) {
	e.u32(uint32(v.Type()))
	if v.Type() != ValueArray {
		e.scalar(v.v)
		return
	}
	e.u32(uint32(v.ElemType()))
	e.u64(uint64(v.Len()))
	switch s := v.v.(type) {
	case []uint8:
		e.raw(s)
	case []int8:
		eachScalar(e, s)
	case []uint16:
		eachScalar(e, s)
	case []int16:
		eachScalar(e, s)
	case []uint32:
		eachScalar(e, s)
	case []int32:
		eachScalar(e, s)
	case []float32:
		eachScalar(e, s)
	case []bool:
		eachScalar(e, s)
	case []string:
		for _, x := range s {
			e.str(x)
		}
	case []uint64:
		eachScalar(e, s)
	case []int64:
		eachScalar(e, s)
	case []float64:
		eachScalar(e, s)
	}
}

func eachScalar[T any](e *encoder, s []T) {
	for _, x := range s {
		e.scalar(x)
	}
}

func (e *encoder) scalar(x any) {
	switch x := x.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		var b uint8
		if x {
			b = 1
		}
		e.u8(b)
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	}
}
