package gguf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var goldenFiles = []struct {
	file      string
	alignment uint32
}{{"golden_model.gguf", 32}, {"golden_align64.gguf", 64}, {"golden_align8.gguf", 8}}

// TestGolden compares the writer's output with testdata/golden_*.gguf (go test ./gguf -update).
func TestGolden(t *testing.T) {
	for _, g := range goldenFiles {
		got := writeBytes(t, sampleWriter(t, g.alignment))
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: writer output (%d bytes) differs from golden (%d bytes); run go test ./gguf -update if intended",
				g.file, len(got), len(want))
		}
	}
}

// TestRoundTrip reads each golden file, copies it through a new Writer and expects identical bytes.
func TestRoundTrip(t *testing.T) {
	for _, g := range goldenFiles {
		want, err := os.ReadFile(filepath.Join("testdata", g.file))
		if err != nil {
			t.Fatal(err)
		}
		f := openBytes(t, want)
		if f.Alignment != uint64(g.alignment) {
			t.Errorf("%s: alignment %d, want %d", g.file, f.Alignment, g.alignment)
		}
		w, err := rewrite(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := writeBytes(t, w); !bytes.Equal(got, want) {
			t.Errorf("%s: write→read→write differs (%d vs %d bytes)", g.file, len(got), len(want))
		}
	}
}

// TestWriterLayout checks ggml's packing rule: offset[0] = 0, offset[i+1] = offset[i] +
// align(nbytes[i]), aligned data start, zero padding, and the file ending on an aligned boundary.
func TestWriterLayout(t *testing.T) {
	for _, g := range goldenFiles {
		b := writeBytes(t, sampleWriter(t, g.alignment))
		f := openBytes(t, b)
		a := uint64(g.alignment)
		if f.DataOffset%int64(a) != 0 {
			t.Errorf("data offset %d not aligned to %d", f.DataOffset, a)
		}
		next := uint64(0)
		for _, ti := range f.Tensors {
			if ti.Offset != next {
				t.Errorf("%s: offset %d, want %d", ti.Name, ti.Offset, next)
			}
			end := uint64(f.DataOffset) + ti.Offset + ti.NumBytes()
			next = ti.Offset + alignUp(ti.NumBytes(), a)
			if pad := b[end : uint64(f.DataOffset)+next]; bytes.Count(pad, []byte{0}) != len(pad) {
				t.Errorf("%s: non-zero padding", ti.Name)
			}
		}
		if uint64(len(b)) != uint64(f.DataOffset)+next {
			t.Errorf("file is %d bytes, want %d (padded after the last tensor)", len(b), uint64(f.DataOffset)+next)
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	long := strings.Repeat("x", 64)
	for _, tc := range []struct {
		name string
		run  func(w *Writer) error
		is   error // optional sentinel
	}{
		{"duplicate key", func(w *Writer) error { w.Add("a", Uint8(1)); return w.Add("a", Uint8(2)) }, nil},
		{"empty key", func(w *Writer) error { return w.Add("", Uint8(1)) }, nil},
		{"zero value", func(w *Writer) error { return w.Add("a", Value{}) }, nil},
		{"nested array", func(w *Writer) error { return w.Add("a", Array(ValueArray, []Value{Uint8(1)})) }, nil},
		{"array of wrong Go type", func(w *Writer) error { return w.Add("a", Array(ValueUint32, []int32{1})) }, nil},
		{"array of invalid type", func(w *Writer) error { return w.Add("a", Array(13, []int32{1})) }, nil},
		{"nil array", func(w *Writer) error { return w.Add("a", Array(ValueUint32, nil)) }, nil},
		{"alignment 3", func(w *Writer) error { return w.SetAlignment(3) }, nil},
		{"alignment 0", func(w *Writer) error { return w.SetAlignment(0) }, nil},
		{"alignment key not UINT32", func(w *Writer) error { return w.Add(alignmentKey, Uint64(32)) }, nil},
		{"alignment key 48", func(w *Writer) error { return w.Add(alignmentKey, Uint32(48)) }, nil},
		{"alignment after tensor", func(w *Writer) error {
			w.AddTensorF32("t", []uint64{1}, []float32{1}, TypeF32)
			return w.SetAlignment(64)
		}, nil},
		{"name of 64 bytes", func(w *Writer) error { return w.AddTensor(long, TypeF32, []uint64{1}, make([]byte, 4)) }, nil},
		{"empty name", func(w *Writer) error { return w.AddTensor("", TypeF32, []uint64{1}, make([]byte, 4)) }, nil},
		{"duplicate name", func(w *Writer) error {
			w.AddTensor("t", TypeF32, []uint64{1}, make([]byte, 4))
			return w.AddTensor("t", TypeF32, []uint64{1}, make([]byte, 4))
		}, nil},
		{"5 dims", func(w *Writer) error { return w.AddTensor("t", TypeF32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)) }, ErrFormat},
		{"no dims", func(w *Writer) error { return w.AddTensor("t", TypeF32, nil, make([]byte, 4)) }, nil},
		{"partial Q8_0 block", func(w *Writer) error { return w.AddTensor("t", TypeQ8_0, []uint64{16, 2}, make([]byte, 34)) }, ErrFormat},
		{"partial Q4_0 block (F32 input)", func(w *Writer) error {
			return w.AddTensorF32("t", []uint64{48}, make([]float32, 48), TypeQ4_0)
		}, ErrFormat},
		{"wrong data length", func(w *Writer) error { return w.AddTensor("t", TypeF16, []uint64{3}, make([]byte, 4)) }, nil},
		{"wrong value count", func(w *Writer) error { return w.AddTensorF32("t", []uint64{3}, make([]float32, 4), TypeF32) }, nil},
		{"unknown type", func(w *Writer) error { return w.AddTensor("t", 99, []uint64{1}, make([]byte, 4)) }, ErrUnsupported},
		{"encode Q6_K", func(w *Writer) error { return w.AddTensorF32("t", []uint64{256}, make([]float32, 256), TypeQ6_K) }, ErrUnsupported},
		{"element overflow", func(w *Writer) error { return w.AddTensor("t", TypeF32, []uint64{1 << 32, 1 << 32}, nil) }, ErrTooLarge},
		{"section size", func(w *Writer) error {
			return w.AddTensorSection("t", TypeF32, []uint64{2}, io.NewSectionReader(bytes.NewReader(make([]byte, 4)), 0, 4))
		}, nil},
	} {
		err := tc.run(NewWriter())
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.is)
		}
	}
}

