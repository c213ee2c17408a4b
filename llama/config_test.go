package llama

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// openKVs builds a GGUF file with the given metadata and tensor infos of
// the tiny config (F32 zeros) and opens it.
func openKVs(t *testing.T, kvs []gguf.KV, tied bool) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	c := TinyConfig()
	c.TiedOutput = tied
	for _, s := range expectedTensors(c) {
		n := uint64(1)
		for _, d := range s.dims {
			n *= d
		}
		if err := w.AddTensorF32(s.name, s.dims, make([]float32, n), gguf.TypeF32); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConfigFromGGUF(t *testing.T) {
	want := TinyConfig()
	// the minimal key set: defaults for kv heads (= heads), head dim
	// (= dim/heads), rope base (10000); per-layer arrays; vocab from tokens
	minimal := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "llama.context_length", Value: gguf.Uint32(16)},
		{Key: "llama.embedding_length", Value: gguf.Uint32(8)},
		{Key: "llama.block_count", Value: gguf.Uint32(2)},
		{Key: "llama.feed_forward_length", Value: gguf.Int32s([]int32{12, 12})},
		{Key: "llama.attention.head_count", Value: gguf.Uint32s([]uint32{2, 2})},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32(1e-5)},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Strings(make([]string, 11))},
	}
	c, err := ConfigFromGGUF(openKVs(t, minimal, true))
	if err != nil {
		t.Fatal(err)
	}
	w := want
	w.KVHeads, w.HeadDim, w.TiedOutput = 2, 4, true
	if c != w {
		t.Fatalf("got %+v\nwant %+v", c, w)
	}
	// KVs round trip
	c, err = ConfigFromGGUF(openKVs(t, want.KVs(), false))
	if err != nil || c != want {
		t.Fatalf("KVs round trip: %+v, %v", c, err)
	}
	for _, kv := range want.KVs() {
		if strings.HasPrefix(kv.Key, "llama.") && kv.Value.Type() != gguf.ValueUint32 && kv.Value.Type() != gguf.ValueFloat32 {
			t.Fatalf("%s is %v", kv.Key, kv.Value.Type())
		}
	}
	// per-layer values that differ are refused
	bad := append([]gguf.KV(nil), minimal...)
	bad[4] = gguf.KV{Key: "llama.feed_forward_length", Value: gguf.Int32s([]int32{12, 16})}
	if _, err := ConfigFromGGUF(openKVs(t, bad, true)); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "feed_forward_length") {
		t.Fatalf("per-layer ffn: %v", err)
	}
	// rope scaling is refused
	bad = append(append([]gguf.KV(nil), minimal...), gguf.KV{Key: "llama.rope.scaling.type", Value: gguf.String("yarn")})
	if _, err := ConfigFromGGUF(openKVs(t, bad, true)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("rope scaling: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"zero vocab", func(c *Config) { c.VocabSize = 0 }},
		{"kv heads not dividing", func(c *Config) { c.Heads, c.KVHeads = 3, 2 }},
		{"odd head dim", func(c *Config) { c.HeadDim = 3 }},
		{"zero eps", func(c *Config) { c.Eps = 0 }},
		{"huge", func(c *Config) { c.Dim, c.FFN, c.Layers = MaxDim, MaxDim, MaxLayers }},
	} {
		c := TinyConfig()
		tc.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := TinyConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
