package gguf

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const (
	benchFileMB     = 100
	benchTensorSize = 4 << 20 // bytes per F32 tensor in the 100 MB file
	benchDecodeN    = 1 << 20 // elements per dequantization benchmark
)

var benchTensors [][]byte // 25 × 4 MiB of F32 data, built once

func benchWriter(b *testing.B) *Writer {
	if benchTensors == nil {
		x := ramp(benchTensorSize/4, 1)
		enc, _ := Encode(TypeF32, x)
		for range benchFileMB << 20 / benchTensorSize {
			benchTensors = append(benchTensors, enc)
		}
	}
	w := NewWriter()
	w.Add("general.architecture", String("llama"))
	for i, t := range benchTensors {
		if err := w.AddTensor(fmt.Sprintf("blk.%d.weight", i), TypeF32, []uint64{1024, uint64(len(t) / 4096)}, t); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// BenchmarkWrite100MB streams a 100 MB file to io.Discard.
func BenchmarkWrite100MB(b *testing.B) {
	w := benchWriter(b)
	b.SetBytes(benchFileMB << 20)
	for b.Loop() {
		if _, err := w.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite100MBFile writes a 100 MB file to a temporary file.
func BenchmarkWrite100MBFile(b *testing.B) {
	w := benchWriter(b)
	path := filepath.Join(b.TempDir(), "bench.gguf")
	b.SetBytes(benchFileMB << 20)
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.WriteTo(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func benchFile(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "bench.gguf")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := benchWriter(b).WriteTo(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkRead100MB opens a 100 MB file (os.File as io.ReaderAt) and reads every tensor's bytes
// through its SectionReader in 1 MiB ReadAt calls.
func BenchmarkRead100MB(b *testing.B) {
	path := benchFile(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(benchFileMB << 20)
	for b.Loop() {
		fh, _ := os.Open(path)
		st, _ := fh.Stat()
		f, err := Open(fh, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		for _, ti := range f.Tensors {
			sec, _ := f.TensorData(ti.Name)
			for off := int64(0); off < sec.Size(); off += int64(len(buf)) {
				if _, err := sec.ReadAt(buf[:min(int64(len(buf)), sec.Size()-off)], off); err != nil {
					b.Fatal(err)
				}
			}
		}
		fh.Close()
	}
}

// BenchmarkReadTensorF32100MB opens a 100 MB file and decodes every tensor to float32.
func BenchmarkReadTensorF32100MB(b *testing.B) {
	path := benchFile(b)
	b.SetBytes(benchFileMB << 20)
	for b.Loop() {
		fh, _ := os.Open(path)
		st, _ := fh.Stat()
		f, err := Open(fh, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		for _, ti := range f.Tensors {
			if _, err := f.ReadTensorF32(ti.Name); err != nil {
				b.Fatal(err)
			}
		}
		fh.Close()
	}
}

// benchBlocks returns encoded data of n elements of typ: real quantized values where Encode
// supports typ, otherwise random bytes with sane fp16 scales.
func benchBlocks(typ TensorType, n int) []byte {
	if CanEncode(typ) {
		enc, _ := Encode(typ, ramp(n, 2))
		return enc
	}
	ts := typ.TypeSize()
	src := make([]byte, n/typ.BlockSize()*ts)
	s := uint32(1)
	for i := range src {
		s = s*1664525 + 1013904223
		src[i] = byte(s >> 24)
	}
	offs := map[TensorType][]int{TypeQ4_1: {0, 2}, TypeQ5_0: {0}, TypeQ5_1: {0, 2}, TypeQ4_K: {0, 2}, TypeQ5_K: {0, 2}, TypeQ6_K: {208}}
	for b := 0; b < len(src)/ts; b++ {
		for _, o := range offs[typ] {
			binary.LittleEndian.PutUint16(src[b*ts+o:], Float32ToFloat16(0.01))
		}
	}
	return src
}

// BenchmarkDecode measures dequantization; throughput is reported in float32 output bytes
// (4 bytes per element), plus Melem/s.
func BenchmarkDecode(b *testing.B) {
	for _, typ := range []TensorType{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1,
		TypeQ5_0, TypeQ5_1, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			src := benchBlocks(typ, benchDecodeN)
			dst := make([]float32, benchDecodeN)
			b.SetBytes(4 * benchDecodeN)
			for b.Loop() {
				if err := Decode(typ, dst, src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchDecodeN)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
		})
	}
}

// BenchmarkEncode measures the encoders on float32 input bytes.
func BenchmarkEncode(b *testing.B) {
	x := ramp(benchDecodeN, 2)
	for _, typ := range []TensorType{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0} {
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * benchDecodeN)
			for b.Loop() {
				if _, err := Encode(typ, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenVocab parses a header with a 32000-token vocabulary (strings, scores, types).
func BenchmarkOpenVocab(b *testing.B) {
	toks := make([]string, 32000)
	for i := range toks {
		toks[i] = fmt.Sprintf("▁token%d", i)
	}
	w := NewWriter()
	w.Add("tokenizer.ggml.tokens", Strings(toks))
	w.Add("tokenizer.ggml.scores", Float32s(make([]float32, len(toks))))
	w.Add("tokenizer.ggml.token_type", Int32s(make([]int32, len(toks))))
	data := writeBytes(b, w)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		openBytes(b, data)
	}
}
