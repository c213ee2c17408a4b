package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webtune/webtune/llama"
)

// TestWritePlan checks what webgpu-node.mjs relies on: plan.json has the
// JS plan's fields, every blob it names exists with the size its shape
// implies, the per-row reference losses average to the CPU's mean loss,
// and the reference gradients are nonzero in every LoRA A and B (so the
// GPU check compares something).
func TestWritePlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  llama.Config
	}{{"llama", llama.TinyConfig()}, {"gemma3", llama.TinyGemma3Config()}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := llama.NewRandom[float32](tc.cfg, 1)
			const T = 6
			if err := writePlan(m, tc.name, "random", dir, T, 2, 4, []string{"attn_q", "attn_v"}, 3, false); err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			num := func(k string) int { return int(p[k].(float64)) }
			C, L, V, HS, P := num("C"), num("L"), num("V"), num("HS"), num("P")
			floats := func(name any, want int, what string) []float32 {
				t.Helper()
				s, ok := name.(string)
				if !ok {
					t.Fatalf("%s: %v is not a blob name", what, name)
				}
				b, err := os.ReadFile(filepath.Join(dir, s))
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != 4*want {
					t.Fatalf("%s: %d bytes, want %d values", what, len(b), want)
				}
				v := make([]float32, want)
				for i := range v {
					v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				}
				return v
			}
			floats(p["ropeCos"], P*HS/2, "ropeCos")
			floats(p["outputNorm"], C, "outputNorm")
			if (p["ropeCosLocal"] != nil) != (tc.name == "gemma3") {
				t.Errorf("ropeCosLocal = %v for %s", p["ropeCosLocal"], tc.name)
			}
			weights := p["weights"].(map[string]any)
			for k, w := range weights {
				w := w.(map[string]any)
				rows, cols := int(w["rows"].(float64)), int(w["cols"].(float64))
				if w["type"] != "F32" {
					t.Fatalf("%s: type %v, want F32 for a random float model", k, w["type"])
				}
				floats(w["file"], rows*cols, k)
			}
			layers := p["layers"].([]any)
			if len(layers) != L {
				t.Fatalf("%d layers, want %d", len(layers), L)
			}
			for _, ly := range layers {
				for _, s := range []string{"q", "k", "v", "o", "gate", "up", "down"} {
					sl := ly.(map[string]any)[s].(map[string]any)
					if _, ok := weights[sl["w"].(string)]; !ok {
						t.Fatalf("slot %s names weight %v, not in plan.weights", s, sl["w"])
					}
				}
			}
			if _, ok := weights[p["embed"].(string)]; !ok {
				t.Fatalf("embed %v not in plan.weights", p["embed"])
			}
			loras := p["loras"].([]any)
			if len(loras) != 2*L {
				t.Fatalf("%d LoRA pairs, want %d (attn_q, attn_v per layer)", len(loras), 2*L)
			}
			n := num("loraFloats")
			floats(p["lora"], n, "lora")
			batch := p["batch"].(map[string]any)
			for _, k := range []string{"tokens", "targets"} {
				for i, id := range floats(batch[k], T, k) {
					if v := int32(math.Float32bits(id)); v < 0 || int(v) >= V {
						t.Fatalf("%s[%d] = %d outside [0, %d)", k, i, v, V)
					}
				}
			}
			ref := p["reference"].(map[string]any)
			losses := floats(ref["losses"], T, "reference losses")
			var sum float64
			for _, l := range losses {
				sum += float64(l)
			}
			if mean := ref["meanLoss"].(float64); math.Abs(sum/T-mean) > 1e-5*mean {
				t.Errorf("per-row losses average %g, the CPU's mean loss is %g", sum/T, mean)
			}
			g := floats(ref["grads"], n, "reference grads")
			o := 0
			for i, lo := range loras {
				lo := lo.(map[string]any)
				r, in, out := int(lo["r"].(float64)), int(lo["in"].(float64)), int(lo["out"].(float64))
				for _, part := range []struct {
					name string
					n    int
				}{{"A", r * in}, {"B", out * r}} {
					nz := false
					for _, x := range g[o : o+part.n] {
						nz = nz || x != 0
					}
					if !nz {
						t.Errorf("loras[%d] %s: all reference gradients are zero", i, part.name)
					}
					o += part.n
				}
			}
		})
	}
}

// TestRunRefuses names bad flags.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		model, shape, out string
		seqLen            int
		want              string
	}{
		{"a.gguf", "", "", 8, "-out"},
		{"a.gguf", "smollm2-135m", "x", 8, "exactly one"},
		{"", "", "x", 8, "exactly one"},
		{"a.gguf", "", "x", 1, "-seqlen"},
	} {
		err := run(tc.model, tc.shape, tc.out, "", tc.seqLen, 8, 16, []string{"attn_q"}, 1, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q, %q, %q, seqlen %d): %v, want an error naming %q", tc.model, tc.shape, tc.out, tc.seqLen, err, tc.want)
		}
	}
}
