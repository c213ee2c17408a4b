// Command testmodels writes the tiny GGUF models of every family package
// llama runs (llama, Llama 3's rope, qwen2, qwen3, gemma3) that the llama.cpp
// interop tests (scripts/tests/llama-interop.test.mjs) load both in webtune
// and in llama.cpp:
//
//	go run ./internal/testmodels OUTDIR
//
// It writes one file per entry of Models (NAME.gguf) and OUTDIR/models.json,
// a list of {name, file, arch, type, vocab, tied, heads, kv_heads,
// head_dim, dim, rope_freqs, vocab_size, layers, window, tol} objects describing them. Weights are seeded random (llama.NewRandom),
// rescaled so that attention is far from uniform and the logits spread over
// a few nats: agreement on such models says more than on near-uniform ones.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tokenizer"
)

// Spec describes one generated model.
type Spec struct {
	Name string `json:"name"`
	File string `json:"file"`
	// Arch is general.architecture: "llama" (the default), "qwen2" (with
	// q/k/v biases), "qwen3" (q/k norms) or "gemma3" (gemma3.go).
	Arch      string `json:"arch"`
	Type      string `json:"type"`  // F32, F16, Q8_0, Q4_0 or Q4_K (2-D weights; norms and biases stay F32)
	Vocab     string `json:"vocab"` // "spm-bytes", "spm" (learned pieces) or "bpe"
	Tied      bool   `json:"tied"`
	Heads     int    `json:"heads"`
	KVHeads   int    `json:"kv_heads"`
	HeadDim   int    `json:"head_dim"`   // 0: Dim/Heads
	Dim       int    `json:"dim"`        // 0: 64 (Q4_K needs multiples of 256)
	RopeFreqs bool   `json:"rope_freqs"` // Llama 3's rope_freqs.weight
	// RopeScale and RopeAttnFactor are rope.scaling.factor (linear) and
	// rope.scaling.attn_factor; 0 means none.
	RopeScale      float32 `json:"rope_scale,omitempty"`
	RopeAttnFactor float32 `json:"rope_attn_factor,omitempty"`
	VocabSize      int     `json:"vocab_size"`
	Seed           uint64  `json:"seed"`
	Layers         int     `json:"layers,omitempty"` // 0: 2
	Window         int     `json:"window,omitempty"` // gemma3's sliding window (local layers)
	// Tol, when set, is the max |Δ log p| against llama.cpp the interop
	// test allows instead of its tolerance for the weight type.
	Tol float64 `json:"tol,omitempty"`
}

