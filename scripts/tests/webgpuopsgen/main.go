// Command webgpuopsgen writes the cases scripts/tests/webgpu-ops.test.mjs
// runs through the WebGPU ops of web/gpu/ops.js: random inputs and what
// the Go CPU kernels (package kernels; products in float64 on weights
// dequantized by package gguf) make of them.
//
//	go run ./scripts/tests/webgpuopsgen -out DIR [-seed 1]
//
// DIR gets manifest.json and one little-endian file per array. A case names
// the op, its scalar arguments, each buffer argument's initial contents (an
// output's too: "+=" ops add into nonzero values, "=" ops must overwrite
// them) or an alias of another argument (out = x), an optional resident
// weight (its stored bytes, and a binding cap that splits it into row
// ranges), and for each output the expected buffer after the op with the
// scale its error is measured against: max |expected| over the buffer, or
// per element Σ|a·b| (+ |prior value|) for products.
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
)

// buffer is a buffer argument: a file of Len elements of Type (f32, i32, u32), or Alias of another argument.
type buffer struct {
	File  string `json:"file,omitempty"`
	Type  string `json:"type,omitempty"`
	Len   int    `json:"len,omitempty"`
	Alias string `json:"alias,omitempty"`
}

// output is an argument to read back after the op and compare with Ref.
type output struct {
	Arg    string  `json:"arg"`
	Ref    string  `json:"ref"`
	Len    int     `json:"len"`
	Scale  float64 `json:"scale,omitempty"`
	Scales string  `json:"scales,omitempty"`
}

// weight is a resident weight argument: stored bytes of Type [Rows×Cols], uploaded under a binding cap when Cap > 0.
type weight struct {
	Arg  string `json:"arg"`
	Type string `json:"type"`
	File string `json:"file"`
	Rows int    `json:"rows"`
	Cols int    `json:"cols"`
	Cap  int    `json:"cap,omitempty"`
}

type testCase struct {
	Name    string            `json:"name"`
	Op      string            `json:"op"`
	Args    map[string]any    `json:"args"`
	Bufs    map[string]buffer `json:"bufs"`
	Weight  *weight           `json:"weight,omitempty"`
	Outs    []output          `json:"outs"`
	Product bool              `json:"product,omitempty"`
}

type gen struct {
	dir   string
	files int
	rng   *rand.Rand
	cases []testCase
}

func main() {
	out := flag.String("out", "", "directory to write into (required)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "webgpuopsgen: -out DIR is required")
		os.Exit(2)
	}
	if err := run(*out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "webgpuopsgen:", err)
		os.Exit(1)
	}
}

func run(dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	g := &gen{dir: dir, rng: rand.New(rand.NewPCG(seed, 7))}
	if err := g.products(seed); err != nil {
		return err
	}
	g.norms()
	g.rope()
	g.activations()
	g.elementwise()
	g.crossEntropy()
	j, err := json.MarshalIndent(g.cases, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), j, 0o644)
}

// ---- files and random arrays ----

func (g *gen) write(data []byte) string {
	g.files++
	name := fmt.Sprintf("a%04d.bin", g.files)
	if err := os.WriteFile(filepath.Join(g.dir, name), data, 0o644); err != nil {
		panic(err) // the directory was writable a moment ago: a bug or a full disk
	}
	return name
}

func (g *gen) f32(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return g.write(b)
}

func (g *gen) ints(v []int) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(x)))
	}
	return g.write(b)
}

// in is a float32 buffer argument with the contents v.
func (g *gen) in(v []float32) buffer { return buffer{File: g.f32(v), Type: "f32", Len: len(v)} }

// out is an output whose expected contents are ref, measured against max |ref|.
func (g *gen) out(arg string, ref []float32) output {
	s := 0.0
	for _, x := range ref {
		s = max(s, math.Abs(float64(x)))
	}
	return output{Arg: arg, Ref: g.f32(ref), Len: len(ref), Scale: s}
}

func (g *gen) uniform(n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*g.rng.Float32()
	}
	return v
}

func (g *gen) normal(n int, sd float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(g.rng.NormFloat64()) * sd
	}
	return v
}

func clone(v []float32) []float32 { return append([]float32(nil), v...) }

func (g *gen) add(c testCase) { g.cases = append(g.cases, c) }
