package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
)

// TestGenerate: every model loads back with its declared config and
// weight type, its logits are spread over a few nats, and the zero adapter
// loads and changes nothing.
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	specs, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != len(Models) {
		t.Fatalf("%d specs", len(specs))
	}
	for _, s := range specs {
		b, err := os.ReadFile(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		m, f, err := llama.Load[float32](bytes.NewReader(b), int64(len(b)), llama.LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		c := m.Config
		if c.Heads != s.Heads || c.KVHeads != s.KVHeads || c.TiedOutput != s.Tied || c.VocabSize != s.VocabSize ||
			c.Architecture() != s.Arch || c.HeadDim != s.HeadDim || c.Dim != s.Dim || (m.RopeFreqs != nil) != s.RopeFreqs ||
			(c.RopeFreqScale != 0) != (s.RopeScale != 0) || c.RopeAttnFactor != s.RopeAttnFactor ||
			c.SlidingWindow != s.Window || c.Layers != max(s.Layers, 2) {
			t.Errorf("%s: config %+v does not match %+v", s.Name, c, s)
		}
		if ti, _ := f.Tensor("blk.0.attn_q.weight"); ti.Type.String() != s.Type {
			t.Errorf("%s: attn_q is %v, want %s", s.Name, ti.Type, s.Type)
		}
		_, lp, err := m.Generate(context.Background(), []int{1, 50, 60}, llama.SampleOptions{MaxTokens: 1})
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, x := range lp {
			lo, hi = min(lo, x), max(hi, x)
		}
		if hi-lo < 3 {
			t.Errorf("%s: log-probs span only %.2f nats", s.Name, hi-lo)
		}
		if s.Name != zeroAdapterBase {
			continue
		}
		if err := lora.LoadAdapter[float32](filepath.Join(dir, s.Name+".zero-adapter.gguf"), m); err != nil {
			t.Fatal(err)
		}
		_, lp2, err := m.Generate(context.Background(), []int{1, 50, 60}, llama.SampleOptions{MaxTokens: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := range lp {
			if lp[i] != lp2[i] {
				t.Fatalf("zero adapter changes log-prob %d: %v → %v", i, lp[i], lp2[i])
			}
		}
	}
}
