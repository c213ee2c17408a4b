package pretrain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

const corpus = `Once upon a time, there was a girl named Lily. She liked to play with her ball.
One day, a boy named Tom went to the park. He saw a big dog.
"Hello, little dog," said Tom. "Do you want to play?"
The dog was happy. They played all day. The end.
`

func tinyConfig(tok string) Config {
	return Config{Name: "tiny", Dim: 16, Layers: 1, Heads: 2, FFN: 32, ContextLength: 32, TiedOutput: true,
		Tokenizer: tok, VocabSize: 300}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"dim": 128, "layers": 4, "heads": 4, "tokenizer": "bpe", "vocab_size": 512}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.KVHeads != 4 || c.FFN != 352 || c.ContextLength != 256 || c.Pre != "llama3" || c.WeightType != "F32" {
		t.Errorf("defaults not filled: %+v", c)
	}
	for _, bad := range []string{
		`{"dim": 128, "layers": 4, "heads": 4, "tokenizer": "sentencepiece"}`,
		`{"dim": 130, "layers": 4, "heads": 4}`,
		`{"dim": 128, "layers": 0, "heads": 4}`,
		`{"dim": 128, "layers": 4, "heads": 4, "vocab_size": 100}`,
		`{"dim": 128, "layers": 4, "heads": 4, "weight_type": "Q4_K"}`,
		`{"dim": 128, "layers": 4, "heads": 4, "unknown": 1}`,
	} {
		if _, err := ParseConfig([]byte(bad)); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: error %v, want ErrConfig", bad, err)
		}
	}
}

func TestDocuments(t *testing.T) {
	tok, err := tinyConfig(TokenizerByte).BuildTokenizer(corpus)
	if err != nil {
		t.Fatal(err)
	}
	ids := Documents(tok, "ab\n\n cd\r\n")
	want := append(append([]int{tok.BOS()}, tok.Encode("ab", false)...), tok.EOS(), tok.BOS())
	want = append(append(want, tok.Encode(" cd", false)...), tok.EOS())
	if len(ids) != len(want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	for i := range ids {
		if ids[i] != want[i] {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	}
}

// TestRunWritesLoadableModel trains a tiny model for a few steps with each
// tokenizer and checks that the file loads with its tokenizer and that the
// loss went down.
func TestRunWritesLoadableModel(t *testing.T) {
	for _, tk := range []string{TokenizerByte, TokenizerBPE} {
		t.Run(tk, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "m.gguf")
			text := strings.Repeat(corpus, 4)
			res, err := Run(context.Background(), tinyConfig(tk), text, Options{Steps: 12, LR: 1e-2, Batch: 4, SeqLen: 16,
				Seed: 3, Out: out, LossLog: filepath.Join(dir, "l.csv")})
			if err != nil {
				t.Fatal(err)
			}
			m, f := load(t, out)
			tok, err := tokenizer.FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.VocabSize != tok.VocabSize() || m.Config.Dim != 16 || !m.Config.TiedOutput {
				t.Errorf("config %+v, %d tokens", m.Config, tok.VocabSize())
			}
			if name, _ := f.GetString("general.name"); name != "tiny" {
				t.Errorf("general.name %q", name)
			}
			if tk == TokenizerBPE && (tok.Model() != "gpt2" || tok.VocabSize() <= 258) {
				t.Errorf("BPE tokenizer %s with %d tokens", tok.Model(), tok.VocabSize())
			}
			b, _ := os.ReadFile(filepath.Join(dir, "l.csv"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 13 || res.Steps != 12 || !(res.TrainLoss < 5) {
				t.Errorf("%d CSV lines, %d steps, final loss %g", len(lines), res.Steps, res.TrainLoss)
			}
		})
	}
}

// TestStopAndResume checks that a run stopped after a few steps and resumed
// ends with exactly the weights of an uninterrupted run.
func TestStopAndResume(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat(corpus, 4)
	cfg := tinyConfig(TokenizerBPE)
	opt := Options{Steps: 8, LR: 1e-2, Batch: 2, SeqLen: 16, Seed: 5}
	whole := opt
	whole.Out = filepath.Join(dir, "whole.gguf")
	if _, err := Run(context.Background(), cfg, text, whole); err != nil {
		t.Fatal(err)
	}
	part := opt
	part.Out, part.StopAt = filepath.Join(dir, "part.gguf"), 3
	if res, err := Run(context.Background(), cfg, text, part); err != nil || res.Steps != 3 {
		t.Fatalf("first session: %v", err)
	}
	part.StopAt, part.Resume = 0, true
	if res, err := Run(context.Background(), cfg, text, part); err != nil || res.Steps != 8 {
		t.Fatalf("resumed session: %v", err)
	}
	a, _ := os.ReadFile(whole.Out)
	b, _ := os.ReadFile(part.Out)
	if string(a) != string(b) {
		t.Error("resumed run's model differs from the uninterrupted run's")
	}
}

func load(t *testing.T, path string) (*llama.Model[float32], *gguf.File) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, _ := fh.Stat()
	m, f, err := llama.Load[float32](fh, st.Size(), llama.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}
