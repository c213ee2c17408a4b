package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webtune/webtune/llama"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPretrainCommand trains a tiny BPE model for a few steps in two
// sessions (--stop-at, then --resume) and checks the summary, the loss log
// and that the GGUF loads.
func TestPretrainCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "tiny.json", `{"name": "tiny", "dim": 16, "layers": 1, "heads": 2, "ffn": 32,
		"context_length": 32, "tied_output": true, "tokenizer": "bpe", "vocab_size": 300}`)
	data := writeFile(t, dir, "corpus.txt", strings.Repeat("Once upon a time, there was a cat named Tom.\nThe cat was happy. The end.\n", 8))
	out := filepath.Join(dir, "m.gguf")
	args := []string{"pretrain", "--config", cfg, "--data", data, "--out", out, "--steps", "6", "--batch", "2",
		"--seq-len", "16", "--lr", "1e-2", "--seed", "1", "--loss-log", filepath.Join(dir, "l.csv")}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(args, "--stop-at", "2"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), append(args, "--resume", "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "resumed at step 2") {
		t.Errorf("no resume in the log:\n%s", stderr.String())
	}
	var sum struct {
		Steps      int     `json:"steps"`
		TokensSeen int     `json:"tokens_seen"`
		TrainLoss  float64 `json:"train_loss"`
		Params     int     `json:"params"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if sum.Steps != 6 || sum.TokensSeen != 6*2*16 || !(sum.TrainLoss > 0) {
		t.Errorf("summary %+v", sum)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "l.csv"))
	if n := len(strings.Split(strings.TrimSpace(string(csv)), "\n")); n != 7 {
		t.Errorf("loss log has %d lines, want header + 6:\n%s", n, csv)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	m, _, err := llama.Load[float32](fh, st.Size(), llama.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Dim != 16 || int64(sum.Params) != m.Config.ParamCount() {
		t.Errorf("config %+v, summary params %d", m.Config, sum.Params)
	}
}

func TestPretrainUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"pretrain", "--data", "x.txt"}, &stdout, &stderr); code == 0 {
		t.Error("missing --config and --out accepted")
	}
	dir := t.TempDir()
	cfg := writeFile(t, dir, "bad.json", `{"dim": 16, "layers": 1, "heads": 3}`)
	data := writeFile(t, dir, "d.txt", "hello\n")
	stderr.Reset()
	code := run(context.Background(), []string{"pretrain", "--config", cfg, "--data", data, "--out", filepath.Join(dir, "m.gguf")}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "bad config") {
		t.Errorf("bad config: exit %d, %s", code, stderr.String())
	}
}

func TestResumeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		on   bool
		path string
	}{{"true", true, ""}, {"false", false, ""}, {"ck.bin", true, "ck.bin"}} {
		var r resumeFlag
		if err := r.Set(tc.in); err != nil || r.on != tc.on || r.path != tc.path {
			t.Errorf("Set(%q) = %+v, %v", tc.in, r, err)
		}
	}
}
