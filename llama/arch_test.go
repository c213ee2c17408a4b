package llama

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// archCase is a tiny model of one family with the optional parts it can
// have.
type archCase struct {
	name      string
	cfg       Config
	ropeFreqs []float32 // rope_freqs.weight (llama only)
}

// archCases covers each family's recipe: Llama 3 rope (frequency factors,
// linear scaling, attn factor) with a head size ≠ dim/heads; qwen2 with
// q/k/v biases, tied; qwen3 with q/k norms (with and without biases).
func archCases() []archCase {
	llama3 := TinyConfig()
	llama3.HeadDim, llama3.RopeFreqScale, llama3.RopeAttnFactor = 6, 0.5, 1.25
	qwen2 := TinyConfig()
	qwen2.Arch, qwen2.QKVBias, qwen2.TiedOutput = "qwen2", true, true
	qwen3 := TinyConfig()
	qwen3.Arch, qwen3.HeadDim, qwen3.Heads, qwen3.KVHeads = "qwen3", 6, 2, 2
	qwen3b := qwen3
	qwen3b.QKVBias, qwen3b.KVHeads = true, 1
	return []archCase{
		{"llama3", llama3, []float32{1, 2.5, 8}},
		{"qwen2", qwen2, nil},
		{"qwen3", qwen3, nil},
		{"qwen3-bias", qwen3b, nil},
	}
}

func newArchModel[T float32 | float64](c archCase, seed uint64) *Model[T] {
	m := NewRandom[T](c.cfg, seed)
	m.RopeFreqs = c.ropeFreqs
	return m
}

// TestArchGradFullFineTune checks every parameter's gradient (biases and
// q/k norms included) through each family's block against central
// differences in float64.
func TestArchGradFullFineTune(t *testing.T) {
	for _, c := range archCases() {
		t.Run(c.name, func(t *testing.T) {
			m := newArchModel[float64](c, 42)
			if err := m.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, p := range m.Parameters() {
				got += p.Value.Size()
			}
			if want := int(c.cfg.ParamCount()); got != want {
				t.Fatalf("%d trainable values, config says %d", got, want)
			}
			tokens, targets := tinyBatch(c.cfg, 2, 5, 7)
			checkModelGrads(t, m, tokens, targets)
		})
	}
}

