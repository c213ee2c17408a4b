package models

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// TestBuiltinConfig loads the embedded GGUF with llama.Load and checks the
// configuration the model card states.
func TestBuiltinConfig(t *testing.T) {
	m, f, err := Load(llama.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := llama.Config{VocabSize: 1024, Dim: 128, Layers: 4, Heads: 4, KVHeads: 4, HeadDim: 32, FFN: 352,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 256, TiedOutput: true}
	if m.Config != want {
		t.Fatalf("config %+v, want %+v", m.Config, want)
	}
	if n := m.Config.ParamCount(); n != 935040 {
		t.Errorf("%d parameters, want 935040", n)
	}
	name, err := f.GetString("general.name")
	if err != nil || name != BuiltinName {
		t.Errorf("general.name %q (%v), want %q", name, err, BuiltinName)
	}
	if len(Builtin()) > 8<<20 {
		t.Errorf("%d bytes, more than 8 MB", len(Builtin()))
	}
	g, err := Open()
	if err != nil || len(g.Tensors) != len(f.Tensors) {
		t.Fatalf("Open: %v", err)
	}
}

// TestBuiltinTellsStories checks that the model learned its corpus: a
// low loss on a story it never saw (the generator's grammar with new
// choices) and a greedy continuation that reads like one.
func TestBuiltinTellsStories(t *testing.T) {
	m, f, err := Load(llama.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Model() != "gpt2" || tok.VocabSize() != m.Config.VocabSize {
		t.Fatalf("tokenizer %s with %d tokens", tok.Model(), tok.VocabSize())
	}
	story := `Once upon a time, there was a little girl named Zoe. She liked to read books with her friend Max. ` +
		`At the lake, Zoe saw a small owl. The owl was all alone. "Hello, little owl," said Zoe. "Why are you sad?"`
	ids := append(tok.Encode(story, true), tok.EOS())
	ctx := context.Background()
	loss, err := m.Loss(ctx, [][]int{ids[:len(ids)-1]}, [][]int{ids[1:]})
	if err != nil {
		t.Fatal(err)
	}
	// An untrained model scores about ln(1024) = 6.9 nats per token.
	if loss > 1.2 {
		t.Errorf("loss %.3f nats/token on an unseen story, want < 1.2", loss)
	}
	gen, _, err := m.Generate(ctx, tok.Encode("Once upon a time", true), llama.SampleOptions{MaxTokens: 40, Stop: []int{tok.EOS()}})
	if err != nil {
		t.Fatal(err)
	}
	text := tok.Decode(gen)
	if len(gen) < 20 || !strings.Contains(text, "named") {
		t.Errorf("greedy continuation of %q: %q", "Once upon a time", text)
	}
	t.Logf("loss %.3f; Once upon a time%s", loss, text)
}

// TestWebCopy checks that the model served to the page is the embedded one.
func TestWebCopy(t *testing.T) {
	web, err := os.ReadFile(filepath.Join("..", "web", "models", BuiltinFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(web, Builtin()) {
		t.Errorf("web/models/%s differs from models/%s: copy it (scripts/train-builtin.sh does)", BuiltinFile, BuiltinFile)
	}
}

// TestPath checks that Path writes the embedded bytes once and reuses them.
func TestPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	p, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(b, Builtin()) {
		t.Fatalf("%s: %v", p, err)
	}
	if q, err := Path(); err != nil || q != p {
		t.Fatalf("second Path %q, %v; want %q", q, err, p)
	}
}