// Models are the generated models: GQA and not, tied and separate output,
// F32, F16, Q8_0 and Q4_0 weights, the byte SPM vocabulary, a learned SPM
// vocabulary and a byte-level BPE (gpt2) vocabulary.
var Models = []Spec{
	{Name: "spm-f32-gqa", Type: "F32", Vocab: "spm-bytes", Heads: 4, KVHeads: 2, Seed: 1},
	{Name: "spm-f32-mha-tied", Type: "F32", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 4, Seed: 2},
	{Name: "spm-f16-gqa-tied", Type: "F16", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 2, Seed: 3},
	// Seed 8, not 4: with seed 4 the prompt [1] lands one Q8_0 activation
	// right at a rounding boundary, where an ulp of float32 summation-order
	// difference flips it and moves the log-probs by 1.6e-2 (see the
	// interop test's tolerances).
	{Name: "spm-q8-gqa", Type: "Q8_0", Vocab: "spm-bytes", Heads: 4, KVHeads: 2, Seed: 8},
	{Name: "spm-q4-mha-tied", Type: "Q4_0", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 4, Seed: 7},
	{Name: "spmlearned-f32-mha", Type: "F32", Vocab: "spm", Heads: 4, KVHeads: 4, Seed: 5},
	{Name: "bpe-f32-gqa", Type: "F32", Vocab: "bpe", Heads: 4, KVHeads: 2, Seed: 6},
	// The other families: Llama 3 (rope_freqs.weight, head size ≠ dim/heads),
	// qwen2 (q/k/v biases, NEOX rope), qwen3 (q/k norms, explicit head size).
	// The quantized ones have seeds whose three test prompts meet no
	// activation at a Q8_0/Q8_K rounding boundary (see spm-q8-gqa): seeds
	// 14 and 15 gave one such prompt each for the two qwen2 rows (2e-2 and
	// 8e-2); on 16 varied prompts every quantized model here, the llama ones
	// included, has 0 to 2 such flips and agrees to ~1e-5 elsewhere.
	{Name: "llama3-bpe-f32-gqa", Type: "F32", Vocab: "bpe", Heads: 4, KVHeads: 2, HeadDim: 32, RopeFreqs: true, Seed: 11},
	{Name: "llama3-spm-q4k-gqa", Type: "Q4_K", Vocab: "spm-bytes", Heads: 4, KVHeads: 2, Dim: 256, RopeFreqs: true, Seed: 12},
	{Name: "qwen2-spm-f32-gqa", Arch: "qwen2", Type: "F32", Vocab: "spm-bytes", Heads: 4, KVHeads: 2, Seed: 13},
	{Name: "qwen2-spm-q8-mha-tied", Arch: "qwen2", Type: "Q8_0", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 4, Seed: 21},
	{Name: "qwen2-bpe-q4k-gqa-tied", Arch: "qwen2", Type: "Q4_K", Vocab: "bpe", Tied: true, Heads: 4, KVHeads: 2, Dim: 256, Seed: 21},
	{Name: "qwen3-spm-f32-gqa", Arch: "qwen3", Type: "F32", Vocab: "spm-bytes", Heads: 4, KVHeads: 2, HeadDim: 32, Seed: 16},
	{Name: "qwen3-spm-f16-mha-tied", Arch: "qwen3", Type: "F16", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 4, Seed: 17},
	{Name: "qwen3-spm-q4k-mqa", Arch: "qwen3", Type: "Q4_K", Vocab: "spm-bytes", Heads: 4, KVHeads: 1, Dim: 256, Seed: 18},
	{Name: "llama3-spm-q8-mha-tied", Type: "Q8_0", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 4, RopeFreqs: true, Seed: 19},
	{Name: "llama-spm-f32-gqa-linear", Type: "F32", Vocab: "spm-bytes", Heads: 4, KVHeads: 2, RopeScale: 4, RopeAttnFactor: 1.25, Seed: 20},
	{Name: "qwen2-spm-f16-mha", Arch: "qwen2", Type: "F16", Vocab: "spm-bytes", Heads: 4, KVHeads: 4, Seed: 22},
	{Name: "qwen3-bpe-q8-gqa-tied", Arch: "qwen3", Type: "Q8_0", Vocab: "bpe", Tied: true, Heads: 4, KVHeads: 2, HeadDim: 32, Seed: 23},
	// gemma3 (gemma3.go): six layers with llama.cpp's default pattern (five
	// local layers with a window of 8, then a global one), head size 32 ≠
	// 64/4, tied as real Gemma 3 files; two layers alternating local and
	// global with a separate head, linear rope scaling and a final
	// softcap; two-layer Q8_0 and F16 ones. gemma3Tol (gemma3.go) explains
	// the six-layer F32 tolerance. The Q8_0 row has two layers: six-layer
	// Q8_0 gemma3 models met a Q8_0 rounding flip (see spm-q8-gqa, ~4e-2)
	// on one of the three prompts for 6 of 8 seeds; two-layer ones on none
	// of 6.
	{Name: "gemma3-spm-f32-gqa-tied", Arch: "gemma3", Type: "F32", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 2, HeadDim: 32, Layers: 6, Window: 8, Seed: 33, Tol: gemma3Tol},
	{Name: "gemma3-spm-f32-mha", Arch: "gemma3", Type: "F32", Vocab: "spm-bytes", Heads: 4, KVHeads: 4, HeadDim: 32, Window: 5, RopeScale: 4, Seed: 22},
	{Name: "gemma3-spm-q8-mqa-tied", Arch: "gemma3", Type: "Q8_0", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 1, HeadDim: 32, Window: 8, RopeScale: 4, Seed: 31},
	{Name: "gemma3-spm-f16-gqa-tied", Arch: "gemma3", Type: "F16", Vocab: "spm-bytes", Tied: true, Heads: 4, KVHeads: 2, HeadDim: 32, Window: 8, RopeScale: 4, Seed: 24},
}

