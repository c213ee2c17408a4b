package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// malformedCase is a crafted file, the sentinel Open must wrap and the byte offset it must report
// (-1: any). Cases with a file name are also kept in testdata/ (go test ./gguf -update) to seed FuzzOpen.
type malformedCase struct {
	name string
	file string
	data []byte
	is   error
	off  int64
}

func magic() *raw { r := &raw{}; r.WriteString("GGUF"); return r }

func kv1() *raw { return header(0, 1).str("k") } // one KV with key "k"; its value type is at 33

func malformedCases(t testing.TB) []malformedCase {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden_model.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	pad := func(r *raw) []byte { return r.zeros(200 - min(r.Len(), 200)).Bytes() }
	long := strings.Repeat("n", 64)
	aligned := func(r *raw, extra int) []byte {
		return r.zeros(int(alignUp(uint64(r.Len()), 32)) - r.Len() + extra).Bytes()
	}
	return []malformedCase{
		{"empty", "", nil, ErrFormat, 0},
		{"bad magic", "bad_magic.gguf", append([]byte("GGML"), golden[4:200]...), ErrFormat, 0},
		{"version 1", "", pad(magic().u32(1).u64(0).u64(0)), ErrUnsupported, 4},
		{"version 4", "", magic().u32(4).u64(0).u64(0).Bytes(), ErrUnsupported, 4},
		{"big-endian", "", magic().u32(0x03000000).u64(0).u64(0).Bytes(), ErrUnsupported, 4},
		{"header truncated", "", []byte("GGUF\x03\x00\x00\x00\x01"), ErrFormat, 8},
		{"2^40 tensors in 200 bytes", "bad_huge_tensor_count.gguf", pad(header(1<<40, 0)), ErrTooLarge, 8},
		{"negative tensor count", "", pad(header(1<<63, 0)), ErrTooLarge, 8},
		{"1000 tensors in 200 bytes", "", pad(header(1000, 0)), ErrFormat, 8},
		{"2^40 kvs", "", pad(header(0, 1<<40)), ErrTooLarge, 16},
		{"2^60-byte key", "", pad(header(0, 1).u64(1 << 60)), ErrTooLarge, 24},
		{"empty key", "", pad(header(0, 1).str("").u32(0).u8(0)), ErrFormat, 24},
		{"2^60-byte string", "bad_huge_string.gguf", pad(kv1().u32(uint32(ValueString)).u64(1 << 60)), ErrTooLarge, 37},
		{"string past end", "", kv1().u32(uint32(ValueString)).u64(100).zeros(10).Bytes(), ErrFormat, 37},
		{"value type 13", "", pad(kv1().u32(13)), ErrFormat, 33},
		{"nested array", "bad_nested_array.gguf", pad(kv1().u32(9).u32(9).u64(1).u32(0).u64(1).u8(0)), ErrUnsupported, 37},
		{"array element type 200", "", pad(kv1().u32(9).u32(200).u64(1)), ErrFormat, 37},
		{"2^40-element array", "", pad(kv1().u32(9).u32(0).u64(1 << 40)), ErrTooLarge, 41},
		{"array past end", "", pad(kv1().u32(9).u32(uint32(ValueUint64)).u64(1000)), ErrFormat, 41},
		{"string array past end", "", pad(kv1().u32(9).u32(uint32(ValueString)).u64(100)), ErrFormat, 41},
		{"2^60-byte string element", "", pad(kv1().u32(9).u32(uint32(ValueString)).u64(2).u64(1 << 60)), ErrTooLarge, 49},
		{"bool 2", "", pad(kv1().u32(uint32(ValueBool)).u8(2)), ErrFormat, 37},
		{"bool array 7", "", pad(kv1().u32(9).u32(uint32(ValueBool)).u64(3).u8(1).u8(0).u8(7)), ErrFormat, 51},
		{"duplicate key", "", pad(header(0, 2).str("k").u32(0).u8(1).str("k").u32(0).u8(2)), ErrFormat, 38},
		{"alignment UINT64", "", pad(header(0, 1).str(alignmentKey).u32(uint32(ValueUint64)).u64(32)), ErrFormat, 49},
		{"alignment 48", "bad_alignment.gguf", pad(header(0, 1).str(alignmentKey).u32(uint32(ValueUint32)).u32(48)), ErrFormat, 49},
		{"alignment 0", "", pad(header(0, 1).str(alignmentKey).u32(uint32(ValueUint32)).u32(0)), ErrFormat, 49},
		{"alignment 2^20", "", pad(header(0, 1).str(alignmentKey).u32(uint32(ValueUint32)).u32(1 << 20)), ErrTooLarge, 49},
		{"64-byte tensor name", "", pad(header(1, 0).tensorInfo(long, TypeF32, 0, 1)), ErrFormat, 24},
		{"duplicate tensor name", "bad_duplicate_tensor.gguf", aligned(header(2, 0).tensorInfo("a", TypeF32, 0, 1).tensorInfo("a", TypeF32, 32, 1), 64), ErrFormat, 57},
		{"5 dims", "", pad(header(1, 0).tensorInfo("a", TypeF32, 0, 1, 1, 1, 1, 1)), ErrFormat, 33},
		{"negative dim", "", pad(header(1, 0).tensorInfo("a", TypeF32, 0, 1<<63)), ErrFormat, 37},
		{"element count overflow", "", pad(header(1, 0).tensorInfo("a", TypeF32, 0, 1<<32, 1<<32)), ErrTooLarge, 33},
		{"byte size overflow", "", pad(header(1, 0).tensorInfo("a", TypeF64, 0, 1<<61, 2)), ErrTooLarge, 33},
		{"unknown tensor type", "", pad(header(1, 0).tensorInfo("a", 99, 0, 1)), ErrUnsupported, 45},
		{"removed tensor type 4", "", pad(header(1, 0).tensorInfo("a", 4, 0, 32)), ErrUnsupported, 45},
		{"partial Q8_0 block", "bad_partial_block.gguf", aligned(header(1, 0).tensorInfo("a", TypeQ8_0, 0, 16, 2), 64), ErrFormat, 33},
		{"misaligned offset", "", aligned(header(1, 0).tensorInfo("a", TypeF32, 4, 1), 32), ErrFormat, 49},
		{"tensor past end", "bad_tensor_past_eof.gguf", aligned(header(1, 0).tensorInfo("a", TypeF32, 0, 100), 8), ErrFormat, 49},
		{"offset near 2^64", "", aligned(header(1, 0).tensorInfo("a", TypeF32, 1<<64-32, 1), 32), ErrFormat, 49},
		{"tensor info truncated", "", header(1, 0).str("a").u32(1).u64(1).u32(0).u32(0).Bytes(), ErrFormat, 49},
		{"data section past end", "", header(1, 0).tensorInfo("a", TypeF32, 0, 0).Bytes(), ErrFormat, 64},
		{"truncated golden", "bad_truncated.gguf", golden[:len(golden)-29], ErrFormat, -1},
	}
}

