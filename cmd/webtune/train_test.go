package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tokenizer"
	"github.com/webtune/webtune/train"
)

const cliText = `Once upon a time there was a little fox. The fox liked to run in the forest.
One day the fox found a shiny red ball under a tree. "What a nice ball!" said the fox.
The fox played with the ball all day, and then went home to sleep. The end.
`

func runTrainCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := runTrain(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("train %v: %v\n%s", args, err, errb.String())
	}
	return errb.String()
}

func TestTrainResumeGivesSameAdapter(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, false)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte(cliText), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--model", model, "--data", data, "--rank", "4", "--alpha", "8", "--targets", "attn_q,attn_v,ffn_down",
		"--steps", "6", "--lr", "1e-2", "--batch", "2", "--seq-len", "24", "--seed", "7"}
	full := filepath.Join(dir, "full.gguf")
	log := runTrainCLI(t, append(common, "--out", full)...)
	if !strings.Contains(log, "step 6/6") || !strings.Contains(log, "trainable params:") {
		t.Errorf("progress output:\n%s", log)
	}
	part := filepath.Join(dir, "part.gguf")
	runTrainCLI(t, append(common, "--out", part, "--stop-after", "2")...)
	runTrainCLI(t, append(common, "--out", part, "--resume", part+".ckpt")...)
	a, _ := os.ReadFile(full)
	b, _ := os.ReadFile(part)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("resumed run wrote a different adapter than the uninterrupted one")
	}
	// the adapter loads into a fresh base with package lora and changes its output
	base := runJSON(t, "--model", model, "--tokens", "1,50,60", "--max-tokens", "0", "--json")
	with := runJSON(t, "--model", model, "--lora", full, "--tokens", "1,50,60", "--max-tokens", "0", "--json")
	if maxDiff(base.NextLogprobs, with.NextLogprobs) == 0 {
		t.Error("the trained adapter changes nothing")
	}
	bm, _ := os.ReadFile(model)
	m, _, err := llama.Load[float32](bytes.NewReader(bm), int64(len(bm)), llama.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lora.LoadAdapter[float32](full, m); err != nil {
		t.Fatal(err)
	}
	if n := len(lora.Adapters[float32](m)); n != 6 {
		t.Errorf("%d LoRA layers loaded, want 6 (3 targets × 2 layers)", n)
	}
}

// TestTrainWorkers: --workers 2 and 3 (data-parallel replicas) give the
// adapter of one worker up to float rounding, with and without QLoRA, and
// a run stopped and resumed on 2 workers gives the uninterrupted 2-worker
// adapter exactly.
func TestTrainWorkers(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, false)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte(cliText), 0o644); err != nil {
		t.Fatal(err)
	}
	adapter := func(path string) map[string][]float32 {
		t.Helper()
		f := readGGUFFile(t, path)
		out := map[string][]float32{}
		for _, ti := range f.Tensors {
			v, err := f.ReadTensorF32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			out[ti.Name] = v
		}
		return out
	}
	for _, qlora := range []bool{false, true} {
		common := []string{"--model", model, "--data", data, "--rank", "4", "--alpha", "8", "--targets", "attn_q,attn_v,ffn_down",
			"--steps", "5", "--lr", "1e-2", "--batch", "4", "--seq-len", "16", "--seed", "7", "--grad-accum", "2"}
		if qlora {
			common = append(common, "--qlora")
		}
		one := filepath.Join(dir, fmt.Sprintf("one-%v.gguf", qlora))
		runTrainCLI(t, append(common, "--out", one)...)
		want := adapter(one)
		for _, w := range []string{"2", "3"} {
			par := filepath.Join(dir, fmt.Sprintf("w%s-%v.gguf", w, qlora))
			log := runTrainCLI(t, append(common, "--out", par, "--workers", w)...)
			if !strings.Contains(log, "step 5/5") || !strings.Contains(log, "data-parallel on "+w+" workers") {
				t.Errorf("workers %s: progress output:\n%s", w, log)
			}
			got := adapter(par)
			if len(got) != len(want) {
				t.Fatalf("workers %s: %d tensors, want %d", w, len(got), len(want))
			}
			for name, v := range want {
				for i := range v {
					if d := got[name][i] - v[i]; d > 1e-5 || d < -1e-5 {
						t.Fatalf("qlora=%v workers %s: %s[%d] = %g, one worker %g", qlora, w, name, i, got[name][i], v[i])
					}
				}
			}
		}
	}
	common := []string{"--model", model, "--data", data, "--rank", "4", "--targets", "attn_q,attn_v",
		"--steps", "5", "--lr", "1e-2", "--batch", "4", "--seq-len", "16", "--seed", "3", "--workers", "2"}
	full := filepath.Join(dir, "w2-full.gguf")
	runTrainCLI(t, append(common, "--out", full)...)
	part := filepath.Join(dir, "w2-part.gguf")
	runTrainCLI(t, append(common, "--out", part, "--stop-after", "2")...)
	runTrainCLI(t, append(common, "--out", part, "--resume", part+".ckpt")...)
	a, _ := os.ReadFile(full)
	b, _ := os.ReadFile(part)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("a resumed 2-worker run wrote a different adapter than the uninterrupted one")
	}
	var errb bytes.Buffer
	if err := runTrain(context.Background(), append(common[:len(common)-2], "--out", full, "--workers", "0"), io.Discard, &errb); !errors.Is(err, errUsage) {
		t.Errorf("--workers 0: %v", err)
	}
	// batch 1 on 2 workers trains on one: the same adapter bytes as one
	// worker, and it says so
	b1 := []string{"--model", model, "--data", data, "--rank", "4", "--targets", "attn_q,attn_v",
		"--steps", "3", "--lr", "1e-2", "--batch", "1", "--seq-len", "16", "--seed", "3"}
	solo, pair := filepath.Join(dir, "b1-solo.gguf"), filepath.Join(dir, "b1-pair.gguf")
	runTrainCLI(t, append(b1, "--out", solo)...)
	log := runTrainCLI(t, append(b1, "--out", pair, "--workers", "2")...)
	if !strings.Contains(log, "a micro-batch has 1 window(s), so 1 worker(s) train") || strings.Contains(log, "data-parallel on") {
		t.Errorf("batch 1 on --workers 2: progress output:\n%s", log)
	}
	a, _ = os.ReadFile(solo)
	b, _ = os.ReadFile(pair)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("batch 1 on --workers 2 wrote another adapter than one worker")
	}
}