func TestWriterAccepts63ByteName(t *testing.T) {
	w := NewWriter()
	name := strings.Repeat("n", 63)
	if err := w.AddTensorF32(name, []uint64{2}, []float32{1, 2}, TypeF32); err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, writeBytes(t, w))
	if _, ok := f.Tensor(name); !ok {
		t.Fatal("63-byte name lost")
	}
}

// TestSetAlignmentReplaces: a second SetAlignment replaces the key in place, not a duplicate.
func TestSetAlignmentReplaces(t *testing.T) {
	w := NewWriter()
	w.Add("general.architecture", String("llama"))
	if err := w.SetAlignment(64); err != nil {
		t.Fatal(err)
	}
	if err := w.SetAlignment(16); err != nil {
		t.Fatal(err)
	}
	w.AddTensorF32("t", []uint64{3}, []float32{1, 2, 3}, TypeF32)
	f := openBytes(t, writeBytes(t, w))
	if len(f.KVs) != 2 || f.Alignment != 16 {
		t.Fatalf("KVs %v alignment %d", f.KVs, f.Alignment)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after < len(p) {
		n := max(f.after, 0)
		f.after = 0
		return n, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriteToPropagatesErrors(t *testing.T) {
	w := sampleWriter(t, 32)
	for _, after := range []int{0, 10, 1000} {
		if _, err := w.WriteTo(&failWriter{after: after}); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("after %d bytes: err = %v", after, err)
		}
	}
}
