// Command webgpuattngen writes random attention inputs and package kernels'
// AttentionForward/AttentionBackward results on them (float32, the default Go
// engine llama.DefaultEngine): the references
// scripts/tests/webgpu-attention.test.mjs checks web/gpu/attention.js against.
//
//	go run ./scripts/tests/webgpuattngen -out DIR [-seed 1]
//
// DIR gets manifest.json ([{name, B, T, NH, NKV, HS, scale, window, acc,
// files}]) and per case and array NAME.ARRAY.f32 (little-endian float32):
// the inputs q, k, v, dout and dq0, dk0, dv0 (what dq, dk, dv hold before the
// backward: random when acc, else zero), and the results out, att, dq, dk, dv.
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

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/llama"
)

type testCase struct {
	Name              string `json:"name"`
	B, T, NH, NKV, HS int
	Scale             float64           `json:"scale"` // the float32 score scale, exactly
	Window            int               `json:"window"`
	Acc               bool              `json:"acc"` // dq, dk, dv start non-zero (backward's +=)
	Files             map[string]string `json:"files"`
}

// cases: odd T (not a multiple of the 16-wide tiles), MHA and GQA, a window
// shorter than T, head sizes 16, 64 and 256 (gemma3), gemma's score scale
// 1/√(C/NH) beside the default 1/√HS.
func cases() []testCase {
	gemma := float64(float32(1 / math.Sqrt(1152.0/4)))
	def := func(hs int) float64 { return float64(float32(1 / math.Sqrt(float64(hs)))) }
	return []testCase{
		{Name: "mha-hs16", B: 2, T: 37, NH: 3, NKV: 3, HS: 16, Scale: def(16)},
		{Name: "gqa-hs16-window5-acc", B: 2, T: 37, NH: 6, NKV: 2, HS: 16, Scale: def(16), Window: 5, Acc: true},
		{Name: "gemma-hs256-window5-acc", B: 2, T: 37, NH: 4, NKV: 1, HS: 256, Scale: gemma, Window: 5, Acc: true},
		{Name: "gemma-hs256-global", B: 2, T: 37, NH: 4, NKV: 1, HS: 256, Scale: gemma},
		{Name: "gqa-hs64-t70-acc", B: 1, T: 70, NH: 14, NKV: 2, HS: 64, Scale: def(64), Acc: true},
		{Name: "gqa-hs64-window-over-t", B: 2, T: 21, NH: 9, NKV: 3, HS: 64, Scale: def(64), Window: 40},
		// windows 2 and 16 put a mask edge on a tile edge (score tiles skipped or not)
		{Name: "gqa-hs16-window2", B: 2, T: 37, NH: 4, NKV: 2, HS: 16, Scale: def(16), Window: 2, Acc: true},
		{Name: "mha-hs16-window16", B: 2, T: 37, NH: 2, NKV: 2, HS: 16, Scale: def(16), Window: 16},
		{Name: "t1", B: 2, T: 1, NH: 2, NKV: 1, HS: 8, Scale: def(8), Acc: true},
	}
}

func main() {
	out := flag.String("out", "", "directory to write into (required)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "webgpuattngen: -out DIR is required")
		os.Exit(2)
	}
	if err := run(*out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "webgpuattngen:", err)
		os.Exit(1)
	}
}

func run(dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	eng := llama.DefaultEngine[float32]()
	var man []testCase
	for ci, c := range cases() {
		r := rand.New(rand.NewPCG(seed, uint64(ci)))
		uni := func(n int, amp float32) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = amp * (2*r.Float32() - 1)
			}
			return x
		}
		nq, nkv := c.B*c.T*c.NH*c.HS, c.B*c.T*c.NKV*c.HS
		// q and k large enough that the softmax rows are far from uniform.
		q, k, v, dout := uni(nq, 2), uni(nkv, 2), uni(nkv, 1), uni(nq, 1)
		dq, dk, dv := make([]float32, nq), make([]float32, nkv), make([]float32, nkv)
		if c.Acc {
			dq, dk, dv = uni(nq, 1), uni(nkv, 1), uni(nkv, 1)
		}
		arrays := map[string][]float32{"q": q, "k": k, "v": v, "dout": dout,
			"dq0": clone(dq), "dk0": clone(dk), "dv0": clone(dv)}
		o, att := make([]float32, nq), make([]float32, c.B*c.NH*c.T*c.T)
		sh := kernels.Attn{B: c.B, Tq: c.T, Tk: c.T, NH: c.NH, NKV: c.NKV, HS: c.HS, Scale: c.Scale, Window: c.Window}
		kernels.AttentionForward(eng, o, att, q, k, v, sh)
		kernels.AttentionBackward(eng, dq, dk, dv, dout, q, k, v, att, sh)
		arrays["out"], arrays["att"], arrays["dq"], arrays["dk"], arrays["dv"] = o, att, dq, dk, dv
		c.Files = map[string]string{}
		for name, x := range arrays {
			f := c.Name + "." + name + ".f32"
			if err := os.WriteFile(filepath.Join(dir, f), f32bytes(x), 0o644); err != nil {
				return err
			}
			c.Files[name] = f
		}
		man = append(man, c)
	}
	j, err := json.MarshalIndent(man, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), j, 0o644)
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

func f32bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