// vocabText is what the learned vocabularies are trained on: mixed scripts,
// digits, runs of spaces and newlines, so the merges are varied.
const vocabText = `Once upon a time, a little cat named Lily lived in a big house.
She liked to play in the garden with her friend Tom. They played with a red ball every day!
"Look at the flowers," said Tom. "They are so pretty."   Lily smiled.
The café served crème brûlée and naïve piñatas at 12:30, 1999 times 42 = 83958.
日本語のテキストと中文文本。 Emoji: 😀🎉👍🏽  tabs	and    spaces
Once upon a time there was a dog. The dog was happy. The cat was happy too.
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: testmodels OUTDIR")
		os.Exit(2)
	}
	specs, err := Generate(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testmodels:", err)
		os.Exit(1)
	}
	for _, s := range specs {
		fmt.Println(filepath.Join(os.Args[1], s.File))
	}
}

// Generate writes every model of Models and models.json into dir.
func Generate(dir string) ([]Spec, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []Spec
	for _, s := range Models {
		b, spec, err := Build(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, spec.File), b, 0o644); err != nil {
			return nil, err
		}
		out = append(out, spec)
		if s.Name == zeroAdapterBase {
			if err := writeZeroAdapter(dir, s); err != nil {
				return nil, fmt.Errorf("%s zero adapter: %w", s.Name, err)
			}
		}
	}
	j, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return out, os.WriteFile(filepath.Join(dir, "models.json"), append(j, '\n'), 0o644)
}

// zeroAdapterBase is the model that also gets NAME.zero-adapter.gguf: a
// freshly injected LoRA (random A, zero B), which must change nothing.
const zeroAdapterBase = "spm-f32-gqa"

// writeZeroAdapter injects rank-4 LoRA into the q, v and up projections of
// the model of s (rebuilt from its seed) and saves it untrained.
func writeZeroAdapter(dir string, s Spec) error {
	_, spec, err := Build(s)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, spec.File))
	if err != nil {
		return err
	}
	m, _, err := llama.Load[float32](bytes.NewReader(b), int64(len(b)), llama.LoadOptions{})
	if err != nil {
		return err
	}
	if err := lora.InjectLoRA[float32](m, 4, 8, []string{"attn_q", "attn_v", "ffn_up"}, m.Engine(), lora.WithSeed(11)); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := lora.WriteAdapter[float32](&buf, m); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, s.Name+".zero-adapter.gguf"), buf.Bytes(), 0o644)
}

// vocab returns the tokenizer of kind.
func vocab(kind string) (*tokenizer.Tokenizer, error) {
	var v tokenizer.Vocab
	var err error
	switch kind {
	case "spm-bytes":
		v = tokenizer.ByteVocab()
	case "spm":
		v, err = tokenizer.TrainSPM(vocabText, tokenizer.SPMOptions{Pieces: 120})
	case "bpe":
		v, err = tokenizer.TrainBPE(vocabText, tokenizer.BPEOptions{Pre: "llama3", Merges: 150})
	default:
		err = fmt.Errorf("unknown vocab %q", kind)
	}
	if err != nil {
		return nil, err
	}
	return tokenizer.New(v)
}

// Build returns the GGUF bytes of s and s with its derived fields filled.
func Build(s Spec) ([]byte, Spec, error) {
	tok, err := vocab(s.Vocab)
	if err != nil {
		return nil, s, err
	}
	if s.Arch == "" {
		s.Arch = llama.Architecture
	}
	if s.Dim == 0 {
		s.Dim = 64
	}
	if s.HeadDim == 0 {
		s.HeadDim = s.Dim / s.Heads
	}
	cfg := llama.Config{VocabSize: tok.VocabSize(), Dim: s.Dim, Layers: 2, Heads: s.Heads, KVHeads: s.KVHeads,
		HeadDim: s.HeadDim, FFN: 2 * s.Dim, Eps: 1e-5, RopeBase: 10000, ContextLength: 128, TiedOutput: s.Tied,
		QKVBias: s.Arch == "qwen2", RopeAttnFactor: s.RopeAttnFactor}
	if s.RopeScale != 0 {
		cfg.RopeFreqScale = 1 / s.RopeScale
	}
	if s.Arch != llama.Architecture {
		cfg.Arch = s.Arch
	}
	if s.Arch == "gemma3" {
		cfg = gemma3Config(cfg, s)
	}
	m := llama.NewRandom[float32](cfg, s.Seed)
	if s.RopeFreqs {
		m.RopeFreqs = llama3RopeFreqs(s.HeadDim / 2)
	}
	sharpen(m)
	var buf bytes.Buffer
	typ := gguf.TypeF32
	if s.Type == "F16" {
		typ = gguf.TypeF16
	}
	if err := llama.SaveAs(&buf, m, typ, tok.GGUFKVs()...); err != nil {
		return nil, s, err
	}
	b := buf.Bytes()
	switch s.Type {
	case "F32", "F16":
	case "Q8_0", "Q4_0", "Q4_K":
		if b, err = requantize(b, quantTypes[s.Type], s.Seed); err != nil {
			return nil, s, err
		}
	default:
		return nil, s, fmt.Errorf("unknown weight type %q", s.Type)
	}
	s.File = s.Name + ".gguf"
	s.VocabSize = cfg.VocabSize
	return b, s, nil
}

// llama3RopeFreqs returns n frequency factors shaped like Llama 3's
// (convert_hf_to_gguf's rope_type "llama3"): 1 for the high-frequency
// pairs, 8 for the low-frequency ones, a smooth ramp between.
func llama3RopeFreqs(n int) []float32 {
	ff := make([]float32, n)
	for i := range ff {
		x := float64(i) / float64(n-1)
		switch {
		case x < 0.25:
			ff[i] = 1
		case x > 0.75:
			ff[i] = 8
		default:
			ff[i] = float32(1 / (1 - (x-0.25)/0.5*(1-1.0/8)))
		}
	}
	return ff
}

// sharpen rescales the weights of a NewRandom model: q and k ×3 (their
// norm weights ×1.5 where a q/k norm would undo that) so that attention
// patterns are far from uniform, a separate output head ×4 so that the
// logits spread over a few nats.
func sharpen(m *llama.Model[float32]) {
	scale := func(w []float32, f float32) {
		for i := range w {
			w[i] *= f
		}
	}
	lin := func(l nn.Node[float32]) []float32 { return l.(*nn.Linear[float32]).Weight().Value.Data() }
	for _, b := range m.Blocks {
		if b.QNorm != nil {
			scale(b.QNorm.Value.Data(), 1.5)
			scale(b.KNorm.Value.Data(), 1.5)
			continue
		}
		scale(lin(b.Q), 3)
		scale(lin(b.K), 3)
	}
	if !m.Config.TiedOutput {
		scale(lin(m.Output), 4)
	}
}

// quantTypes are the quantized weight types Build writes (Spec.Type → type).
var quantTypes = map[string]gguf.TensorType{"Q8_0": gguf.TypeQ8_0, "Q4_0": gguf.TypeQ4_0, "Q4_K": gguf.TypeQ4_K}

// fileTypes is the general.file_type (llama_ftype) of a model whose 2-D
// weights are all of the type.
var fileTypes = map[gguf.TensorType]uint32{
	gguf.TypeQ4_0: 2,  // LLAMA_FTYPE_MOSTLY_Q4_0
	gguf.TypeQ8_0: 7,  // LLAMA_FTYPE_MOSTLY_Q8_0
	gguf.TypeQ4_K: 15, // LLAMA_FTYPE_MOSTLY_Q4_K_M
}

// requantize rewrites every 2-D tensor of the F32 GGUF b as typ, keeping the
// metadata (with general.file_type and general.quantization_version set).
// Types gguf cannot encode (the K-quants) get random codes of the tensor's
// magnitude (quant.Random, seeded from seed and the tensor's index).
func requantize(b []byte, typ gguf.TensorType, seed uint64) ([]byte, error) {
	f, err := gguf.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		switch kv.Key {
		case "general.file_type", "general.quantization_version":
			continue
		}
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	ft, ok := fileTypes[typ]
	if !ok {
		return nil, fmt.Errorf("no file type for %v", typ)
	}
	if err := w.Add("general.file_type", gguf.Uint32(ft)); err != nil {
		return nil, err
	}
	if err := w.Add("general.quantization_version", gguf.Uint32(2)); err != nil {
		return nil, err
	}
	for i, ti := range f.Tensors {
		d, err := f.ReadTensorF32(ti.Name)
		if err != nil {
			return nil, err
		}
		t := gguf.TypeF32
		if len(ti.Dims) == 2 && !strings.HasSuffix(ti.Name, "_norm.weight") {
			t = typ
		}
		if t != gguf.TypeF32 && !gguf.CanEncode(t) {
			var amax float32
			for _, x := range d {
				amax = max(amax, x, -x)
			}
			q, err := quant.Random(t, int(ti.Dims[1]), int(ti.Dims[0]), amax, seed<<8+uint64(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ti.Name, err)
			}
			if err := w.AddTensor(ti.Name, t, ti.Dims, q); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.AddTensorF32(ti.Name, ti.Dims, d, t); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if _, err := w.WriteTo(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
