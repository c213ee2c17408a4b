package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestOpenReadsEverything(t *testing.T) {
	b := writeBytes(t, sampleWriter(t, 32))
	f := openBytes(t, b)
	if f.Version != 3 || f.Alignment != 32 {
		t.Errorf("version %d alignment %d", f.Version, f.Alignment)
	}
	want := sampleKVs()
	if len(f.KVs) != len(want) {
		t.Fatalf("%d KVs, want %d", len(f.KVs), len(want))
	}
	for i, kv := range want {
		got := f.KVs[i]
		if got.Key != kv.Key || got.Value.Type() != kv.Value.Type() || got.Value.ElemType() != kv.Value.ElemType() ||
			!reflect.DeepEqual(got.Value.Any(), kv.Value.Any()) {
			t.Errorf("KV %d: got %s=%v (%v), want %s=%v (%v)", i, got.Key, got.Value, got.Value.Type(),
				kv.Key, kv.Value, kv.Value.Type())
		}
	}
	for i, st := range sampleTensors {
		ti, ok := f.Tensor(st.name)
		if !ok || ti.Type != st.typ || !reflect.DeepEqual(ti.Dims, st.dims) {
			t.Fatalf("tensor %s: %+v", st.name, ti)
		}
		x := ramp(int(ti.NumElements()), float64(i+1))
		enc, _ := Encode(st.typ, x)
		sec, err := f.TensorData(st.name)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(sec)
		if !bytes.Equal(data, enc) {
			t.Errorf("%s: TensorData differs from the encoded bytes", st.name)
		}
		got, err := f.ReadTensorF32(st.name)
		if err != nil {
			t.Fatal(err)
		}
		wantF := make([]float32, len(x))
		Decode(st.typ, wantF, enc)
		sameBits(t, st.name, got, wantF)
	}
}

func TestGetters(t *testing.T) {
	f := openBytes(t, writeBytes(t, sampleWriter(t, 32)))
	check := func(got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %v (%v), want %v", got, err, want)
		}
	}
	s, err := f.GetString("general.architecture")
	check(s, "llama", err)
	u, err := f.GetUint32("test.u32")
	check(u, uint32(4000000000), err)
	i, err := f.GetInt32("test.i32")
	check(i, int32(-2000000000), err)
	x, err := f.GetFloat32("test.f32")
	check(x, float32(1.5e-3), err)
	bl, err := f.GetBool("test.bool")
	check(bl, true, err)
	u64, err := f.GetUint64("test.u64")
	check(u64, uint64(1<<62), err)
	i64, err := f.GetInt64("test.i64")
	check(i64, int64(-1<<62), err)
	f64, err := f.GetFloat64("test.f64")
	check(f64, 3.141592653589793, err)
	ss, err := f.GetStrings("arr.str")
	check(ss, []string{"<unk>", "<s>", "", "▁hello"}, err)
	fs, err := f.GetFloat32s("arr.f32")
	check(fs[:2], []float32{0.5, -0.25}, err)
	is, err := f.GetInt32s("arr.i32")
	check(is, []int32{-1, 2, -3}, err)
	us, err := f.GetUint32s("arr.u32")
	check(us, []uint32{7, 8, 9}, err)

	for _, tc := range []struct {
		name string
		call func() error
		is   error
	}{
		{"missing string", func() error { _, err := f.GetString("nope"); return err }, ErrNotFound},
		{"missing strings", func() error { _, err := f.GetStrings("nope"); return err }, ErrNotFound},
		{"u32 as string", func() error { _, err := f.GetString("test.u32"); return err }, ErrType},
		{"i32 as u32", func() error { _, err := f.GetUint32("test.i32"); return err }, ErrType},
		{"u8 as u32", func() error { _, err := f.GetUint32("test.u8"); return err }, ErrType},
		{"f64 as f32", func() error { _, err := f.GetFloat32("test.f64"); return err }, ErrType},
		{"array as string", func() error { _, err := f.GetString("arr.str"); return err }, ErrType},
		{"int32s as uint32s", func() error { _, err := f.GetUint32s("arr.i32"); return err }, ErrType},
		{"string as strings", func() error { _, err := f.GetStrings("general.name"); return err }, ErrType},
		{"missing tensor data", func() error { _, err := f.TensorData("nope"); return err }, ErrNotFound},
		{"missing tensor f32", func() error { _, err := f.ReadTensorF32("nope"); return err }, ErrNotFound},
	} {
		err := tc.call()
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.is)
		}
		if tc.is == ErrType && !strings.Contains(err.Error(), `"`) {
			t.Errorf("%s: error %q does not name the key", tc.name, err)
		}
	}
}

