package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
)

// chunkSize bounds a single allocation made on the word of a length read from the file, so a caller
// who passes a size larger than the real data cannot make us allocate memory the file cannot back.
const chunkSize = 1 << 20

// decoder reads little-endian fields sequentially from an io.ReaderAt through a buffer and tracks
// the absolute offset of the next byte, which every error reports.
type decoder struct {
	r    *bufio.Reader
	off  int64 // offset of the next unread byte
	size int64 // total size of the file
	// end, when > 0, is a limit before the end of the file that reads may not pass (the metadata
	// budget of Limits.MaxMetadataBytes); a read past it is ErrTooLarge, not truncation.
	end   int64
	limit int64 // the metadata budget that set end, for messages
	buf   [8]byte
	// scratch holds short strings while they are read.
	scratch [256]byte
}

func newDecoder(r io.ReaderAt, size int64) *decoder {
	return &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size}
}

// remaining returns the number of bytes between the cursor and the end of the file, or the limit
// d.end when one is set and comes first.
func (d *decoder) remaining() int64 {
	if d.end > 0 && d.end < d.size {
		return max(0, d.end-d.off)
	}
	return d.size - d.off
}

// short reports that what, n bytes at off, does not fit in the remaining bytes: ErrTooLarge when
// the file has them but the metadata limit does not, else ErrFormat (truncation).
func (d *decoder) short(off int64, what string, n int64) error {
	if d.end > 0 && d.end < d.size && n <= d.size-d.off {
		return formatErr(off, ErrTooLarge, "%s of %d bytes runs past the metadata limit of %d bytes", what, n, d.limit)
	}
	return formatErr(off, ErrFormat, "%s of %d bytes runs past end of file (%d bytes left)", what, n, d.size-d.off)
}

// full fills p, reporting truncation as ErrFormat at the offset where the read started.
func (d *decoder) full(p []byte, what string) error {
	n, err := io.ReadFull(d.r, p)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return formatErr(d.off, ErrFormat, "unexpected end of file reading %s (%d bytes left)", what, n)
		}
		return &FormatError{Offset: d.off + int64(n), Msg: "reading " + what, Err: err}
	}
	d.off += int64(len(p))
	return nil
}

func (d *decoder) u8(what string) (uint8, error) {
	err := d.full(d.buf[:1], what)
	return d.buf[0], err
}

func (d *decoder) u16(what string) (uint16, error) {
	err := d.full(d.buf[:2], what)
	return binary.LittleEndian.Uint16(d.buf[:2]), err
}

func (d *decoder) u32(what string) (uint32, error) {
	err := d.full(d.buf[:4], what)
	return binary.LittleEndian.Uint32(d.buf[:4]), err
}

func (d *decoder) u64(what string) (uint64, error) {
	err := d.full(d.buf[:8], what)
	return binary.LittleEndian.Uint64(d.buf[:8]), err
}

// count reads a u64 count of items of at least minSize bytes each and checks it against limit and
// against the bytes remaining, before the caller allocates anything for it.
func (d *decoder) count(what string, limit uint64, minSize int64) (int, error) {
	off := d.off
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, formatErr(off, ErrTooLarge, "%s %d exceeds limit %d", what, n, limit)
	}
	if minSize > 0 && int64(n) > d.remaining()/minSize {
		if d.end > 0 && d.end < d.size && int64(n) <= (d.size-d.off)/minSize {
			return 0, formatErr(off, ErrTooLarge, "%s %d needs at least %d bytes, past the metadata limit of %d bytes",
				what, n, int64(n)*minSize, d.limit)
		}
		return 0, formatErr(off, ErrFormat, "%s %d needs at least %d bytes but only %d remain",
			what, n, int64(n)*minSize, d.remaining())
	}
	return int(n), nil
}

// bytes reads n bytes (n already checked against the remaining size), growing the buffer in chunks.
func (d *decoder) bytes(n int, what string) ([]byte, error) {
	if int64(n) > d.remaining() {
		return nil, d.short(d.off, what, int64(n))
	}
	if n <= chunkSize {
		b := make([]byte, n)
		return b, d.full(b, what)
	}
	var b []byte
	for len(b) < n {
		k := min(chunkSize, n-len(b))
		b = slices.Grow(b, k)[:len(b)+k]
		if err := d.full(b[len(b)-k:], what); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// str reads a u64-length-prefixed string of at most limit bytes; a longer length is reported as kind.
// Short strings go through a reused scratch buffer so each costs one allocation.
func (d *decoder) str(what string, limit uint64, kind error) (string, error) {
	off := d.off
	if err := d.full(d.buf[:8], what); err != nil {
		return "", err
	}
	n := binary.LittleEndian.Uint64(d.buf[:8])
	if n > limit {
		return "", formatErr(off, kind, "%s length %d exceeds limit %d", what, n, limit)
	}
	if n > uint64(d.remaining()) {
		return "", d.short(off, what, int64(min(n, math.MaxInt64)))
	}
	if n <= uint64(len(d.scratch)) {
		b := d.scratch[:n]
		if err := d.full(b, what); err != nil {
			return "", err
		}
		return string(b), nil
	}
	b, err := d.bytes(int(n), what)
	return string(b), err
}

// scalars reads n fixed-size elements (n already checked) in chunks, converting each with conv.
func scalars[T any](d *decoder, n, size int, what string, conv func([]byte) (T, bool)) ([]T, error) {
	out := make([]T, 0, min(n, chunkSize/size))
	var scratch []byte
	for len(out) < n {
		k := min(n-len(out), chunkSize/size)
		if cap(scratch) < k*size {
			scratch = make([]byte, k*size)
		}
		start := d.off
		if err := d.full(scratch[:k*size], what); err != nil {
			return nil, err
		}
		for i := 0; i < k; i++ {
			v, ok := conv(scratch[i*size : (i+1)*size])
			if !ok {
				return nil, formatErr(start+int64(i*size), ErrFormat, "%s: invalid element %d", what, len(out))
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func convU8(b []byte) (uint8, bool)   { return b[0], true }
func convI8(b []byte) (int8, bool)    { return int8(b[0]), true }
func convU16(b []byte) (uint16, bool) { return binary.LittleEndian.Uint16(b), true }
func convI16(b []byte) (int16, bool)  { return int16(binary.LittleEndian.Uint16(b)), true }
func convU32(b []byte) (uint32, bool) { return binary.LittleEndian.Uint32(b), true }
func convI32(b []byte) (int32, bool)  { return int32(binary.LittleEndian.Uint32(b)), true }
func convU64(b []byte) (uint64, bool) { return binary.LittleEndian.Uint64(b), true }
func convI64(b []byte) (int64, bool)  { return int64(binary.LittleEndian.Uint64(b)), true }
func convBool(b []byte) (bool, bool)  { return b[0] == 1, b[0] <= 1 }
func convF32(b []byte) (float32, bool) {
	return math.Float32frombits(binary.LittleEndian.Uint32(b)), true
}
func convF64(b []byte) (float64, bool) {
	return math.Float64frombits(binary.LittleEndian.Uint64(b)), true
}