func TestOpenMalformed(t *testing.T) {
	for _, tc := range malformedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			checkMalformed(t, tc, tc.data)
		})
	}
}

func checkMalformed(t *testing.T, tc malformedCase, data []byte) {
	t.Helper()
	f, err := Open(bytes.NewReader(data), int64(len(data)))
	if err == nil {
		t.Fatalf("Open succeeded: %d KVs, %d tensors", len(f.KVs), len(f.Tensors))
	}
	if !errors.Is(err, tc.is) {
		t.Fatalf("err = %v, want %v", err, tc.is)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v is not a *FormatError", err)
	}
	if tc.off >= 0 && fe.Offset != tc.off {
		t.Errorf("offset %d, want %d (%v)", fe.Offset, tc.off, err)
	}
}

// TestMalformedFiles checks the crafted files kept in testdata/ (rewritten with -update).
func TestMalformedFiles(t *testing.T) {
	for _, tc := range malformedCases(t) {
		if tc.file == "" {
			continue
		}
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tc.file, func(t *testing.T) { checkMalformed(t, tc, data) })
	}
}

// TestOpenHostileCountsUseLittleMemory: absurd counts fail before any allocation they drive.
func TestOpenHostileCountsUseLittleMemory(t *testing.T) {
	for _, tc := range malformedCases(t) {
		if tc.is != ErrTooLarge {
			continue
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			Open(bytes.NewReader(tc.data), int64(len(tc.data)))
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 256<<10 {
			t.Errorf("%s: Open allocated %d bytes", tc.name, per)
		}
	}
}

// TestOpenSizeLargerThanData: a caller-supplied size beyond the real data fails cleanly.
func TestOpenSizeLargerThanData(t *testing.T) {
	b := writeBytes(t, sampleWriter(t, 32))
	_, err := Open(bytes.NewReader(b[:100]), int64(len(b)))
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("err = %v", err)
	}
	f := openBytes(t, b)
	f.r = bytes.NewReader(b[:len(b)-60])
	if _, err := f.ReadTensorF32(f.Tensors[len(f.Tensors)-2].Name); !errors.Is(err, ErrFormat) {
		t.Fatalf("ReadTensorF32 on short data: %v", err)
	}
}
