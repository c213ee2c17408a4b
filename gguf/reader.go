package gguf

import (
	"fmt"
	"io"
	"math"
)

// Minimum encoded sizes, used to check counts against the bytes that remain before allocating.
const (
	headerSize    = 24            // magic, version, tensor count, kv count
	minKVSize     = 8 + 1 + 4 + 1 // key length, one key byte, value type, one value byte
	minTensorSize = 8 + 1 + 4 + 4 + 8
	alignmentKey  = "general.alignment"
)

// File is a parsed GGUF header: metadata and tensor infos. Tensor data stays in the underlying
// io.ReaderAt and is read on demand through TensorData or ReadTensorF32.
type File struct {
	Version    uint32       // Version is the GGUF version of the file (2 or 3).
	Alignment  uint64       // Alignment is the data alignment (general.alignment, default 32).
	KVs        []KV         // KVs are the metadata pairs in file order.
	Tensors    []TensorInfo // Tensors are the tensor infos in file order.
	DataOffset int64        // DataOffset is the absolute offset of the data section.

	r        io.ReaderAt
	size     int64
	lim      Limits // bounds in force while parsing (package maximums by default)
	kvIndex  map[string]int
	tenIndex map[string]int
}

// KV is one metadata key/value pair.
type KV struct {
	Key   string // Key is the metadata key, e.g. "general.architecture".
	Value Value  // Value is the key's value.
}

// Limits are tighter bounds than the package maximums for OpenLimits, for readers of files that
// are known to be small (a LoRA adapter has a handful of keys and no vocabulary). A zero field
// means the package maximum (MaxKVCount, MaxArrayLength, MaxStringLength, MaxTensorCount) or, for
// MaxMetadataBytes, no bound but the file's size. Every bound is checked while parsing, before
// anything is allocated for the count or length it limits.
type Limits struct {
	MaxKVs           int   // MaxKVs bounds the number of metadata key/value pairs.
	MaxArrayLength   int   // MaxArrayLength bounds the element count of one array value.
	MaxStringLength  int   // MaxStringLength bounds one string value (or array element) in bytes.
	MaxTensors       int   // MaxTensors bounds the number of tensors.
	MaxMetadataBytes int64 // MaxMetadataBytes bounds the encoded key/value section in bytes.
}

// withDefaults fills zero fields with the package maximums.
func (l Limits) withDefaults() Limits {
	pick := func(v, def int) int {
		if v <= 0 || v > def {
			return def
		}
		return v
	}
	l.MaxKVs = pick(l.MaxKVs, MaxKVCount)
	l.MaxArrayLength = pick(l.MaxArrayLength, MaxArrayLength)
	l.MaxStringLength = pick(l.MaxStringLength, MaxStringLength)
	l.MaxTensors = pick(l.MaxTensors, MaxTensorCount)
	l.MaxMetadataBytes = max(l.MaxMetadataBytes, 0)
	return l
}

// Open parses the GGUF header of the size-byte file r: magic, version, metadata and tensor infos.
// It validates everything it reads (limits, remaining bytes, alignment, unique keys and names, tensor
// data packed in order as ggml requires) and returns an error wrapping ErrFormat, ErrUnsupported or
// ErrTooLarge inside a *FormatError on a bad file. Tensor data is not read.
func Open(r io.ReaderAt, size int64) (*File, error) { return OpenLimits(r, size, Limits{}) }

// OpenLimits is Open with the tighter bounds of lim; a file over one of them gives a *FormatError
// wrapping ErrTooLarge. Parsing takes time linear in the header's size and memory proportional to
// what the limits allow.
func OpenLimits(r io.ReaderAt, size int64, lim Limits) (*File, error) {
	if size < 0 {
		return nil, formatErr(0, ErrFormat, "negative file size %d", size)
	}
	d := newDecoder(r, size)
	f := &File{Alignment: DefaultAlignment, r: r, size: size, lim: lim.withDefaults()}
	nTensors, nKV, err := f.readHeader(d)
	if err != nil {
		return nil, err
	}
	if f.lim.MaxMetadataBytes > 0 {
		d.end, d.limit = d.off+f.lim.MaxMetadataBytes, f.lim.MaxMetadataBytes
	}
	if err := f.readKVs(d, nKV); err != nil {
		return nil, err
	}
	if d.end > 0 && d.off > d.end {
		return nil, formatErr(d.end, ErrTooLarge, "metadata exceeds the limit of %d bytes", d.limit)
	}
	d.end = 0
	infoOffs, err := f.readTensorInfos(d, nTensors)
	if err != nil {
		return nil, err
	}
	f.DataOffset = int64(alignUp(uint64(d.off), f.Alignment))
	if err := f.checkData(infoOffs); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) readHeader(d *decoder) (nTensors, nKV int, err error) {
	var magic [4]byte
	if err := d.full(magic[:], "magic"); err != nil {
		return 0, 0, err
	}
	if string(magic[:]) != "GGUF" {
		return 0, 0, formatErr(0, ErrFormat, "bad magic %q", magic[:])
	}
	if f.Version, err = d.u32("version"); err != nil {
		return 0, 0, err
	}
	switch {
	case f.Version == 2 || f.Version == 3:
	case f.Version&0xFFFF == 0:
		return 0, 0, formatErr(4, ErrUnsupported, "big-endian file (version %#x)", f.Version)
	default:
		return 0, 0, formatErr(4, ErrUnsupported, "version %d (want 2 or 3)", f.Version)
	}
	if nTensors, err = d.count("tensor count", uint64(f.lim.MaxTensors), 0); err != nil {
		return 0, 0, err
	}
	if nKV, err = d.count("kv count", uint64(f.lim.MaxKVs), 0); err != nil {
		return 0, 0, err
	}
	need := int64(nKV)*minKVSize + int64(nTensors)*minTensorSize
	if need > d.remaining() {
		return 0, 0, formatErr(8, ErrFormat, "%d tensors and %d kvs need at least %d bytes but only %d remain",
			nTensors, nKV, need, d.remaining())
	}
	return nTensors, nKV, nil
}

