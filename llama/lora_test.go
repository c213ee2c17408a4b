package llama

import (
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/tensor"
)

// allTargets are the eight LoRA target kinds of a llama model.
var allTargets = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "output"}

// randomizeB gives every LoRA B a non-zero value so that dA is exercised.
func randomizeB(m *Model[float64], seed uint64) {
	r := rand.New(rand.NewPCG(seed, 5))
	for _, l := range m.Layers() {
		if ll, ok := l.(*lora.LoraLinear[float64]); ok {
			for i := range ll.B.Value.Data() {
				ll.B.Value.Data()[i] = r.NormFloat64() * 0.3
			}
		}
	}
}

func TestModelGradWithPackageLoRA(t *testing.T) {
	for _, qlora := range []bool{false, true} {
		cfg := TinyConfig()
		if qlora {
			cfg = quantConfig() // NF4 blocks of 32..4096 need wider layers
		}
		m := NewRandom[float64](cfg, 44)
		if qlora {
			if err := m.QuantizeNF4(nf4.Options{BlockSize: 32}); err != nil {
				t.Fatal(err)
			}
		}
		if err := lora.InjectLoRA(m, 2, 4, allTargets, tensor.NewCPU[float64]()); err != nil {
			t.Fatal(err)
		}
		randomizeB(m, 1)
		if n := len(m.Parameters()); n != 2*(7*cfg.Layers+1) {
			t.Fatalf("qlora=%v: %d trainable parameters, want A and B of %d layers", qlora, n, 7*cfg.Layers+1)
		}
		if m.Architecture() != lora.ModelArchitecture[float64](m) {
			t.Fatal("architecture not seen by lora")
		}
		tokens, targets := tinyBatch(cfg, 2, 5, 9)
		checkModelGrads(t, m, tokens, targets)
	}
}
