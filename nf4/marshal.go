package nf4

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Serialised form (all little-endian), version 1:
//
//	off  size  field
//	0    4     magic "NF4T"
//	4    4     version uint32 = 1
//	8    8     rows uint64
//	16   8     cols uint64
//	24   4     block size uint32
//	28   4     flags uint32 (bit 0: double quantization; other bits must be 0)
//	32   ...   without DQ: absmax float32 × nblocks
//	           with DQ:    offset float32, absmax2 float32 × ceil(nblocks/256), qabsmax uint8 × nblocks
//	...        packed codes, (rows·cols+1)/2 bytes
//
// The length is fully determined by the header, so UnmarshalBinary checks it
// before allocating anything.
const (
	magic      = "NF4T"
	version    = 1
	headerSize = 32
	flagDQ     = 1
)

// FormatError describes malformed serialised bytes: where and what.
// It wraps ErrFormat.
type FormatError struct {
	Offset int64  // byte offset of the offending field
	Msg    string // what is wrong there
}

// Error formats the offset and the problem.
func (e *FormatError) Error() string {
	return fmt.Sprintf("nf4: format error at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns ErrFormat.
func (e *FormatError) Unwrap() error { return ErrFormat }

func formatErr(off int, format string, args ...any) error {
	return &FormatError{Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
}

// MarshalBinary returns the serialised tensor (see the format above). It
// holds exactly the stored codes and scales, so a checkpoint round trip is
// bit-exact and never re-quantizes.
func (t *Tensor) MarshalBinary() ([]byte, error) {
	if t.Len() == 0 {
		return nil, fmt.Errorf("nf4: MarshalBinary of a zero Tensor: %w", ErrShape)
	}
	out := make([]byte, headerSize, headerSize+t.scaleBytes()+len(t.packed))
	copy(out, magic)
	binary.LittleEndian.PutUint32(out[4:], version)
	binary.LittleEndian.PutUint64(out[8:], uint64(t.rows))
	binary.LittleEndian.PutUint64(out[16:], uint64(t.cols))
	binary.LittleEndian.PutUint32(out[24:], uint32(t.blockSize))
	if t.qabsmax != nil {
		binary.LittleEndian.PutUint32(out[28:], flagDQ)
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(t.offset))
		out = appendFloat32s(out, t.absmax2)
		out = append(out, t.qabsmax...)
	} else {
		out = appendFloat32s(out, t.absmax)
	}
	return append(out, t.packed...), nil
}

func (t *Tensor) scaleBytes() int {
	if t.qabsmax != nil {
		return 4 + 4*len(t.absmax2) + len(t.qabsmax)
	}
	return 4 * len(t.absmax)
}

func appendFloat32s(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// UnmarshalBinary replaces t with the tensor serialised in data. Malformed
// input returns a *FormatError (wrapping ErrFormat) and leaves t unchanged.
func (t *Tensor) UnmarshalBinary(data []byte) error {
	if len(data) < headerSize {
		return formatErr(0, "%d bytes, shorter than the %d-byte header", len(data), headerSize)
	}
	if string(data[:4]) != magic {
		return formatErr(0, "bad magic %q", data[:4])
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != version {
		return formatErr(4, "unsupported version %d", v)
	}
	rows, cols := binary.LittleEndian.Uint64(data[8:]), binary.LittleEndian.Uint64(data[16:])
	if rows == 0 || cols == 0 || rows > MaxElements || cols > MaxElements/rows {
		return formatErr(8, "shape %d×%d (want positive, at most %d elements)", rows, cols, MaxElements)
	}
	bs := int(binary.LittleEndian.Uint32(data[24:]))
	if checkBlockSize(bs) != nil {
		return formatErr(24, "block size %d", bs)
	}
	flags := binary.LittleEndian.Uint32(data[28:])
	if flags&^flagDQ != 0 {
		return formatErr(28, "unknown flags %#x", flags)
	}
	u := Tensor{rows: int(rows), cols: int(cols), blockSize: bs}
	n, nb := u.Len(), u.NumBlocks()
	nb2 := (nb + DQBlockSize - 1) / DQBlockSize
	want := headerSize + 4*nb + (n+1)/2
	if flags&flagDQ != 0 {
		want = headerSize + 4 + 4*nb2 + nb + (n+1)/2
	}
	if len(data) != want {
		return formatErr(len(data), "%d bytes, want %d for %d×%d block size %d", len(data), want, rows, cols, bs)
	}
	off := headerSize
	var err error
	if flags&flagDQ != 0 {
		var off32 []float32
		if off32, off, err = readFloat32s(data, off, 1); err != nil {
			return err
		}
		u.offset = off32[0]
		if u.absmax2, off, err = readFloat32s(data, off, nb2); err != nil {
			return err
		}
		u.qabsmax = append([]uint8(nil), data[off:off+nb]...)
		off += nb
	} else if u.absmax, off, err = readFloat32s(data, off, nb); err != nil {
		return err
	}
	u.packed = append([]byte(nil), data[off:]...)
	if n%2 == 1 && u.packed[n/2]&15 != padCode {
		return formatErr(len(data)-1, "padding nibble %d, want %d", u.packed[n/2]&15, padCode)
	}
	*t = u
	return nil
}

// readFloat32s reads count finite float32 values at off.
func readFloat32s(data []byte, off, count int) ([]float32, int, error) {
	v := make([]float32, count)
	for i := range v {
		f := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, 0, formatErr(off, "non-finite scale %v", f)
		}
		v[i] = f
		off += 4
	}
	return v, off, nil
}
