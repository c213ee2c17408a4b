// Command webgpugen writes random frozen weights in each GGUF type the
// WebGPU engine (web/gpu/engine.js) reads, as package quant and gguf encode
// them, together with their float32 dequantization by package gguf (ggml's
// arithmetic): the references scripts/tests/webgpu.test.mjs checks the
// GPU's in-kernel dequantizing products against; and an NF4 (QLoRA) weight
// packed by wasm/gpu.PackNF4Rows with its dequantization by package nf4.
//
//	go run ./scripts/tests/webgpugen -out DIR [-rows 37] [-seed 1]
//
// DIR gets manifest.json ([{type, rows, cols, bytes, floats}]) and, per
// type, TYPE.bin (the stored bytes) and TYPE.f32 (little-endian float32).
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/wasm/gpu"
)

type entry struct {
	Type   string `json:"type"`
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	Bytes  string `json:"bytes"`
	Floats string `json:"floats"`
	// NF4 only: its block size and 16 code values (uploadWeight's opts).
	BlockSize int       `json:"blockSize,omitempty"`
	Code      []float32 `json:"code,omitempty"`
}

func main() {
	out := flag.String("out", "", "directory to write into (required)")
	rows := flag.Int("rows", 37, "rows of each weight")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || *rows <= 0 {
		fmt.Fprintln(os.Stderr, "webgpugen: -out DIR is required and -rows must be positive")
		os.Exit(2)
	}
	if err := run(*out, *rows, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "webgpugen:", err)
		os.Exit(1)
	}
}

func run(dir string, rows int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	types := []gguf.TensorType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0,
		gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K}
	var man []entry
	for i, t := range types {
		// Columns: three 256-element blocks, five 32-element blocks, or 83 for the
		// plain types; the rows (37 by default) are not a multiple of the kernels' 16-wide tile.
		cols := 3 * 256
		if t.BlockSize() == 32 {
			cols = 5 * 32
		} else if t.BlockSize() == 1 {
			cols = 83
		}
		var data []byte
		var err error
		if t == gguf.TypeF32 {
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			data = make([]byte, 4*rows*cols)
			for j := range rows * cols {
				binary.LittleEndian.PutUint32(data[4*j:], math.Float32bits(0.5*(2*r.Float32()-1)))
			}
		} else if data, err = quant.Random(t, rows, cols, 0.5, seed+uint64(i)); err != nil {
			return err
		}
		f := make([]float32, rows*cols)
		if err := gguf.Decode(t, f, data); err != nil {
			return fmt.Errorf("%v: %w", t, err)
		}
		fb := make([]byte, 4*len(f))
		for j, v := range f {
			binary.LittleEndian.PutUint32(fb[4*j:], math.Float32bits(v))
		}
		name := t.String()
		e := entry{Type: name, Rows: rows, Cols: cols, Bytes: name + ".bin", Floats: name + ".f32"}
		if err := os.WriteFile(filepath.Join(dir, e.Bytes), data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Floats), fb, 0o644); err != nil {
			return err
		}
		man = append(man, e)
	}
	// NF4 (QLoRA) with double quantization, rows packed as wasm/gpu sends them.
	const nf4Cols = 3 * 64
	r := rand.New(rand.NewPCG(seed, 99))
	v := make([]float32, rows*nf4Cols)
	for i := range v {
		v[i] = 0.5 * (2*r.Float32() - 1)
	}
	t, err := nf4.Quantize(v, rows, nf4Cols, nf4.Options{BlockSize: 64, DoubleQuant: true})
	if err != nil {
		return err
	}
	f := make([]float32, rows*nf4Cols)
	t.Dequantize(f)
	data, err := gpu.PackNF4Rows(t)
	if err != nil {
		return err
	}
	fb := make([]byte, 4*len(f))
	for j, x := range f {
		binary.LittleEndian.PutUint32(fb[4*j:], math.Float32bits(x))
	}
	code := nf4.Code()
	e := entry{Type: "NF4", Rows: rows, Cols: nf4Cols, Bytes: "NF4.bin", Floats: "NF4.f32", BlockSize: 64, Code: code[:]}
	if err := os.WriteFile(filepath.Join(dir, e.Bytes), data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, e.Floats), fb, 0o644); err != nil {
		return err
	}
	man = append(man, e)
	j, err := json.MarshalIndent(man, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), j, 0o644)
}