// TestArchSaveLoadSession round-trips each family through GGUF (config,
// logits, bytes) and checks that the KV-cache session matches Forward.
func TestArchSaveLoadSession(t *testing.T) {
	ctx := context.Background()
	for _, c := range archCases() {
		t.Run(c.name, func(t *testing.T) {
			m := newArchModel[float32](c, 5)
			tokens, _ := tinyBatch(c.cfg, 1, 7, 1)
			want := logitsOf(t, m, tokens)
			data := saved(t, m, gguf.TypeF32)
			m2, err := load[float32](data, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m2.Config != c.cfg {
				t.Fatalf("config %+v, want %+v", m2.Config, c.cfg)
			}
			if m2.Architecture() != c.cfg.Architecture() {
				t.Fatalf("architecture %q", m2.Architecture())
			}
			if d := maxDiff(logitsOf(t, m2, tokens), want); d != 0 {
				t.Fatalf("round trip changed logits by %g", d)
			}
			s := m2.NewSession(0)
			V := c.cfg.VocabSize
			for pos, n := 0, 0; pos < 7; pos += n {
				n = min(3, 7-pos)
				l, err := s.Eval(ctx, tokens[0][pos:pos+n])
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(l.Data(), want[pos*V:(pos+n)*V]); d > 1e-5 {
					t.Fatalf("session logits at %d differ by %g", pos, d)
				}
			}
		})
	}
}

// TestArchOptionalPartsMatter checks that each optional part changes the
// output, so that a forward pass ignoring it would be caught.
func TestArchOptionalPartsMatter(t *testing.T) {
	for _, c := range archCases() {
		m := newArchModel[float64](c, 9)
		tokens, _ := tinyBatch(c.cfg, 1, 6, 2)
		want := logitsOf(t, m, tokens)
		b := m.Blocks[0]
		for _, p := range b.extras() {
			d := p.Value.Data()
			old := append([]float64(nil), d...)
			for i := range d {
				d[i] *= 1.5
			}
			if diff := maxDiff(logitsOf(t, m, tokens), want); diff < 1e-6 {
				t.Errorf("%s: changing %s moved logits by %g", c.name, p.Name, diff)
			}
			copy(d, old)
		}
		if d := maxDiff(logitsOf(t, m, tokens), want); d != 0 {
			t.Fatalf("%s: restored model differs by %g", c.name, d)
		}
		if m.RopeFreqs != nil {
			m.RopeFreqs, m.cos = nil, nil
			if d := maxDiff(logitsOf(t, m, tokens), want); d < 1e-6 {
				t.Errorf("%s: dropping rope_freqs moved logits by %g", c.name, d)
			}
		}
	}
}

// TestArchConfigErrors: unknown architectures, missing keys of the
// family's prefix, unsupported rope scaling and tensors of another family
// are errors that name them.
func TestArchConfigErrors(t *testing.T) {
	qwen2 := TinyConfig()
	qwen2.Arch = "qwen2"
	kvs := func(c Config, drop string, extra ...gguf.KV) []gguf.KV {
		var out []gguf.KV
		for _, kv := range c.KVs() {
			if kv.Key != drop {
				out = append(out, kv)
			}
		}
		return append(out, extra...)
	}
	for _, tc := range []struct {
		name string
		kvs  []gguf.KV
		want error
		text string
	}{
		{"unknown", kvs(qwen2, "", gguf.KV{Key: "general.architecture", Value: gguf.String("mamba")}), ErrUnsupported, `"mamba"`},
		{"missing key", kvs(qwen2, "qwen2.embedding_length"), gguf.ErrNotFound, "qwen2.embedding_length"},
		{"llama key in qwen2", append(kvs(qwen2, "qwen2.block_count"), gguf.KV{Key: "llama.block_count", Value: gguf.Uint32(2)}), gguf.ErrNotFound, "qwen2.block_count"},
		{"yarn", kvs(qwen2, "", gguf.KV{Key: "qwen2.rope.scaling.type", Value: gguf.String("yarn")}), ErrUnsupported, "qwen2.rope.scaling.type"},
		{"value length", kvs(qwen2, "qwen2.attention.value_length", gguf.KV{Key: "qwen2.attention.value_length", Value: gguf.Uint32(8)}), ErrUnsupported, "value_length"},
	} {
		// a later general.architecture overrides the first one: rebuild
		// the list so that the key appears once
		var list []gguf.KV
		seen := map[string]int{}
		for _, kv := range tc.kvs {
			if i, ok := seen[kv.Key]; ok {
				list[i] = kv
				continue
			}
			seen[kv.Key] = len(list)
			list = append(list, kv)
		}
		_, err := ConfigFromGGUF(openKVs(t, list, false))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %v naming %s", tc.name, err, tc.want, tc.text)
		}
	}
	// linear scaling: freq scale 1/factor; "none" ignores the factor
	c, err := ConfigFromGGUF(openKVs(t, kvs(TinyConfig(), "", gguf.KV{Key: "llama.rope.scaling.factor", Value: gguf.Float32(4)}), false))
	if err != nil || c.RopeFreqScale != 0.25 {
		t.Fatalf("linear factor 4: %+v %v", c, err)
	}
	c, err = ConfigFromGGUF(openKVs(t, kvs(TinyConfig(), "", gguf.KV{Key: "llama.rope.scaling.type", Value: gguf.String("none")},
		gguf.KV{Key: "llama.rope.scaling.factor", Value: gguf.Float32(4)}), false))
	if err != nil || c.RopeFreqScale != 0 {
		t.Fatalf("none with factor 4: %+v %v", c, err)
	}
	// rope_freqs.weight belongs to llama: a qwen2 file with it is refused
	m := NewRandom[float32](qwen2, 1)
	m.RopeFreqs = []float32{1, 2}
	if _, err := load[float32](saved(t, m, gguf.TypeF32), LoadOptions{}); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "rope_freqs.weight") {
		t.Fatalf("qwen2 with rope_freqs: %v", err)
	}
}
