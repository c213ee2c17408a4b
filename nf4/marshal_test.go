package nf4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rows, cols int
		opt        Options
	}{{3, 11, Options{BlockSize: 32}}, {64, 64, Options{}}, {17, 301, Options{BlockSize: 128, DoubleQuant: true}}, {1, 1, Options{DoubleQuant: true}}} {
		q, err := Quantize(randNormal(31, tc.rows*tc.cols), tc.rows, tc.cols, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		data, err := q.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var u Tensor
		if err := u.UnmarshalBinary(data); err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if u.Rows() != q.Rows() || u.Cols() != q.Cols() || u.BlockSize() != q.BlockSize() || u.DoubleQuant() != q.DoubleQuant() {
			t.Errorf("%+v: header mismatch", tc)
		}
		if !bytes.Equal(u.Packed(), q.Packed()) || !equalBits(u.Absmax(), q.Absmax()) || u.BitsPerParam() != q.BitsPerParam() {
			t.Errorf("%+v: contents differ after round trip", tc)
		}
		again, _ := u.MarshalBinary()
		if !bytes.Equal(again, data) {
			t.Errorf("%+v: re-marshalled bytes differ", tc)
		}
	}
}

func TestZeroTensor(t *testing.T) {
	var z Tensor
	if z.NumBlocks() != 0 || z.BitsPerParam() != 0 || len(z.Absmax()) != 0 {
		t.Error("zero Tensor accessors")
	}
	if _, err := z.MarshalBinary(); !errors.Is(err, ErrShape) {
		t.Errorf("MarshalBinary of zero Tensor: err = %v, want ErrShape", err)
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestUnmarshalCorrupt: every malformed input returns a *FormatError
// wrapping ErrFormat (naming where) and leaves the tensor untouched.
func TestUnmarshalCorrupt(t *testing.T) {
	q, _ := Quantize(randNormal(1, 3*11), 3, 11, Options{BlockSize: 32})
	good, _ := q.MarshalBinary()
	qd, _ := Quantize(randNormal(1, 600), 2, 300, Options{BlockSize: 32, DoubleQuant: true})
	goodDQ, _ := qd.MarshalBinary()
	edit := func(src []byte, f func(b []byte)) []byte {
		b := bytes.Clone(src)
		f(b)
		return b
	}
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	cases := map[string][]byte{
		"empty":            nil,
		"short header":     good[:31],
		"magic":            edit(good, func(b []byte) { b[0] = 'X' }),
		"version":          edit(good, put32(4, 2)),
		"zero rows":        edit(good, put64(8, 0)),
		"huge rows":        edit(good, put64(8, 1<<40)),
		"huge product":     edit(good, put64(16, 1<<33)),
		"wrapping product": edit(edit(good, put64(8, 1<<33)), put64(16, 1<<33)),
		"block size 48":    edit(good, put32(24, 48)),
		"block size 0":     edit(good, put32(24, 0)),
		"flags":            edit(good, put32(28, 2)),
		"dq flag, plain":   edit(good, put32(28, 1)),
		"NaN absmax":       edit(good, put32(32, 0x7fc00000)),
		"Inf absmax":       edit(good, put32(36, 0x7f800000)),
		"pad nibble":       edit(good, func(b []byte) { b[len(b)-1] = 0x00 }),
		"trailing byte":    append(bytes.Clone(good), 0),
		"truncated":        good[:len(good)-1],
		"NaN offset":       edit(goodDQ, put32(32, 0xffc00000)),
		"Inf absmax2":      edit(goodDQ, put32(36, 0xff800000)),
		"dq truncated":     goodDQ[:len(goodDQ)-3],
		"rows mismatch":    edit(good, put64(8, 4)),
		"cols mismatch":    edit(goodDQ, put64(16, 299)),
		"bs mismatch":      edit(goodDQ, put32(24, 64)),
		"dq flag cleared":  edit(goodDQ, put32(28, 0)),
	}
	for cut := range good {
		cases["prefix"+string(rune('A'+cut%26))+string(rune('a'+cut/26))] = good[:cut]
	}
	for name, data := range cases {
		u := *q
		err := u.UnmarshalBinary(data)
		var fe *FormatError
		if !errors.Is(err, ErrFormat) || !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a *FormatError wrapping ErrFormat", name, err)
			continue
		}
		if fe.Offset < 0 || fe.Offset > int64(len(data)) {
			t.Errorf("%s: offset %d outside the %d input bytes", name, fe.Offset, len(data))
		}
		if u.rows != q.rows || &u.packed[0] != &q.packed[0] {
			t.Errorf("%s: tensor modified on error", name)
		}
	}
}
