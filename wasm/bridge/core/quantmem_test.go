package core

import (
	"bytes"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// TestBaseBytesOfQuantizedModel loads a Q8_0 model (kept in Q8_0, the tied
// head over the quantized embedding): the memory of its weights is the
// file's tensor bytes, Q8_0 ones as stored and F32 norms as floats.
func TestBaseBytesOfQuantizedModel(t *testing.T) {
	tok, err := tokenizer.New(tokenizer.ByteVocab())
	if err != nil {
		t.Fatal(err)
	}
	c := llama.Config{VocabSize: tok.VocabSize(), Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, FFN: 128,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 64, TiedOutput: true}
	var buf bytes.Buffer
	if err := llama.SaveAs(&buf, llama.NewRandom[float32](c, 5), gguf.TypeQ8_0, tok.GGUFKVs()...); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(buf.Bytes(), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, ti := range f.Tensors {
		want += int64(ti.NumBytes())
	}
	if m.baseBytes != want {
		t.Fatalf("baseBytes %d, the file's tensors hold %d", m.baseBytes, want)
	}
}
