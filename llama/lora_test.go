package llama

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/webtune/webtune/gguf"
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

func TestSetTrainingTurnsOffDropout(t *testing.T) {
	cfg := TinyConfig()
	m := NewRandom[float64](cfg, 45)
	if err := lora.InjectLoRA(m, 2, 4, []string{"all-linear"}, tensor.NewCPU[float64](), lora.WithDropout(0.5), lora.WithSeed(1)); err != nil {
		t.Fatal(err)
	}
	randomizeB(m, 2)
	tokens, _ := tinyBatch(cfg, 1, 5, 3)
	a, b := logitsOf(t, m, tokens), logitsOf(t, m, tokens)
	if maxDiff(a, b) == 0 {
		t.Fatal("dropout had no effect in training mode")
	}
	m.SetTraining(false)
	a, b = logitsOf(t, m, tokens), logitsOf(t, m, tokens)
	if maxDiff(a, b) != 0 {
		t.Fatal("outputs vary with training off")
	}
}

func TestSaveRefusesAdapterThenMergeSaves(t *testing.T) {
	cfg := TinyConfig()
	base := NewRandom[float64](cfg, 46)
	if err := lora.InjectLoRA(base, 2, 4, allTargets, tensor.NewCPU[float64]()); err != nil {
		t.Fatal(err)
	}
	randomizeB(base, 3)
	tokens, _ := tinyBatch(cfg, 1, 6, 4)
	want := logitsOf(t, base, tokens)
	var buf bytes.Buffer
	if err := Save(&buf, base); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("saving a LoRA-wrapped model: %v", err)
	}
	if err := lora.Merge(base); err != nil {
		t.Fatal(err)
	}
	merged, err := load[float64](saved(t, base, gguf.TypeF32), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// F32 storage of the merged weights costs ~1e-7 relative
	if d := maxDiff(logitsOf(t, merged, tokens), want); d > 1e-5 {
		t.Fatalf("merged model logits differ by %g", d)
	}
	buf.Reset()
	err = Save(&buf, merged, gguf.KV{Key: "tokenizer.ggml.tokens", Value: gguf.Strings(make([]string, 5))})
	if !errors.Is(err, ErrShape) {
		t.Fatalf("tokens of the wrong length: %v", err)
	}
}

// Model satisfies lora.Model and the optional lora interfaces.
var (
	_ lora.Model[float32]  = (*Model[float32])(nil)
	_ lora.Architecturer   = (*Model[float32])(nil)
	_ lora.BaseTensorNamer = (*Model[float32])(nil)
)
