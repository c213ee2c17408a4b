package core

import (
	"bytes"
	"context"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// TestFamiliesLoadTrainExport: the page's core loads a model of every
// family package llama runs besides the built-in llama (Llama 3's rope
// factors, qwen2's biases, qwen3's q/k norms), trains it, and exports an
// adapter that carries the base's architecture and loads back onto it.
func TestFamiliesLoadTrainExport(t *testing.T) {
	tok, err := tokenizer.New(tokenizer.ByteVocab())
	if err != nil {
		t.Fatal(err)
	}
	base := llama.Config{VocabSize: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, FFN: 64,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 64}
	qwen2, qwen3, llama3 := base, base, base
	qwen2.Arch, qwen2.QKVBias, qwen2.TiedOutput = "qwen2", true, true
	qwen3.Arch, qwen3.HeadDim = "qwen3", 16
	llama3.RopeFreqScale = 0.5
	for _, c := range []llama.Config{qwen2, qwen3, llama3} {
		t.Run(c.Architecture(), func(t *testing.T) {
			m := llama.NewRandom[float32](c, 4)
			if c.Architecture() == "llama" {
				m.RopeFreqs = []float32{1, 1, 2, 8}
			}
			var buf bytes.Buffer
			if err := llama.Save(&buf, m, tok.GGUFKVs()...); err != nil {
				t.Fatal(err)
			}
			load := func() *Model {
				cm, err := LoadModel(buf.Bytes(), LoadOptions{Name: c.Architecture()})
				if err != nil {
					t.Fatal(err)
				}
				return cm
			}
			cm := load()
			if a := cm.Info().Architecture; a != c.Architecture() {
				t.Fatalf("info architecture %q", a)
			}
			r, err := cm.Train(withText(smallRun))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Loop(context.Background(), nil, nil); err != nil {
				t.Fatal(err)
			}
			if p := r.Last(); p == nil || p.Step != smallRun.Steps || !(p.Loss > 0) {
				t.Fatalf("run ended at %+v", p)
			}
			ad, err := cm.SaveAdapter()
			if err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(bytes.NewReader(ad), int64(len(ad)))
			if err != nil {
				t.Fatal(err)
			}
			if a, _ := f.GetString("general.architecture"); a != c.Architecture() {
				t.Fatalf("adapter architecture %q", a)
			}
			if _, err := load().LoadAdapter(ad); err != nil {
				t.Fatalf("adapter back onto its base: %v", err)
			}
		})
	}
}
