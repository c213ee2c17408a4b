package core

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tokenizer"
)

// gemma3File returns a tiny gemma3 GGUF (byte-level SentencePiece vocabulary,
// both window kinds) as the page would get it from the file input.
func gemma3File(t *testing.T) []byte {
	t.Helper()
	tok, err := tokenizer.New(tokenizer.ByteVocab())
	if err != nil {
		t.Fatal(err)
	}
	c := llama.TinyGemma3Config()
	c.VocabSize, c.ContextLength = tok.VocabSize(), 64
	var buf bytes.Buffer
	if err := llama.Save(&buf, llama.NewRandom[float32](c, 61), tok.GGUFKVs()...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGemma3InThePage: the page's engine loads a gemma3 model, trains LoRA
// on windows longer than its sliding window, generates with and without the
// adapter, and exports an adapter that names gemma3 and loads back.
func TestGemma3InThePage(t *testing.T) {
	ctx := context.Background()
	data := gemma3File(t)
	m, err := LoadModel(data, LoadOptions{Name: "tiny-gemma3"})
	if err != nil {
		t.Fatal(err)
	}
	if in := m.Info(); in.Architecture != "gemma3" || in.Layers != 3 {
		t.Fatalf("info %+v", in)
	}
	if _, err := m.InjectLoRA(LoRAOptions{Rank: 4, Targets: []string{"attn_q", "attn_v", "ffn_down"}}); err != nil {
		t.Fatal(err)
	}
	r, err := m.Train(withText(TrainOptions{Steps: 4, LR: 3e-2, Batch: 2, SeqLen: 12}))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := r.Loop(ctx, nil, nil); err != nil || st != StateDone {
		t.Fatalf("run ended %v: %v", st, err)
	}
	off := false
	base, err := m.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 8, Adapter: &off, Logprobs: true})
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := m.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 8, Logprobs: true})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(base.Logprobs(), tuned.Logprobs()) {
		t.Fatal("training changed nothing")
	}
	ad, err := m.SaveAdapter()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(ad), int64(len(ad)))
	if err != nil {
		t.Fatal(err)
	}
	af, err := lora.InspectAdapter(f)
	if err != nil {
		t.Fatal(err)
	}
	if af.Architecture != "gemma3" {
		t.Fatalf("adapter architecture %q", af.Architecture)
	}
	fresh, err := LoadModel(data, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.LoadAdapter(ad); err != nil {
		t.Fatal(err)
	}
	again, _ := fresh.Generate(ctx, "The quick", GenerateOptions{MaxTokens: 8, Logprobs: true})
	if !slices.Equal(again.Tokens, tuned.Tokens) || !slices.Equal(again.Logprobs(), tuned.Logprobs()) {
		t.Fatal("the reloaded adapter generates differently")
	}
}