func TestReadTensorF32Unsupported(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor("iq", TypeIQ2_XXS, []uint64{256}, make([]byte, 66)); err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, writeBytes(t, w))
	if _, err := f.ReadTensorF32("iq"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
	if sec, err := f.TensorData("iq"); err != nil || sec.Size() != 66 {
		t.Fatalf("TensorData: %v", err)
	}
}

// TestReadTensorF32Chunks decodes a tensor larger than one read chunk.
func TestReadTensorF32Chunks(t *testing.T) {
	n := 3*chunkSize/34*32 + 64
	x := ramp(n, 2)
	w := NewWriter()
	if err := w.AddTensorF32("big", []uint64{uint64(n)}, x, TypeQ8_0); err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, writeBytes(t, w))
	got, err := f.ReadTensorF32("big")
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := Encode(TypeQ8_0, x)
	want := make([]float32, n)
	Decode(TypeQ8_0, want, enc)
	sameBits(t, "big", got, want)
}

func TestOpenVersion2(t *testing.T) {
	b := writeBytes(t, sampleWriter(t, 32))
	binary.LittleEndian.PutUint32(b[4:], 2)
	if f := openBytes(t, b); f.Version != 2 || len(f.Tensors) != len(sampleTensors) {
		t.Fatalf("v2: %+v", f)
	}
}

// TestOpenNoTensors: a metadata-only file need not be padded to the alignment.
func TestOpenNoTensors(t *testing.T) {
	b := header(0, 1).str("general.architecture").u32(uint32(ValueString)).str("llama").Bytes()
	f := openBytes(t, b)
	if s, _ := f.GetString("general.architecture"); s != "llama" || len(f.Tensors) != 0 {
		t.Fatalf("%+v", f)
	}
}

// TestOpenRefusesUnpackedOffsets is the regression test of issue 16 item 8: tensors whose data
// regions overlap, leave gaps or come out of order were accepted, though ggml's gguf.cpp refuses
// any offset other than the previous tensor's aligned end ("tensor 'X' has offset N, expected M").
func TestOpenRefusesUnpackedOffsets(t *testing.T) {
	file := func(offA, offB uint64) []byte {
		r := header(2, 0).tensorInfo("a", TypeF32, offA, 8).tensorInfo("b", TypeF32, offB, 8)
		return r.zeros(int(alignUp(uint64(r.Len()), 32)) - r.Len()).zeros(128).Bytes()
	}
	for _, tc := range []struct {
		name       string
		offA, offB uint64
	}{
		{"overlap: both at 0", 0, 0},
		{"overlap: b inside a", 0, 16},
		{"out of order", 32, 0},
		{"gap before b", 0, 64},
		{"first not at 0", 32, 64},
	} {
		data := file(tc.offA, tc.offB)
		_, err := Open(bytes.NewReader(data), int64(len(data)))
		var fe *FormatError
		if !errors.Is(err, ErrFormat) || !errors.As(err, &fe) {
			t.Errorf("%s: Open = %v, want a FormatError wrapping ErrFormat", tc.name, err)
		}
	}
	// Packed tightly: 8 F32 = 32 bytes, so b starts at 32.
	f := openBytes(t, file(0, 32))
	if ti, _ := f.Tensor("b"); ti.Offset != 32 {
		t.Fatal(ti)
	}
}