func (f *File) readKVs(d *decoder, n int) error {
	f.KVs = make([]KV, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := 0; i < n; i++ {
		keyOff := d.off
		key, err := d.str("key", MaxKeyLength, ErrTooLarge)
		if err != nil {
			return err
		}
		if key == "" {
			return formatErr(keyOff, ErrFormat, "empty key")
		}
		if _, dup := f.kvIndex[key]; dup {
			return formatErr(keyOff, ErrFormat, "duplicate key %s", quoteKey(key))
		}
		valOff := d.off
		v, err := readValue(d, key, &f.lim)
		if err != nil {
			return err
		}
		if key == alignmentKey {
			if err := f.setAlignment(v, valOff); err != nil {
				return err
			}
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	return nil
}

func (f *File) setAlignment(v Value, off int64) error {
	a, ok := v.Any().(uint32)
	if v.Type() != ValueUint32 || !ok {
		return formatErr(off, ErrFormat, "%s has type %v, must be UINT32", alignmentKey, v.Type())
	}
	if a == 0 || a&(a-1) != 0 {
		return formatErr(off, ErrFormat, "%s %d is not a power of two", alignmentKey, a)
	}
	if a > MaxAlignment {
		return formatErr(off, ErrTooLarge, "%s %d exceeds %d", alignmentKey, a, MaxAlignment)
	}
	f.Alignment = uint64(a)
	return nil
}

// readValue reads a u32 value type and the value it announces.
func readValue(d *decoder, key string, lim *Limits) (Value, error) {
	typOff := d.off
	t, err := d.u32("value type")
	if err != nil {
		return Value{}, err
	}
	vt := ValueType(t)
	if !vt.valid() {
		return Value{}, formatErr(typOff, ErrFormat, "key %s: invalid value type %d", quoteKey(key), t)
	}
	if vt != ValueArray {
		return readScalar(d, vt, key, lim)
	}
	elemOff := d.off
	e, err := d.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	et := ValueType(e)
	switch {
	case et == ValueArray:
		return Value{}, formatErr(elemOff, ErrUnsupported, "key %s: nested array", quoteKey(key))
	case !et.valid():
		return Value{}, formatErr(elemOff, ErrFormat, "key %s: invalid array element type %d", quoteKey(key), e)
	}
	minSize := int64(et.Size())
	if et == ValueString {
		minSize = 8
	}
	n, err := d.count("array length", uint64(lim.MaxArrayLength), minSize)
	if err != nil {
		return Value{}, err
	}
	elems, err := readArray(d, et, n, key, lim)
	return Value{typ: ValueArray, elem: et, v: elems}, err
}

func readScalar(d *decoder, vt ValueType, key string, lim *Limits) (Value, error) {
	what := "value of " + quoteKey(key)
	off := d.off
	switch vt {
	case ValueString:
		s, err := d.str(what, uint64(lim.MaxStringLength), ErrTooLarge)
		return String(s), err
	case ValueBool:
		b, err := d.u8(what)
		if err == nil && b > 1 {
			err = formatErr(off, ErrFormat, "key %s: bool byte %d is neither 0 nor 1", quoteKey(key), b)
		}
		return Bool(b == 1), err
	}
	b := d.buf[:vt.Size()]
	if err := d.full(b, what); err != nil {
		return Value{}, err
	}
	var v any
	switch vt {
	case ValueUint8:
		v, _ = convU8(b)
	case ValueInt8:
		v, _ = convI8(b)
	case ValueUint16:
		v, _ = convU16(b)
	case ValueInt16:
		v, _ = convI16(b)
	case ValueUint32:
		v, _ = convU32(b)
	case ValueInt32:
		v, _ = convI32(b)
	case ValueFloat32:
		v, _ = convF32(b)
	case ValueUint64:
		v, _ = convU64(b)
	case ValueInt64:
		v, _ = convI64(b)
	case ValueFloat64:
		v, _ = convF64(b)
	}
	return Value{typ: vt, v: v}, nil
}

func readArray(d *decoder, et ValueType, n int, key string, lim *Limits) (any, error) {
	what := "array " + quoteKey(key)
	switch et {
	case ValueUint8:
		return scalars(d, n, 1, what, convU8)
	case ValueInt8:
		return scalars(d, n, 1, what, convI8)
	case ValueUint16:
		return scalars(d, n, 2, what, convU16)
	case ValueInt16:
		return scalars(d, n, 2, what, convI16)
	case ValueUint32:
		return scalars(d, n, 4, what, convU32)
	case ValueInt32:
		return scalars(d, n, 4, what, convI32)
	case ValueFloat32:
		return scalars(d, n, 4, what, convF32)
	case ValueBool:
		return scalars(d, n, 1, what, convBool)
	case ValueUint64:
		return scalars(d, n, 8, what, convU64)
	case ValueInt64:
		return scalars(d, n, 8, what, convI64)
	case ValueFloat64:
		return scalars(d, n, 8, what, convF64)
	}
	// Strings: n was checked against 8 bytes each; grow the slice in chunks all the same.
	out := make([]string, 0, min(n, chunkSize/16))
	for i := 0; i < n; i++ {
		s, err := d.str(what, uint64(lim.MaxStringLength), ErrTooLarge)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (f *File) readTensorInfos(d *decoder, n int) ([]int64, error) {
	f.Tensors = make([]TensorInfo, 0, n)
	f.tenIndex = make(map[string]int, n)
	offs := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		nameOff := d.off
		name, err := d.str("tensor name", MaxTensorNameLength, ErrFormat)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tenIndex[name]; dup {
			return nil, formatErr(nameOff, ErrFormat, "duplicate tensor name %q", name)
		}
		ti, offOff, err := readTensorInfo(d, name)
		if err != nil {
			return nil, err
		}
		f.tenIndex[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
		offs = append(offs, offOff)
	}
	return offs, nil
}

// readTensorInfo reads the rest of one tensor info after its name and returns it with the file
// offset of its data-offset field.
func readTensorInfo(d *decoder, name string) (TensorInfo, int64, error) {
	ti := TensorInfo{Name: name}
	dimsOff := d.off
	nd, err := d.u32("dimension count")
	if err != nil {
		return ti, 0, err
	}
	if nd > MaxDims {
		return ti, 0, formatErr(dimsOff, ErrFormat, "tensor %q has %d dims (max %d)", name, nd, MaxDims)
	}
	ti.Dims = make([]uint64, nd)
	for j := range ti.Dims {
		off := d.off
		if ti.Dims[j], err = d.u64("dimension"); err != nil {
			return ti, 0, err
		}
		if ti.Dims[j] > math.MaxInt64 {
			return ti, 0, formatErr(off, ErrFormat, "tensor %q: dimension %d is negative", name, j)
		}
	}
	typOff := d.off
	t, err := d.u32("tensor type")
	if err != nil {
		return ti, 0, err
	}
	ti.Type = TensorType(t)
	if !ti.Type.Known() {
		return ti, 0, formatErr(typOff, ErrUnsupported, "tensor %q: unknown type %d", name, t)
	}
	if err := checkShape(ti.Type, ti.Dims); err != nil {
		return ti, 0, &FormatError{Offset: dimsOff, Msg: fmt.Sprintf("tensor %q", name), Err: err}
	}
	offOff := d.off
	if ti.Offset, err = d.u64("tensor offset"); err != nil {
		return ti, 0, err
	}
	return ti, offOff, nil
}

// checkData checks that every tensor's data lies inside the file, packed as ggml's reader
// requires: in tensor-info order, the first at offset 0 and each next one at the previous one's
// offset plus its size rounded up to the alignment (ggml refuses any other offset, so overlapping
// or out-of-order regions never load in llama.cpp either).
func (f *File) checkData(infoOffs []int64) error {
	if len(f.Tensors) > 0 && f.DataOffset > f.size {
		return formatErr(f.DataOffset, ErrFormat, "data section starts past end of file (size %d)", f.size)
	}
	avail := uint64(f.size - min(f.DataOffset, f.size))
	var next uint64 // where the next tensor's data must start
	for i, ti := range f.Tensors {
		if ti.Offset != next {
			return formatErr(infoOffs[i], ErrFormat, "tensor %q: offset %d, want %d (ggml requires tensor data packed in order, each at the previous one's aligned end)",
				ti.Name, ti.Offset, next)
		}
		nb := ti.NumBytes()
		if ti.Offset > avail || nb > avail-ti.Offset {
			return formatErr(infoOffs[i], ErrFormat, "tensor %q: data [%d, +%d) runs past end of data section (%d bytes)",
				ti.Name, ti.Offset, nb, avail)
		}
		next = alignUp(ti.Offset+nb, f.Alignment) // no overflow: ti.Offset+nb <= avail < 2^63
	}
	return nil
}

// alignUp rounds x up to a multiple of a (a power of two).
func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }
