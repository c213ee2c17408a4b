package gguf

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden and malformed files in testdata/")

// raw builds GGUF bytes field by field for crafted (often invalid) inputs.
type raw struct{ bytes.Buffer }

func (r *raw) u8(v uint8) *raw   { r.WriteByte(v); return r }
func (r *raw) u32(v uint32) *raw { r.Write(binary.LittleEndian.AppendUint32(nil, v)); return r }
func (r *raw) u64(v uint64) *raw { r.Write(binary.LittleEndian.AppendUint64(nil, v)); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *raw) zeros(n int) *raw  { r.Write(make([]byte, n)); return r }

// header starts a v3 file with the given counts.
func header(nTensors, nKV uint64) *raw {
	r := &raw{}
	r.WriteString("GGUF")
	return r.u32(3).u64(nTensors).u64(nKV)
}

// tensorInfo appends one tensor info.
func (r *raw) tensorInfo(name string, typ TensorType, offset uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(offset)
}

// ramp returns n deterministic values in about [-scale, scale].
func ramp(n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.61+0.3) * scale)
	}
	return x
}

// sampleKVs uses every value type as a scalar and every scalar type and STRING as array elements.
func sampleKVs() []KV {
	return []KV{
		{"general.architecture", String("llama")},
		{"general.name", String("sample ünïcode")},
		{"test.u8", Uint8(200)}, {"test.i8", Int8(-100)},
		{"test.u16", Uint16(60000)}, {"test.i16", Int16(-30000)},
		{"test.u32", Uint32(4000000000)}, {"test.i32", Int32(-2000000000)},
		{"test.f32", Float32(1.5e-3)}, {"test.bool", Bool(true)}, {"test.false", Bool(false)},
		{"test.u64", Uint64(1 << 62)}, {"test.i64", Int64(-1 << 62)},
		{"test.f64", Float64(math.Pi)}, {"test.empty", String("")},
		{"arr.u8", Array(ValueUint8, []uint8{0, 1, 255})},
		{"arr.i8", Array(ValueInt8, []int8{-128, 0, 127})},
		{"arr.u16", Array(ValueUint16, []uint16{1, 65535})},
		{"arr.i16", Array(ValueInt16, []int16{-32768, 32767})},
		{"arr.u32", Uint32s([]uint32{7, 8, 9})},
		{"arr.i32", Int32s([]int32{-1, 2, -3})},
		{"arr.f32", Float32s([]float32{0.5, -0.25, float32(math.Inf(1))})},
		{"arr.bool", Array(ValueBool, []bool{true, false, true})},
		{"arr.str", Strings([]string{"<unk>", "<s>", "", "▁hello"})},
		{"arr.u64", Array(ValueUint64, []uint64{math.MaxUint64})},
		{"arr.i64", Array(ValueInt64, []int64{math.MinInt64, 5})},
		{"arr.f64", Array(ValueFloat64, []float64{1e300, -2})},
		{"arr.empty", Array(ValueUint32, []uint32{})},
	}
}

type sampleTensor struct {
	name string
	typ  TensorType
	dims []uint64
}

var sampleTensors = []sampleTensor{
	{"token_embd.weight", TypeF32, []uint64{8, 5}},
	{"blk.0.attn_q.weight", TypeF16, []uint64{3, 7}},
	{"blk.0.attn_k.weight", TypeBF16, []uint64{5}},
	{"blk.0.ffn_up.weight", TypeQ8_0, []uint64{64, 3}},
	{"blk.0.ffn_down.weight", TypeQ4_0, []uint64{32, 2, 2}},
	{"output_norm.weight", TypeF32, []uint64{1, 1, 1, 1}},
}

// sampleWriter builds the file behind testdata/golden_*.gguf.
func sampleWriter(t testing.TB, alignment uint32) *Writer {
	t.Helper()
	w := NewWriter()
	for _, kv := range sampleKVs() {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if alignment != DefaultAlignment {
		if err := w.SetAlignment(alignment); err != nil {
			t.Fatal(err)
		}
	}
	for i, st := range sampleTensors {
		ti := TensorInfo{Dims: st.dims}
		if err := w.AddTensorF32(st.name, st.dims, ramp(int(ti.NumElements()), float64(i+1)), st.typ); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func writeBytes(t testing.TB, w *Writer) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func openBytes(t testing.TB, b []byte) *File {
	t.Helper()
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// rewrite copies every KV and tensor of f into a new Writer, in file order.
func rewrite(f *File) (*Writer, error) {
	w := NewWriter()
	for _, kv := range f.KVs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	for _, ti := range f.Tensors {
		sec, err := f.TensorData(ti.Name)
		if err != nil {
			return nil, err
		}
		if err := w.AddTensorSection(ti.Name, ti.Type, ti.Dims, sec); err != nil {
			return nil, err
		}
	}
	return w, nil
}
