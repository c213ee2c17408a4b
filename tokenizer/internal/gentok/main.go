// Command gentok writes tiny llama-architecture GGUF models carrying test
// vocabularies (SentencePiece and byte-level BPE with several pre-tokenizers),
// plus cases.json: for a list of varied texts, the token ids and decoded text
// that package tokenizer produces. scripts/tests/tokenizer-interop.test.mjs
// loads the models in llama.cpp (node-llama-cpp) and compares.
//
// Usage: go run ./tokenizer/internal/gentok OUTDIR
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/internal/testvocab"
	"github.com/webtune/webtune/tokenizer"
)

type textCase struct {
	Text           string `json:"text"`
	DecodedB64     string `json:"decodedB64"`     // the bytes of Decoded (may be invalid UTF-8)
	RenderB64      string `json:"renderB64"`      // the bytes of DecodedRender
	WithBOSB64     string `json:"withBOSB64"`     // the bytes of DecodedWithBOS
	IDs            []int  `json:"ids"`            // Encode(text, false) = model.tokenize(text)
	IDsSpecial     []int  `json:"idsSpecial"`     // Encode(text, true) (BOS/EOS per vocab)
	IDsParse       []int  `json:"idsParse"`       // Tokenize(text, false, true) = model.tokenize(text, true)
	Decoded        string `json:"decoded"`        // Decode(ids) = model.detokenize(ids)
	DecodedRender  string `json:"decodedRender"`  // Decode(idsParse, render special) = model.detokenize(idsParse, true)
	DecodedWithBOS string `json:"decodedWithBOS"` // Decode([bos] + ids) = model.detokenize([bos, ...ids])
}

