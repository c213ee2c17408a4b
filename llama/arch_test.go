package llama

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tensor"
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
	// gemma3 with a separate head; tied (as real files) with linear rope
	// scaling on the global layer and a softcap. (The tiny tied model at
	// HS 6 has third derivatives that put central differences with h =
	// 1e-5 at ~1.3e-6 from the exact gradient on this seed: 1e-7 at
	// h = 3e-6, so truncation, not a wrong gradient.)
	gemma3 := TinyGemma3Config()
	gemma3.TiedOutput = false
	gemma3b := TinyGemma3Config()
	gemma3b.HeadDim, gemma3b.RopeFreqScale, gemma3b.FinalSoftcap = 8, 0.5, 4
	return []archCase{
		{"llama3", llama3, []float32{1, 2.5, 8}},
		{"qwen2", qwen2, nil},
		{"qwen3", qwen3, nil},
		{"qwen3-bias", qwen3b, nil},
		{"gemma3", gemma3, nil},
		{"gemma3-tied-softcap", gemma3b, nil},
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

// TestArchLoRATargetsAndAdapter: on each family, PEFT aliases select the
// GGUF-named layers, bias and norm tensors are refused as targets by
// name, every LoRA gradient passes the finite-difference check, and the
// adapter carries the base's architecture and reads back only onto a
// model of that architecture.
func TestArchLoRATargetsAndAdapter(t *testing.T) {
	for _, c := range archCases() {
		t.Run(c.name, func(t *testing.T) {
			m := newArchModel[float64](c, 11)
			for _, bad := range []string{"attn_q.bias", "blk.0.attn_v.bias", "attn_q_norm", "q_norm", "k_norm", "attn_norm",
				"input_layernorm", "post_attention_layernorm", "output_norm", "norm", "ffn_norm.weight"} {
				err := lora.InjectLoRA(m, 2, 4, []string{"q_proj", bad}, tensor.NewCPU[float64]())
				if !errors.Is(err, lora.ErrNoTarget) || !strings.Contains(err.Error(), "bias or norm") || !strings.Contains(err.Error(), bad) {
					t.Fatalf("target %q: %v", bad, err)
				}
			}
			targets := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
			if err := lora.InjectLoRA(m, 2, 4, targets, tensor.NewCPU[float64](), lora.WithSeed(1)); err != nil {
				t.Fatal(err)
			}
			if n := len(lora.Adapters(m)); n != 7*c.cfg.Layers {
				t.Fatalf("%d LoRA layers, want %d", n, 7*c.cfg.Layers)
			}
			randomizeB(m, 3)
			tokens, targetsIDs := tinyBatch(c.cfg, 2, 5, 4)
			checkModelGrads(t, m, tokens, targetsIDs)

			var buf bytes.Buffer
			if err := lora.WriteAdapter(&buf, m); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			if a, _ := f.GetString("general.architecture"); a != c.cfg.Architecture() {
				t.Fatalf("adapter architecture %q, want %q", a, c.cfg.Architecture())
			}
			same := newArchModel[float64](c, 11)
			if err := lora.ReadAdapter(bytes.NewReader(buf.Bytes()), int64(buf.Len()), same); err != nil {
				t.Fatalf("adapter onto its own architecture: %v", err)
			}
			other := c.cfg
			other.Arch, other.QKVBias = "llama", false
			other.SlidingWindow, other.SlidingWindowPattern, other.RopeBaseSWA, other.FinalSoftcap = 0, 0, 0, 0
			if c.cfg.Architecture() == "llama" {
				other.Arch = "qwen2"
			}
			if err := lora.ReadAdapter(bytes.NewReader(buf.Bytes()), int64(buf.Len()), NewRandom[float64](other, 1)); !errors.Is(err, lora.ErrArchitecture) {
				t.Fatalf("adapter onto %s: %v", other.Architecture(), err)
			}
		})
	}
}
