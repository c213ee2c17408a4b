package llama

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tensor"
)

// TestPlanGPU checks that a plan describes every family's model as the CPU
// forward runs it: the recipe flags, each layer's vectors (the model's own
// storage, not copies), window and scale, the rope tables, the tied head,
// and the LoRA pairs with their scales, in slot order.
func TestPlanGPU(t *testing.T) {
	for _, ac := range archCases() {
		t.Run(ac.name, func(t *testing.T) {
			m := NewRandom[float32](ac.cfg, 3)
			m.RopeFreqs = ac.ropeFreqs
			targets := []string{"attn_q", "attn_v", "ffn_down"}
			if !ac.cfg.TiedOutput { // llama.cpp applies no LoRA to a tied head
				targets = append(targets, "output")
			}
			if err := lora.InjectLoRA(m, 2, 8, targets, tensor.NewCPU[float32]()); err != nil {
				t.Fatal(err)
			}
			p, err := PlanGPU(m, 12)
			if err != nil {
				t.Fatal(err)
			}
			c, r := m.Config, m.Config.recipe()
			if p.Arch != c.Architecture() || p.C != c.Dim || p.L != c.Layers || p.NH != c.Heads || p.NKV != c.KVHeads ||
				p.HS != c.HeadDim || p.F != c.FFN || p.V != c.VocabSize || p.Eps != c.Eps {
				t.Fatalf("shape %+v does not match config %+v", p, c)
			}
			if p.GELU != r.GELU || p.Softcap != c.FinalSoftcap || p.EmbedScale != m.embedScale() {
				t.Fatalf("gelu %v softcap %v embed scale %v", p.GELU, p.Softcap, p.EmbedScale)
			}
			if p.Neox != (r.Rope == kernels.RopeNeox) || (p.Arch == "llama" && p.Neox) {
				t.Fatal("llama ropes adjacent pairs")
			}
			if p.Arch != "llama" && !p.Neox {
				t.Fatalf("%s ropes NEOX pairs", p.Arch)
			}
			if p.P < 12 || len(p.RopeCos) != p.P*c.HeadDim/2 || (c.SlidingWindow > 0) != (p.RopeCosLocal != nil) {
				t.Fatalf("rope tables: P %d, %d values, local %v", p.P, len(p.RopeCos), p.RopeCosLocal != nil)
			}
			if p.Tied != c.TiedOutput {
				t.Fatalf("tied %v, config %v", p.Tied, c.TiedOutput)
			}
			if len(p.LoRAs) != 3*c.Layers+len(targets)-3 || (p.OutputLoRA >= 0) != (len(targets) == 4) ||
				(p.OutputLoRA >= 0 && p.LoRAs[p.OutputLoRA].Slot != "output") {
				t.Fatalf("%d LoRA pairs, output %d", len(p.LoRAs), p.OutputLoRA)
			}
			if got, want := p.LoRAFloats(), lora.TrainableParamCount[float32](m); got != want {
				t.Fatalf("LoRA floats %d, trainable %d", got, want)
			}
			for l, g := range p.Layers {
				blk := m.Blocks[l]
				if &g.AttnNorm[0] != &blk.AttnNorm.Value.Data()[0] || (blk.QBias != nil) != (g.QBias != nil) ||
					(blk.QNorm != nil) != (g.QNorm != nil) || (blk.PostFFNNorm != nil) != (g.PostFFNNorm != nil) {
					t.Fatalf("layer %d vectors do not follow the block", l)
				}
				a := c.attn(l, 1, 1, 1)
				wantScale := float32(1 / math.Sqrt(float64(c.HeadDim)))
				if a.Scale != 0 {
					wantScale = float32(a.Scale)
				}
				if g.Window != a.Window || g.Local != c.IsLocal(l) || g.Scale != wantScale {
					t.Fatalf("layer %d: window %d local %v scale %v", l, g.Window, g.Local, g.Scale)
				}
				if g.K.LoRA != -1 || g.Q.LoRA < 0 || g.V.LoRA < 0 || g.Down.LoRA < 0 {
					t.Fatalf("layer %d LoRA slots q %d k %d v %d down %d", l, g.Q.LoRA, g.K.LoRA, g.V.LoRA, g.Down.LoRA)
				}
				q := p.LoRAs[g.Q.LoRA]
				ll := blk.Q.(*lora.LoraLinear[float32])
				if q.Layer != l || q.Slot != "q" || q.A != ll.A || q.B != ll.B || q.Scale != float32(ll.Scale()) || q.R != 2 ||
					q.In != c.Dim || q.Out != c.Heads*c.HeadDim {
					t.Fatalf("layer %d q pair %+v", l, q)
				}
				if g.Down.W.Rows != c.Dim || g.Down.W.Cols != c.FFN || len(g.Down.W.F32) != c.Dim*c.FFN {
					t.Fatalf("layer %d ffn_down weight %d×%d", l, g.Down.W.Rows, g.Down.W.Cols)
				}
			}
		})
	}
}

// TestPlanGPUQuantized: weights kept in their GGUF type and NF4 go into the
// plan as they are held, the tied quantized head is the embedding matrix,
// and WeightBytes counts it once.
func TestPlanGPUQuantized(t *testing.T) {
	cfg := mixedConfig(true)
	m, err := load[float32](mixedFile(t, cfg, map[string]gguf.TensorType{"token_embd.weight": gguf.TypeQ6_K,
		"attn_q.weight": gguf.TypeQ4_K, "attn_k.weight": gguf.TypeQ5_K, "attn_v.weight": gguf.TypeQ8_0,
		"attn_output.weight": gguf.TypeQ5_0, "ffn_gate.weight": gguf.TypeQ4_1, "ffn_up.weight": gguf.TypeQ5_1,
		"ffn_down.weight": gguf.TypeF16}), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanGPU(m, 8)
	if err != nil {
		t.Fatal(err)
	}
	if p.Embed.Quant == nil || !p.Tied || p.Output.Quant != p.Embed.Quant {
		t.Fatalf("tied quantized head not the embedding matrix: %+v", p.Output)
	}
	var want int64
	want += int64(len(p.Embed.Quant.Data()))
	for _, l := range p.Layers {
		for _, s := range []GPULinear{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			if s.W.Quant == nil {
				t.Fatalf("a %d×%d block weight is not held quantized", s.W.Rows, s.W.Cols)
			}
			want += int64(len(s.W.Quant.Data()))
		}
	}
	if p.WeightBytes() != want {
		t.Fatalf("weight bytes %d, want %d", p.WeightBytes(), want)
	}
}

// TestPlanGPURefuses names what the GPU step does not run.
func TestPlanGPURefuses(t *testing.T) {
	cases := []struct {
		name, want string
		setup      func(m *Model[float32]) error
	}{
		{"dropout", "no LoRA dropout", func(m *Model[float32]) error {
			return lora.InjectLoRA(m, 2, 4, []string{"attn_q"}, tensor.NewCPU[float32](), lora.WithDropout(0.1))
		}},
		{"full fine-tuning", "LoRA pairs only", func(m *Model[float32]) error { return m.SetTrainable(true) }},
		{"ggml emulation", "MatchGGML", func(m *Model[float32]) error {
			m.actTypes = map[string]gguf.TensorType{"blk.0.attn_q": gguf.TypeQ8_0}
			return nil
		}},
	}
	for _, tc := range cases {
		m := NewRandom[float32](TinyConfig(), 1)
		if err := tc.setup(m); err != nil {
			t.Fatal(err)
		}
		_, err := PlanGPU(m, 8)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrUnsupported naming %q", tc.name, err, tc.want)
		}
	}
}
