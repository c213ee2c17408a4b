// Command genmodel writes tiny llama models that llama.cpp loads, with our
// next-token log-probabilities and greedy continuations, for the
// cross-implementation check against llama.cpp (node-llama-cpp):
//
//	go run ./llama/internal/genmodel DIR
//
// writes DIR/<case>.gguf and DIR/cases.json: for every case the model file,
// the prompt ids, our log-softmax over the vocabulary at every prompt
// position (float32 forward, LoadOptions.MatchGGML) and our greedy
// continuation; LoRA cases also name an adapter file (scale 1).
//
// On the llama.cpp side (node-llama-cpp 3.21.1): createContext({lora:
// {adapters: [{filePath, scale: 1}]}, contextSize: 128,
// experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
// flashAttention: false}), then sequence.controlledEvaluate(prompt.map(t =>
// [t, {generateNext: {probabilities: true, options: {temperature: 0}}}]))
// and compare Math.log(probabilities.get(v)); greedy via a fresh
// sequence's evaluate(prompt, {temperature: 0}). Observed max |Δ log-prob|:
// ~1e-6 for every case here (F32, F16, BF16, Q8_0, Q4_0, LoRA on all
// targets), and greedy continuations identical. K-quant files can be made
// with ggml_quantize_chunk from the bundled libggml-base.so (python ctypes);
// Q4_K/Q5_K/Q6_K/Q5_0 then agree to ~1e-6 as well, Q4_1 to ~1.5e-2.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/tensor"
)

type result struct {
	Name     string      `json:"name"`
	File     string      `json:"file"`
	Type     string      `json:"type"`
	Prompt   []int       `json:"prompt"`
	LogProbs [][]float64 `json:"logprobs"` // [len(prompt)][V]
	Greedy   []int       `json:"greedy"`
	Adapter  string      `json:"adapter,omitempty"` // LoRA adapter file applied at scale 1
}

// spmVocab is the tiny SentencePiece vocabulary of docs/oracles.md: <unk>, <s>,
// </s>, the 256 byte tokens, ▁ (260 tokens).
func spmVocab() []gguf.KV {
	toks := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3}
	for b := 0; b < 256; b++ {
		toks = append(toks, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
	}
	toks = append(toks, "▁")
	types = append(types, 1)
	return []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: gguf.String("llama")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Strings(toks)},
		{Key: "tokenizer.ggml.scores", Value: gguf.Float32s(make([]float32, len(toks)))},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Int32s(types)},
		{Key: "tokenizer.ggml.bos_token_id", Value: gguf.Uint32(1)},
		{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32(2)},
		{Key: "tokenizer.ggml.unknown_token_id", Value: gguf.Uint32(0)},
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genmodel DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	var results []result
	for _, c := range []struct {
		name    string
		kvHeads int
		tied    bool
		typ     gguf.TensorType
		base    float32
		lora    bool
	}{
		{"gqa-f32", 2, false, gguf.TypeF32, 10000, false},
		{"mha-tied-f32", 4, true, gguf.TypeF32, 10000, false},
		{"mqa-f32-base500k", 1, false, gguf.TypeF32, 500000, false},
		{"gqa-f16", 2, false, gguf.TypeF16, 10000, false},
		{"gqa-q8_0", 2, true, gguf.TypeQ8_0, 10000, false},
		{"mha-q4_0", 4, false, gguf.TypeQ4_0, 10000, false},
		{"gqa-bf16", 2, false, gguf.TypeBF16, 10000, false},
		{"gqa-f32-lora", 2, false, gguf.TypeF32, 10000, true},
		{"mha-tied-f32-lora", 4, true, gguf.TypeF32, 10000, true},
	} {
		r, err := gen(dir, c.name, c.kvHeads, c.tied, c.typ, c.base, c.lora)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genmodel:", err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	b, _ := json.Marshal(results)
	if err := os.WriteFile(filepath.Join(dir, "cases.json"), b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "genmodel:", err)
		os.Exit(1)
	}
}

func gen(dir, name string, kvHeads int, tied bool, typ gguf.TensorType, base float32, withLoRA bool) (result, error) {
	cfg := llama.Config{VocabSize: 260, Dim: 64, Layers: 2, Heads: 4, KVHeads: kvHeads, HeadDim: 16, FFN: 128,
		Eps: 1e-5, RopeBase: base, ContextLength: 128, TiedOutput: tied}
	m := llama.NewRandom[float32](cfg, uint64(len(name)))
	var buf bytes.Buffer
	if err := llama.SaveAs(&buf, m, typ, spmVocab()...); err != nil {
		return result{}, err
	}
	file := name + ".gguf"
	if err := os.WriteFile(filepath.Join(dir, file), buf.Bytes(), 0o644); err != nil {
		return result{}, err
	}
	// our numbers come from the file as written (decoded weights)
	m, _, err := llama.Load[float32](bytes.NewReader(buf.Bytes()), int64(buf.Len()), llama.LoadOptions{MatchGGML: true})
	if err != nil {
		return result{}, err
	}
	res := result{Name: name, File: file, Type: typ.String()}
	if withLoRA {
		targets := []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "output"}
		if tied {
			targets = targets[:7] // llama.cpp applies no adapter to a tied head
		}
		if err := lora.InjectLoRA(m, 4, 8, targets, tensor.NewCPU[float32](), lora.WithSeed(3)); err != nil {
			return result{}, err
		}
		r := rand.New(rand.NewPCG(7, 7))
		for _, l := range m.Layers() {
			if ll, ok := l.(*lora.LoraLinear[float32]); ok {
				for i := range ll.B.Value.Data() {
					ll.B.Value.Data()[i] = float32(r.NormFloat64() * 0.2)
				}
			}
		}
		var ab bytes.Buffer
		if err := lora.WriteAdapter(&ab, m); err != nil {
			return result{}, err
		}
		res.Adapter = name + ".adapter.gguf"
		if err := os.WriteFile(filepath.Join(dir, res.Adapter), ab.Bytes(), 0o644); err != nil {
			return result{}, err
		}
	}
	prompt := []int{1, 259, 75, 104, 101, 259, 3 + 'c', 3 + 'a', 3 + 't', 259, 3 + 's', 3 + 'a', 3 + 't'}
	ctx := context.Background()
	logits, err := m.Forward(ctx, [][]int{prompt})
	if err != nil {
		return result{}, err
	}
	res.Prompt = prompt
	V := cfg.VocabSize
	for i := range prompt {
		res.LogProbs = append(res.LogProbs, llama.LogSoftmax(logits.Data()[i*V:(i+1)*V]))
	}
	res.Greedy, _, err = m.Generate(ctx, prompt, llama.SampleOptions{MaxTokens: 24})
	return res, err
}
