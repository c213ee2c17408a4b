// Command gengguf writes GGUF files with package gguf's Writer for the interop test
// scripts/tests/gguf-interop.test.mjs: a llama-shaped model and an adapter-shaped file that
// together use all 13 metadata value types, arrays of every scalar type and of strings, and
// F32/F16/BF16/Q8_0/Q4_0 tensors, plus expect.json describing what was written.
//
// Usage: go run ./gguf/internal/gengguf OUTDIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/webtune/webtune/gguf"
)

// expectFile is what one written file should read back as. 64-bit integers are decimal strings
// so JavaScript can compare them exactly as BigInt.
type expectFile struct {
	File       string         `json:"file"`
	Version    int            `json:"version"`
	Alignment  uint32         `json:"alignment"`
	DataOffset int64          `json:"dataOffset"`
	KVs        []expectKV     `json:"kvs"`
	Tensors    []expectTensor `json:"tensors"`
}

type expectKV struct {
	Key      string  `json:"key"`
	Type     uint32  `json:"type"`
	ElemType *uint32 `json:"elemType,omitempty"`
	Value    any     `json:"value"`
}

type expectTensor struct {
	Name     string   `json:"name"`
	Type     uint32   `json:"type"`
	TypeName string   `json:"typeName"`
	Dims     []uint64 `json:"dims"`
	Offset   uint64   `json:"offset"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gengguf OUTDIR")
		os.Exit(1)
	}
	dir := os.Args[1]
	var files []expectFile
	for _, spec := range []struct {
		file      string
		alignment uint32
		kvs       []gguf.KV
		tensors   []tensorSpec
	}{
		{"model.gguf", 32, modelKVs(), modelTensors()},
		{"adapter.gguf", 64, adapterKVs(), adapterTensors()},
	} {
		ef, err := write(filepath.Join(dir, spec.file), spec.alignment, spec.kvs, spec.tensors)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gengguf:", err)
			os.Exit(1)
		}
		ef.File = spec.file
		files = append(files, ef)
	}
	b, err := json.MarshalIndent(map[string]any{"files": files}, "", " ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "expect.json"), b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gengguf:", err)
		os.Exit(1)
	}
}

// write writes one file and reads it back with our reader to fill in the expectations.
func write(path string, alignment uint32, kvs []gguf.KV, tensors []tensorSpec) (expectFile, error) {
	var ef expectFile
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return ef, err
		}
	}
	if alignment != gguf.DefaultAlignment {
		if err := w.SetAlignment(alignment); err != nil {
			return ef, err
		}
	}
	seed := uint64(len(tensors))
	for _, t := range tensors {
		n := 1
		for _, d := range t.dims {
			n *= int(d)
		}
		x := values(n, &seed)
		for i := range x {
			x[i] = t.offset + t.scale*x[i]
		}
		if err := w.AddTensorF32(t.name, t.dims, x, t.typ); err != nil {
			return ef, err
		}
	}
	fh, err := os.Create(path)
	if err != nil {
		return ef, err
	}
	if _, err := w.WriteTo(fh); err != nil {
		fh.Close()
		return ef, err
	}
	if err := fh.Close(); err != nil {
		return ef, err
	}
	fh, err = os.Open(path)
	if err != nil {
		return ef, err
	}
	defer fh.Close()
	st, _ := fh.Stat()
	f, err := gguf.Open(fh, st.Size())
	if err != nil {
		return ef, err
	}
	ef = expectFile{Version: int(f.Version), Alignment: uint32(f.Alignment), DataOffset: f.DataOffset}
	for _, kv := range f.KVs {
		e := expectKV{Key: kv.Key, Type: uint32(kv.Value.Type()), Value: jsonValue(kv.Value.Any())}
		if kv.Value.Type() == gguf.ValueArray {
			et := uint32(kv.Value.ElemType())
			e.ElemType = &et
		}
		ef.KVs = append(ef.KVs, e)
	}
	for _, ti := range f.Tensors {
		ef.Tensors = append(ef.Tensors, expectTensor{ti.Name, uint32(ti.Type), ti.Type.String(), ti.Dims, ti.Offset})
	}
	return ef, nil
}

// jsonValue turns 64-bit integers into decimal strings, float32 into the exact float64 and
// []uint8 into numbers.
func jsonValue(v any) any {
	switch x := v.(type) {
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case []uint64:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = strconv.FormatUint(e, 10)
		}
		return out
	case []int64:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = strconv.FormatInt(e, 10)
		}
		return out
	case float32:
		return float64(x) // exact widening: JS reads the float32 as this double
	case []float32:
		out := make([]float64, len(x))
		for i, e := range x {
			out[i] = float64(e)
		}
		return out
	case []uint8:
		out := make([]int, len(x))
		for i, e := range x {
			out[i] = int(e)
		}
		return out
	}
	return v
}

// values returns n deterministic pseudo-random values in [-1, 1) with some larger outliers.
func values(n int, seed *uint64) []float32 {
	x := make([]float32, n)
	for i := range x {
		*seed = *seed*6364136223846793005 + 1442695040888963407
		v := float32(*seed>>40)/float32(1<<24)*2 - 1
		if i%97 == 0 {
			v *= 8
		}
		x[i] = v
	}
	return x
}
