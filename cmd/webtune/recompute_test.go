package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/train"
)

// TestTrainRecomputeSameAdapter trains a quantized tiny model with and
// without --recompute: the adapters are byte for byte the same.
func TestTrainRecomputeSameAdapter(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeQ8_0, true)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte(cliText), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--model", model, "--data", data, "--rank", "4", "--targets", "attn_q,attn_v,ffn_up",
		"--steps", "3", "--lr", "1e-2", "--batch", "2", "--seq-len", "24", "--seed", "3", "--eval-fraction", "-1"}
	plain, recomputed := filepath.Join(dir, "plain.gguf"), filepath.Join(dir, "recomputed.gguf")
	runTrainCLI(t, append(common, "--out", plain)...)
	runTrainCLI(t, append(common, "--out", recomputed, "--recompute")...)
	a, _ := os.ReadFile(plain)
	b, _ := os.ReadFile(recomputed)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("--recompute wrote a different adapter")
	}
}

// TestRecomputeAuto: --recompute auto (the default) recomputes for the
// real shapes at seq-len 256 and not for the built-in model's runs; on and
// off force it.
func TestRecomputeAuto(t *testing.T) {
	smol := llama.Config{Dim: 576, Layers: 30, Heads: 9, KVHeads: 3, FFN: 1536, ContextLength: 8192}
	builtin := llama.Config{Dim: 128, Layers: 4, Heads: 4, KVHeads: 4, FFN: 384, ContextLength: 256}
	for _, c := range []struct {
		flag recomputeFlag
		c    llama.Config
		cfg  train.Config
		want bool
	}{
		{"auto", smol, train.Config{Batch: 1, SeqLen: 256}, true},
		{"auto", smol, train.Config{Batch: 1, SeqLen: 16}, false},
		{"auto", builtin, train.Config{Batch: 8, SeqLen: 128}, false},
		{"on", builtin, train.Config{Batch: 8, SeqLen: 128}, true},
		{"off", smol, train.Config{Batch: 1, SeqLen: 256}, false},
	} {
		if got := c.flag.on(c.c, c.cfg); got != c.want {
			t.Errorf("%s, %d layers, batch %d × %d: %v, want %v", c.flag, c.c.Layers, c.cfg.Batch, c.cfg.SeqLen, got, c.want)
		}
	}
	var r recomputeFlag = "auto"
	for _, v := range []string{"true", "on"} {
		if r.Set(v); r != "on" {
			t.Errorf("Set(%q) = %q", v, r)
		}
	}
	if err := r.Set("maybe"); err == nil {
		t.Error("--recompute=maybe accepted")
	}
}