func TestTrainFullWritesModel(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, true)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	os.WriteFile(data, []byte(cliText), 0o644)
	out := filepath.Join(dir, "ft.gguf")
	runTrainCLI(t, "--model", model, "--data", data, "--out", out, "--full", "--steps", "2", "--seq-len", "16", "--lr", "1e-3")
	base := runJSON(t, "--model", model, "--prompt", "fox", "--max-tokens", "0", "--json")
	ft := runJSON(t, "--model", out, "--prompt", "fox", "--max-tokens", "0", "--json")
	if !slices.Equal(base.PromptTokens, ft.PromptTokens) {
		t.Error("the fine-tuned model tokenizes differently")
	}
	if maxDiff(base.NextLogprobs, ft.NextLogprobs) == 0 {
		t.Error("full fine-tuning changed nothing")
	}
}

func TestTrainRefusals(t *testing.T) {
	tied := writeTinyModel(t, gguf.TypeF32, true)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	os.WriteFile(data, []byte(cliText), 0o644)
	for name, args := range map[string][]string{
		"tied output target": {"--model", tied, "--data", data, "--out", filepath.Join(dir, "a.gguf"), "--targets", "attn_q,output"},
		"unknown target":     {"--model", tied, "--data", data, "--out", filepath.Join(dir, "b.gguf"), "--targets", "nope"},
		"no data":            {"--model", tied, "--out", filepath.Join(dir, "c.gguf")},
		"missing data file":  {"--model", tied, "--data", filepath.Join(dir, "none.txt"), "--out", filepath.Join(dir, "d.gguf")},
		"bad resume":         {"--model", tied, "--data", data, "--out", filepath.Join(dir, "e.gguf"), "--resume", data},
	} {
		var out, errb bytes.Buffer
		if err := runTrain(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTrainDocuments(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, false)
	dir := t.TempDir()
	tok, err := tokenizer.New(tokenizer.ByteVocab())
	if err != nil {
		t.Fatal(err)
	}
	txt := filepath.Join(dir, "data.txt")
	os.WriteFile(txt, []byte(cliText), 0o644)
	var jl strings.Builder
	for line := range strings.SplitSeq(strings.TrimSpace(cliText), "\n") {
		b, _ := json.Marshal(map[string]any{"id": 1, "text": line})
		jl.Write(b)
		jl.WriteString("\n")
	}
	jsonl := filepath.Join(dir, "data.jsonl")
	os.WriteFile(jsonl, []byte(jl.String()), 0o644)
	lines, _ := train.TokenizeDocuments(tok, cliText, train.DocumentsLines)
	// 3 × (BOS + line + EOS), the newlines dropped
	want := 0
	for line := range strings.SplitSeq(strings.TrimSpace(cliText), "\n") {
		want += 1 + len(tok.Encode(line, false)) + 1
	}
	if len(lines) != want {
		t.Fatalf("lines mode: %d tokens, want %d", len(lines), want)
	}
	common := []string{"--model", model, "--rank", "2", "--steps", "2", "--batch", "2", "--seq-len", "16"}
	for _, tc := range []struct {
		name, data string
		args       []string
		want       string
	}{
		{"lines", txt, []string{"--documents", "lines"}, fmt.Sprintf("%d tokens (documents: lines)", len(lines))},
		{"default txt", txt, nil, fmt.Sprintf("%d tokens (documents: none)", len(train.Tokenize(tok, cliText)))},
		{"default jsonl", jsonl, nil, fmt.Sprintf("%d tokens (documents: jsonl)", len(lines))},
	} {
		args := append(append(append([]string{}, common...), "--data", tc.data, "--out", filepath.Join(dir, tc.name+".gguf")), tc.args...)
		if log := runTrainCLI(t, args...); !strings.Contains(log, tc.want) {
			t.Errorf("%s: log lacks %q:\n%s", tc.name, tc.want, log)
		}
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"text": "a"}`+"\n"+`{"text": "b",}`+"\n"), 0o644)
	for name, tc := range map[string]struct {
		args []string
		msg  string
	}{
		"bad jsonl line": {[]string{"--data", bad}, "bad.jsonl: data: line 2: not a JSON object"},
		"bad mode":       {[]string{"--data", txt, "--documents", "paragraphs"}, "--documents"},
	} {
		var out, errb bytes.Buffer
		args := append(append(append([]string{}, common...), "--out", filepath.Join(dir, "x.gguf")), tc.args...)
		err := runTrain(context.Background(), args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.msg)
		}
	}
}

// TestTrainDivergence: settings that overflow the activations (alpha 1e6
// on rank 1, learning rate 1) make every gradient exactly 0 while the loss
// stays finite. The command fails with train.ErrDiverged, keeps the last
// good step in the adapter and the checkpoint, and says what to do; the
// checkpoint resumes with a lower learning rate.
func TestTrainDivergence(t *testing.T) {
	model := writeTinyModel(t, gguf.TypeF32, false)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	os.WriteFile(data, []byte(cliText), 0o644)
	out := filepath.Join(dir, "div.gguf")
	common := []string{"--model", model, "--data", data, "--out", out, "--rank", "1", "--alpha", "1e6",
		"--targets", "all-linear", "--steps", "10", "--batch", "2", "--seq-len", "16", "--seed", "1"}
	var stdout, stderr bytes.Buffer
	err := runTrain(context.Background(), append(common, "--lr", "1"), &stdout, &stderr)
	if !errors.Is(err, train.ErrDiverged) {
		t.Fatalf("err %v, want train.ErrDiverged\n%s", err, stderr.String())
	}
	log := stderr.String()
	if !strings.Contains(log, "a lower --lr or --alpha") || !strings.Contains(log, "training diverged;") ||
		!strings.Contains(log, "--resume "+out+".ckpt and a lower --lr") || strings.Contains(log, "stopped;") {
		t.Fatalf("err %v\n%s", err, log)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("no adapter of the last good step: %v", err)
	}
	log = runTrainCLI(t, append(common, "--lr", "1e-3", "--resume", out+".ckpt")...)
	if !strings.Contains(log, "step 10/10") {
		t.Fatalf("resumed run:\n%s", log)
	}
}

// TestTrainFlagMessages: a missing or bad flag is named in one line (not
// the whole usage); --help gives the usage, which does not require --model
// and tells about the checkpoint written beside the adapter.
func TestTrainFlagMessages(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", []string{"train"}, "webtune train: --data is missing"},
		{"no data", []string{"train", "--out", "a.gguf"}, "webtune train: --data is missing"},
		{"no out", []string{"train", "--data", "a.txt"}, "webtune train: --out is missing"},
		{"unknown flag", []string{"train", "--data", "a.txt", "--out", "a.gguf", "--bogus"}, "webtune train: flag provided but not defined: -bogus"},
		{"stray argument", []string{"train", "--data", "a.txt", "--out", "a.gguf", "extra"}, `webtune train: unexpected argument "extra"`},
		{"workers", []string{"train", "--data", "a.txt", "--out", "a.gguf", "--workers", "0"}, "webtune train: --workers 0: want 1 to 64"},
		{"qlora and full", []string{"train", "--data", "a.txt", "--out", "a.gguf", "--qlora", "--full"}, "webtune train: --qlora and --full exclude each other"},
		{"documents", []string{"train", "--data", "a.txt", "--out", "a.gguf", "--documents", "pages"}, `webtune train: --documents "pages"`},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errb); code != 1 {
			t.Errorf("%s: exit status %d, want 1", c.name, code)
		}
		msg := errb.String()
		if !strings.HasPrefix(msg, c.want) || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "(--help lists every flag)\n") {
			t.Errorf("%s: stderr %q, want one line starting %q", c.name, msg, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%s: stdout %q", c.name, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"train", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit status %d", code)
	}
	help := errb.String()
	first := strings.SplitN(help, "\n", 2)[0]
	if first != "usage: webtune train --data file.txt --out adapter.gguf [--model base.gguf]" {
		t.Errorf("usage line %q: --model must be optional (the built-in model is the default)", first)
	}
	for _, want := range []string{"built-in model", "OUT.ckpt", "--resume OUT.ckpt", "-checkpoint string"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}
