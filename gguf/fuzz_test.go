package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open. A rejected input must give a *FormatError wrapping one
// of the sentinels; an accepted one must survive every accessor and a rewrite: writing what was
// read, reading it back and writing again gives identical bytes.
func FuzzOpen(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.gguf"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range malformedCases(f) {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !(errors.Is(err, ErrFormat) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTooLarge)) {
				t.Fatalf("Open error %v is not a FormatError wrapping a sentinel", err)
			}
			return
		}
		exercise(t, file)
		for _, ti := range file.Tensors {
			if ti.Name == "" || len(ti.Dims) == 0 {
				return // valid to read, but our writer never produces these
			}
		}
		w, err := rewrite(file)
		if err != nil {
			t.Fatalf("rewrite of an accepted file failed: %v", err)
		}
		once := writeBytes(t, w)
		again, err := rewrite(openBytes(t, once))
		if err != nil {
			t.Fatal(err)
		}
		if twice := writeBytes(t, again); !bytes.Equal(once, twice) {
			t.Fatalf("write→read→write not stable (%d vs %d bytes)", len(once), len(twice))
		}
	})
}

// exercise calls every accessor on an accepted file; none may panic.
func exercise(t *testing.T, f *File) {
	for _, kv := range f.KVs {
		_ = kv.Value.String()
		_ = kv.Value.Len()
		if v, ok := f.Value(kv.Key); !ok || v.Type() != kv.Value.Type() {
			t.Fatalf("Value(%q) lost", kv.Key)
		}
		f.GetString(kv.Key)
		f.GetUint32(kv.Key)
		f.GetStrings(kv.Key)
		f.GetFloat32s(kv.Key)
	}
	for _, ti := range f.Tensors {
		sec, err := f.TensorData(ti.Name)
		if err != nil || uint64(sec.Size()) != ti.NumBytes() {
			t.Fatalf("TensorData(%q): %v", ti.Name, err)
		}
		if ti.NumElements() <= 1<<16 {
			if _, err := f.ReadTensorF32(ti.Name); err != nil && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("ReadTensorF32(%q): %v", ti.Name, err)
			}
		}
	}
}
