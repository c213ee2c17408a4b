package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/webtune/webtune/gguf"
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
