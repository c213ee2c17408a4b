package train

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tokenizer"
)

var allLinear = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// loraModel returns the tiny model with rank-4 LoRA on every block linear;
// under qlora the block weights are NF4 (the model goes through GGUF bytes
// and llama.Load, as the CLI does).
func loraModel(t testing.TB, qlora bool) *llama.Model[float32] {
	t.Helper()
	m := llama.NewRandom[float32](tinyConfig(), 11)
	if qlora {
		tok, err := tokenizer.New(tokenizer.ByteVocab())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := llama.Save(&buf, m, tok.GGUFKVs()...); err != nil {
			t.Fatal(err)
		}
		if m, _, err = llama.Load[float32](bytes.NewReader(buf.Bytes()), int64(buf.Len()), llama.LoadOptions{QLoRA: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := lora.InjectLoRA[float32](m, 4, 8, allLinear, m.Engine(), lora.WithSeed(5)); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenFirstLossesLoRA pins the first losses of a seeded LoRA and
// QLoRA run. Regenerate (print r.Losses()) only for an intended change to
// the model, the LoRA init or the data order.
func TestGoldenFirstLossesLoRA(t *testing.T) {
	for _, tc := range []struct {
		qlora  bool
		golden []float64
	}{
		{false, []float64{5.76284, 5.73159, 5.63663, 5.63081, 5.63617}},
		{true, []float64{5.76329, 5.73906, 5.64138, 5.63783, 5.64366}},
	} {
		m := loraModel(t, tc.qlora)
		r, err := New[float32](m, Tokenize(byteTokenizer(t), sampleText),
			Config{SeqLen: 16, Batch: 2, GradAccum: 2, Steps: 5, LR: 1e-2, Warmup: -1, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		ls := r.Losses()
		for i, g := range tc.golden {
			if math.Abs(ls[i]-g) > 2e-4 {
				t.Errorf("qlora=%v: loss[%d] = %.5f, want %.5f (all %v)", tc.qlora, i, ls[i], g, ls)
			}
		}
		if !(ls[4] < ls[0]) {
			t.Errorf("qlora=%v: loss does not fall: %v", tc.qlora, ls)
		}
	}
}

// TestLoRAResumeAndAdapter: a LoRA run resumed from a checkpoint on a
// freshly injected model gives the uninterrupted losses and adapter bytes.
func TestLoRAResumeAndAdapter(t *testing.T) {
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := Config{SeqLen: 16, Batch: 2, Steps: 6, LR: 1e-2, Seed: 4}
	m0 := loraModel(t, false)
	r0, err := New[float32](m0, toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r0.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m1 := loraModel(t, false)
	r1, _ := New[float32](m1, toks, cfg)
	for i := 0; i < 2; i++ {
		if _, err := r1.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var ck bytes.Buffer
	if err := r1.Checkpoint(&ck); err != nil {
		t.Fatal(err)
	}
	m2 := loraModel(t, false)
	r2, _ := New[float32](m2, toks, cfg)
	if err := r2.Restore(&ck); err != nil {
		t.Fatal(err)
	}
	if err := r2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, l := range r0.Losses() {
		if r2.Losses()[i] != l {
			t.Fatalf("step %d: resumed %v, uninterrupted %v", i+1, r2.Losses()[i], l)
		}
	}
	var a0, a2 bytes.Buffer
	if err := lora.WriteAdapter[float32](&a0, m0); err != nil {
		t.Fatal(err)
	}
	if err := lora.WriteAdapter[float32](&a2, m2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a0.Bytes(), a2.Bytes()) {
		t.Fatal("resumed run wrote a different adapter")
	}
	f, err := gguf.Open(bytes.NewReader(a0.Bytes()), int64(a0.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Tensor("blk.1.ffn_down.weight.lora_b"); !ok {
		t.Fatal("adapter lacks blk.1.ffn_down.weight.lora_b")
	}
}

// TestMemoriseLoRA: LoRA alone (rank 8 on every linear and the head, base
// frozen) memorises a short text below 0.1 nats/token.
func TestMemoriseLoRA(t *testing.T) {
	text := "the cat sat on the mat. the dog sat on the log."
	cfg := tinyConfig()
	cfg.Dim, cfg.HeadDim, cfg.FFN = 32, 16, 64
	m := llama.NewRandom[float32](cfg, 3)
	if err := lora.InjectLoRA[float32](m, 8, 16, append(allLinear, "output"), m.Engine(), lora.WithSeed(1)); err != nil {
		t.Fatal(err)
	}
	r, err := New[float32](m, Tokenize(byteTokenizer(t), text), Config{SeqLen: 64, Batch: 1, Steps: 200,
		LR: 2e-2, MinLR: 2e-3, Warmup: 5, EvalFraction: -1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ls := r.Losses()
	if last := ls[len(ls)-1]; last >= 0.1 {
		t.Fatalf("final loss %.4f nats/token, want < 0.1 (first %.3f, at 100: %.3f)", last, ls[0], ls[99])
	}
}