type modelCase struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Model  string `json:"model"`
	Pre    string `json:"pre"`
	NVocab int    `json:"nVocab"`
	BOS    int    `json:"bos"`
	BOSCtl bool   `json:"bosControl"` // node-llama-cpp reports BOS/EOS only when they are control tokens
	EOSCtl bool   `json:"eosControl"`
	EOS    int    `json:"eos"`
	AddBOS bool   `json:"addBOS"`
	// VocabOnly: the file has no tensors; llama.cpp loads it with vocabOnly.
	VocabOnly bool `json:"vocabOnly"`
	EOT       int  `json:"eot"` // EOT() (-1 for none)
	// EOTAmbiguous: several texts could be EOT; llama.cpp then keeps the first
	// in its hash map's order (platform-dependent), so EOT is not compared.
	EOTAmbiguous bool       `json:"eotAmbiguous"`
	EOG          []int      `json:"eog"`   // EOG(): the end-of-generation set
	Attrs        []int      `json:"attrs"` // Attr(id) for every id
	Texts        []textCase `json:"texts"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gentok OUTDIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gentok:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	vocabs, err := testVocabs()
	if err != nil {
		return err
	}
	texts := testTexts()
	var cases []modelCase
	for _, nv := range vocabs {
		tok, err := tokenizer.New(nv.v)
		if err != nil {
			return fmt.Errorf("%s: %w", nv.name, err)
		}
		file := nv.name + ".gguf"
		if err := writeModel(filepath.Join(dir, file), tok, nv.vocabOnly); err != nil {
			return fmt.Errorf("%s: %w", nv.name, err)
		}
		mc := modelCase{Name: nv.name, File: file, Model: nv.v.Model, Pre: nv.v.Pre, NVocab: tok.VocabSize(),
			BOS: tok.BOS(), EOS: tok.EOS(), AddBOS: tok.AddBOS(),
			BOSCtl: tok.IsControl(tok.BOS()), EOSCtl: tok.IsControl(tok.EOS()),
			VocabOnly: nv.vocabOnly, EOT: tok.EOT(), EOG: nonNil(tok.EOG())}
		if _, set := nv.v.Special[tokenizer.RoleEOT]; !set {
			n := 0
			for _, s := range tokenizer.RoleTexts(tokenizer.RoleEOT) {
				if _, ok := tok.TokenID(s); ok {
					n++
				}
			}
			mc.EOTAmbiguous = n > 1
		}
		for id := range tok.VocabSize() {
			mc.Attrs = append(mc.Attrs, tok.Attr(id))
		}
		for _, s := range texts {
			ids := tok.Encode(s, false)
			parse := tok.Tokenize(s, false, true)
			withBOS := append([]int{tok.BOS()}, ids...)
			dec := tok.Decode(ids)
			render := tok.DecodeWith(parse, tokenizer.DecodeOptions{RenderSpecial: true})
			decBOS := tok.Decode(withBOS)
			mc.Texts = append(mc.Texts, textCase{
				DecodedB64: b64(dec), RenderB64: b64(render), WithBOSB64: b64(decBOS),
				Text: s, IDs: nonNil(ids), IDsSpecial: nonNil(tok.Encode(s, true)), IDsParse: nonNil(parse),
				Decoded: dec, DecodedRender: render, DecodedWithBOS: decBOS,
			})
		}
		cases = append(cases, mc)
		fmt.Printf("%s: %d tokens, %d merges\n", nv.name, tok.VocabSize(), len(nv.v.Merges))
	}
	b, err := json.MarshalIndent(cases, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cases.json"), b, 0o644)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func nonNil(x []int) []int {
	if x == nil {
		return []int{}
	}
	return x
}

// trainText is the corpus plus the fixed test texts, so that the vocabularies
// have merges for the very pieces the pre-tokenizers cut from the tests.
func trainText() string { return corpus + strings.Join(fixedTexts, "\n") }

type namedVocab struct {
	name      string
	v         tokenizer.Vocab
	vocabOnly bool // write no tensors (the real-size vocabularies)
}

func testVocabs() ([]namedVocab, error) {
	var out []namedVocab
	out = append(out, namedVocab{name: "spm-bytes", v: tokenizer.ByteVocab()})
	spm, err := tokenizer.TrainSPM(trainText(), tokenizer.SPMOptions{Pieces: 600, MinFrequency: 1})
	if err != nil {
		return nil, err
	}
	out = append(out, namedVocab{name: "spm", v: spm})
	// Equal scores: llama.cpp then merges leftmost first.
	ties := spm
	ties.Scores = make([]float32, len(spm.Scores))
	for i := range ties.Scores {
		ties.Scores[i] = float32(-(i / 40))
	}
	out = append(out, namedVocab{name: "spm-ties", v: ties})
	// A user-defined token is cut out of the text before SPM runs.
	out = append(out, namedVocab{name: "spm-userdef", v: withUserDefined(spm, "<|user|>")})
	// No space prefix; no scores and no types (every token "normal", byte tokens decode as text).
	nospace := spm
	nospace.AddSpacePrefix = false
	out = append(out, namedVocab{name: "spm-nospace", v: nospace})
	plain := spm
	plain.Scores, plain.Types = nil, nil
	out = append(out, namedVocab{name: "spm-notypes", v: plain})
	// One merge list learned under every pre-tokenizer, so that it holds
	// pieces across the boundaries each of them cuts at: a wrong cut shows.
	bpe, err := unionBPE(trainText(), 3000, "llama3", "gpt-2", "qwen2", "default", "smollm")
	if err != nil {
		return nil, err
	}
	for _, pre := range []string{"llama3", "gpt-2", "qwen2", "default", "smollm"} {
		v := bpe
		v.Pre = pre
		v.AddBOS = pre == "llama3"
		out = append(out, namedVocab{name: "bpe-" + pre, v: v})
	}
	// Merge results missing from the vocabulary: llama.cpp falls back to
	// one-byte tokens and drops the bytes that have none.
	holes := bpe
	holes.Tokens = append([]string(nil), holes.Tokens...)
	for i := 300; i < len(holes.Tokens)-2; i += 7 {
		holes.Tokens[i] = fmt.Sprintf("[HOLE_%d]", i)
	}
	out = append(out, namedVocab{name: "bpe-llama3-holes", v: withUserDefined(holes, "<|user|>")})
	// The model families' layouts: their special tokens, types and flags, at
	// a small size and (vocabulary only) at the real size.
	base := testvocab.BPEFrom(bpe)
	spmBase := testvocab.SPMFrom(spm)
	out = append(out,
		namedVocab{name: "qwen2-family", v: testvocab.Qwen2(base, 0)},
		namedVocab{name: "llama3-family", v: testvocab.Llama3(base, 0)},
		namedVocab{name: "smollm-family", v: testvocab.SmolLM(base, 0)},
		namedVocab{name: "gemma3-family", v: testvocab.Gemma3(spmBase, 8, 0)},
		namedVocab{name: "qwen2-eot-key", v: withRole(testvocab.Qwen2(base, 0), tokenizer.RoleEOT, "<|im_start|>")},
		namedVocab{name: "qwen2-151936", v: testvocab.Qwen2(base, testvocab.Qwen2Size), vocabOnly: true},
		namedVocab{name: "llama3-128256", v: testvocab.Llama3(base, testvocab.Llama3Size), vocabOnly: true},
		namedVocab{name: "gemma3-262144", v: testvocab.Gemma3(spmBase, 6000, testvocab.Gemma3Size), vocabOnly: true},
	)
	return out, nil
}

// unionBPE trains merges under each pre-tokenizer and concatenates them
// (first occurrence kept) into one vocabulary: bytes, merged tokens, BOS, EOS.
func unionBPE(text string, merges int, pres ...string) (tokenizer.Vocab, error) {
	var out tokenizer.Vocab
	seenTok, seenMerge := map[string]bool{}, map[string]bool{}
	for _, pre := range pres {
		v, err := tokenizer.TrainBPE(text, tokenizer.BPEOptions{Pre: pre, Merges: merges, MinFrequency: 1})
		if err != nil {
			return out, err
		}
		if out.Tokens == nil {
			out = v
			out.Tokens = append([]string(nil), v.Tokens[:v.BOS]...)
			out.Merges = nil
		}
		for _, t := range v.Tokens[:v.BOS] {
			if !seenTok[t] {
				seenTok[t] = true
				if len(seenTok) > len(out.Tokens) {
					out.Tokens = append(out.Tokens, t)
				}
			}
		}
		for _, m := range v.Merges {
			if !seenMerge[m] {
				seenMerge[m] = true
				out.Merges = append(out.Merges, m)
			}
		}
	}
	n := len(out.Tokens)
	out.Tokens = append(out.Tokens, "<|begin_of_text|>", "<|end_of_text|>")
	out.Types = make([]int32, n+2)
	for i := range out.Types {
		out.Types[i] = tokenizer.TypeNormal
	}
	out.Types[n], out.Types[n+1] = tokenizer.TypeControl, tokenizer.TypeControl
	out.BOS, out.EOS = n, n+1
	return out, nil
}

// withRole returns v with role set to the token whose text is text.
func withRole(v tokenizer.Vocab, role, text string) tokenizer.Vocab {
	v.Special = map[string]int{role: slices.Index(v.Tokens, text)}
	return v
}

// withUserDefined returns v with token text marked user-defined (added if absent).
func withUserDefined(v tokenizer.Vocab, text string) tokenizer.Vocab {
	v.Tokens = append([]string(nil), v.Tokens...)
	v.Types = append([]int32(nil), v.Types...)
	if v.Scores != nil {
		v.Scores = append([]float32(nil), v.Scores...)
	}
	for i, s := range v.Tokens {
		if s == text {
			v.Types[i] = tokenizer.TypeUserDefined
			return v
		}
	}
	v.Tokens = append(v.Tokens, text)
	v.Types = append(v.Types, tokenizer.TypeUserDefined)
	if v.Scores != nil {
		v.Scores = append(v.Scores, 0)
	}
	return v
}

// writeModel writes a tiny llama model (docs/llamacpp-lora.md) with tok's
// vocabulary, or only its metadata when vocabOnly (llama.cpp then loads it
// with vocab_only).
func writeModel(path string, tok *tokenizer.Tokenizer, vocabOnly bool) error {
	const (
		nEmbd, nFF, nLayer, nHead, ctx = 64, 128, 2, 4, 128
	)
	w := gguf.NewWriter()
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.name", Value: gguf.String("webtune tokenizer test")},
		{Key: "llama.context_length", Value: gguf.Uint32(ctx)},
		{Key: "llama.embedding_length", Value: gguf.Uint32(nEmbd)},
		{Key: "llama.block_count", Value: gguf.Uint32(nLayer)},
		{Key: "llama.feed_forward_length", Value: gguf.Uint32(nFF)},
		{Key: "llama.attention.head_count", Value: gguf.Uint32(nHead)},
		{Key: "llama.attention.head_count_kv", Value: gguf.Uint32(nHead)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32(1e-5)},
		{Key: "llama.rope.dimension_count", Value: gguf.Uint32(nEmbd / nHead)},
		{Key: "llama.vocab_size", Value: gguf.Uint32(uint32(tok.VocabSize()))},
	}
	kvs = append(kvs, tok.GGUFKVs()...)
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	if vocabOnly {
		return writeFile(path, w)
	}
	rng := rand.New(rand.NewSource(1))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.02)
		}
		return x
	}
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	nv := uint64(tok.VocabSize())
	add := func(name string, dims []uint64, data []float32) error {
		return w.AddTensorF32(name, dims, data, gguf.TypeF32)
	}
	if err := add("token_embd.weight", []uint64{nEmbd, nv}, randn(nEmbd*int(nv))); err != nil {
		return err
	}
	for l := 0; l < nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		for _, t := range []struct {
			name string
			dims []uint64
			data []float32
		}{
			{"attn_norm", []uint64{nEmbd}, ones(nEmbd)},
			{"attn_q", []uint64{nEmbd, nEmbd}, randn(nEmbd * nEmbd)},
			{"attn_k", []uint64{nEmbd, nEmbd}, randn(nEmbd * nEmbd)},
			{"attn_v", []uint64{nEmbd, nEmbd}, randn(nEmbd * nEmbd)},
			{"attn_output", []uint64{nEmbd, nEmbd}, randn(nEmbd * nEmbd)},
			{"ffn_norm", []uint64{nEmbd}, ones(nEmbd)},
			{"ffn_gate", []uint64{nEmbd, nFF}, randn(nEmbd * nFF)},
			{"ffn_up", []uint64{nEmbd, nFF}, randn(nEmbd * nFF)},
			{"ffn_down", []uint64{nFF, nEmbd}, randn(nEmbd * nFF)},
		} {
			if err := add(p+t.name+".weight", t.dims, t.data); err != nil {
				return err
			}
		}
	}
	if err := add("output_norm.weight", []uint64{nEmbd}, ones(nEmbd)); err != nil {
		return err
	}
	return writeFile(path, w)
}

func writeFile(path string, w *gguf.Writer) error {
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