func TestValueAccessors(t *testing.T) {
	v := Strings([]string{"a", "b"})
	if v.Type() != ValueArray || v.ElemType() != ValueString || v.Len() != 2 || v.String() != `["a" "b"]` {
		t.Errorf("array value: %v %v %d %s", v.Type(), v.ElemType(), v.Len(), v)
	}
	s := Uint16(7)
	if s.Type() != ValueUint16 || s.ElemType() != ValueUint16 || s.Len() != 1 || s.Any() != uint16(7) {
		t.Errorf("scalar value: %v %v %d %v", s.Type(), s.ElemType(), s.Len(), s.Any())
	}
	for typ, name := range map[TensorType]string{TypeF32: "F32", TypeQ4_K: "Q4_K", TypeBF16: "BF16", 4: "TYPE(4)"} {
		if typ.String() != name {
			t.Errorf("%d.String() = %s", uint32(typ), typ)
		}
	}
	if typ, ok := ParseTensorType("q8_0"); !ok || typ != TypeQ8_0 {
		t.Errorf("ParseTensorType(q8_0) = %v %v", typ, ok)
	}
	if TypeQ6_K.BlockSize() != 256 || TypeQ6_K.TypeSize() != 210 || ValueString.String() != "STRING" {
		t.Error("type tables")
	}
}

// TestLongString reads a string longer than one read chunk.
func TestLongString(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 3*chunkSize/16+5)
	w := NewWriter()
	w.Add("long", String(long))
	f := openBytes(t, writeBytes(t, w))
	if s, err := f.GetString("long"); err != nil || s != long {
		t.Fatalf("long string: %d bytes, %v", len(s), err)
	}
}

// TestOpenLimits: each bound of Limits refuses a file just over it with ErrTooLarge while the same
// file opens with the package maximums, and a file at the bounds opens under them.
func TestOpenLimits(t *testing.T) {
	w := NewWriter()
	w.Add("general.architecture", String("llama"))
	w.Add("a.strings", Strings([]string{"x", "yy", "zzz"}))
	w.Add("a.long", String(strings.Repeat("s", 100)))
	w.AddTensorF32("t0", []uint64{8}, ramp(8, 1), TypeF32)
	w.AddTensorF32("t1", []uint64{8}, ramp(8, 1), TypeF32)
	data := writeBytes(t, w)
	openBytes(t, data)
	// The key/value section: from byte 24 to the first tensor info.
	kvBytes := int64(bytes.Index(data, []byte("\x02\x00\x00\x00\x00\x00\x00\x00t0")) - 24)
	exact := Limits{MaxKVs: 3, MaxArrayLength: 3, MaxStringLength: 100, MaxTensors: 2, MaxMetadataBytes: kvBytes}
	if _, err := OpenLimits(bytes.NewReader(data), int64(len(data)), exact); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	for _, tc := range []struct {
		name string
		lim  Limits
	}{
		{"kvs", Limits{MaxKVs: 2}},
		{"array length", Limits{MaxArrayLength: 2}},
		{"string length", Limits{MaxStringLength: 99}},
		{"tensors", Limits{MaxTensors: 1}},
		{"metadata bytes", Limits{MaxMetadataBytes: kvBytes - 1}},
		{"metadata bytes inside a string", Limits{MaxMetadataBytes: kvBytes - 50}},
	} {
		_, err := OpenLimits(bytes.NewReader(data), int64(len(data)), tc.lim)
		var fe *FormatError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &fe) {
			t.Errorf("%s: OpenLimits = %v, want a FormatError wrapping ErrTooLarge", tc.name, err)
		}
	}
	// Truncation inside the metadata budget stays ErrFormat.
	cut := data[:40]
	if _, err := OpenLimits(bytes.NewReader(cut), int64(len(cut)), Limits{MaxMetadataBytes: 1 << 20}); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated: %v, want ErrFormat", err)
	}
}

// TestErrorsEchoShortKeys: a 64 KiB key in an error message is cut to about 200 bytes (issue 16
// item 8: errors echoed a 10 kB name in full).
func TestErrorsEchoShortKeys(t *testing.T) {
	key := strings.Repeat("k", MaxKeyLength)
	data := header(0, 2).str(key).u32(uint32(ValueUint8)).u8(1).str(key).u32(uint32(ValueUint8)).u8(1).Bytes()
	_, err := Open(bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, ErrFormat) || len(err.Error()) > 400 || !strings.Contains(err.Error(), "…") {
		t.Errorf("duplicate long key: %d-byte error %.300v", len(fmt.Sprint(err)), err)
	}
}
