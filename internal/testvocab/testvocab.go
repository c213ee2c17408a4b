// Package testvocab builds vocabularies shaped like those of the model
// families webtune fine-tunes — Qwen2/Qwen3, Llama 3, SmolLM2 (byte-level
// BPE) and Gemma 3 (SentencePiece with byte fallback) — around pieces
// trained on a small corpus: the families' special tokens with the token
// types, ids and flags their GGUF files carry (as llama.cpp's
// convert_hf_to_gguf.py writes them), optionally padded to the real
// vocabulary size with synthetic merges. Real vocabulary files are not
// available offline; tests (any package's) and the llama.cpp interop
// generator (tokenizer/internal/gentok, whose test checks these layouts
// token by token against llama.cpp) use these instead.
package testvocab

import (
	"fmt"
	"math/rand"
	"slices"

	"github.com/webtune/webtune/tokenizer"
)

// Real vocabulary sizes (tokens in the GGUF file).
const (
	Qwen2Size  = 151936
	Llama3Size = 128256
	SmolLMSize = 49152
	Gemma3Size = 262144
)

// BPE is a byte-level BPE vocabulary without special tokens: the byte
// tokens and merged tokens, and the merges ("left right", rank = index).
type BPE struct {
	Tokens []string
	Merges []string
}

// BPEFrom takes the normal tokens and merges of a tokenizer.TrainBPE result
// (which puts its BOS and EOS last).
func BPEFrom(v tokenizer.Vocab) BPE {
	return BPE{Tokens: slices.Clone(v.Tokens[:v.BOS]), Merges: slices.Clone(v.Merges)}
}

// Grow returns b with synthetic merges of random token pairs (deterministic
// for a seed) added until it has n tokens.
func (b BPE) Grow(n int, seed int64) BPE {
	out := BPE{Tokens: slices.Clone(b.Tokens), Merges: slices.Clone(b.Merges)}
	have := make(map[string]bool, n)
	for _, s := range out.Tokens {
		have[s] = true
	}
	rng := rand.New(rand.NewSource(seed))
	base := len(b.Tokens)
	for len(out.Tokens) < n {
		l, r := pick(rng, out.Tokens, base)
		s := l + r
		if have[s] {
			continue
		}
		have[s] = true
		out.Tokens = append(out.Tokens, s)
		out.Merges = append(out.Merges, l+" "+r)
	}
	return out
}

// maxGrown caps the bytes of a synthetic token.
const maxGrown = 24

// pick draws a pair for a synthetic token: the right one among the first
// base (trained) tokens, the left one among all unless that makes the pair
// longer than maxGrown.
func pick(rng *rand.Rand, tokens []string, base int) (string, string) {
	for {
		r := tokens[rng.Intn(base)]
		l := tokens[rng.Intn(len(tokens))]
		if len(l)+len(r) > maxGrown {
			l = tokens[rng.Intn(base)]
		}
		if len(l)+len(r) <= maxGrown {
			return l, r
		}
	}
}

// grown pads b to size-specials tokens when size asks for more than b has.
func (b BPE) grown(size, specials int) BPE {
	if size > len(b.Tokens)+specials {
		return b.Grow(size-specials, 1)
	}
	return b
}

// typed is a token with its GGUF token type.
type typed struct {
	text string
	typ  int32
}

func control(texts ...string) []typed     { return withType(tokenizer.TypeControl, texts) }
func userDefined(texts ...string) []typed { return withType(tokenizer.TypeUserDefined, texts) }
func withType(typ int32, texts []string) []typed {
	out := make([]typed, len(texts))
	for i, s := range texts {
		out[i] = typed{s, typ}
	}
	return out
}

// bpeVocab lays out a gpt2 vocabulary: specials before or after b's tokens.
func bpeVocab(pre string, b BPE, before, after []typed) (tokenizer.Vocab, map[string]int) {
	v := tokenizer.Vocab{Model: "gpt2", Pre: pre, Merges: b.Merges, BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	ids := map[string]int{}
	add := func(s string, typ int32) {
		ids[s] = len(v.Tokens)
		v.Tokens = append(v.Tokens, s)
		v.Types = append(v.Types, typ)
	}
	for _, t := range before {
		add(t.text, t.typ)
	}
	for _, s := range b.Tokens {
		add(s, tokenizer.TypeNormal)
	}
	for _, t := range after {
		add(t.text, t.typ)
	}
	return v, ids
}

// Qwen2 is Qwen2.5/Qwen3's layout (pre-tokenizer "qwen2"): the BPE tokens,
// then "<|endoftext|>", "<|im_start|>", "<|im_end|>" and the vision/FIM
// tokens as control, "<tool_call>", "<think>" and the like as user-defined
// (their tokenizer does not mark them special), then "[PAD…]" unused
// fillers as the converter writes up to the embedding size. BOS and PAD are
// "<|endoftext|>", EOS "<|im_end|>" (the instruct models' GGUF), no BOS
// added. size > 0 pads the merges so the vocabulary has size tokens.
func Qwen2(b BPE, size int) tokenizer.Vocab {
	specials := control("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
		"<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
		"<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
	specials = append(specials, userDefined("<tool_call>", "</tool_call>")...)
	specials = append(specials, control("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
		"<|repo_name|>", "<|file_sep|>")...)
	specials = append(specials, userDefined("<tool_response>", "</tool_response>", "<think>", "</think>")...)
	const pads = 4
	b = b.grown(size, len(specials)+pads)
	for i := 0; i < pads; i++ {
		specials = append(specials, typed{fmt.Sprintf("[PAD%d]", len(b.Tokens)+len(specials)), tokenizer.TypeUnused})
	}
	v, ids := bpeVocab("qwen2", b, nil, specials)
	v.BOS, v.EOS, v.PAD = ids["<|endoftext|>"], ids["<|im_end|>"], ids["<|endoftext|>"]
	return v
}

// Llama3 is Llama 3.x's layout (pre-tokenizer "llama-bpe"): the BPE tokens,
// then 256 control tokens ("<|begin_of_text|>", "<|end_of_text|>",
// "<|start_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>" and
// "<|reserved_special_token_N|>"). BOS "<|begin_of_text|>", EOS "<|eot_id|>"
// (instruct), PAD "<|finetune_right_pad_id|>", BOS added.
func Llama3(b BPE, size int) tokenizer.Vocab {
	named := []string{"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
		"<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
		"<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"}
	for i := 3; len(named) < 256; i++ {
		named = append(named, fmt.Sprintf("<|reserved_special_token_%d|>", i))
	}
	specials := control(named...)
	b = b.grown(size, len(specials))
	v, ids := bpeVocab("llama-bpe", b, nil, specials)
	v.BOS, v.EOS, v.PAD = ids["<|begin_of_text|>"], ids["<|eot_id|>"], ids["<|finetune_right_pad_id|>"]
	v.AddBOS = true
	return v
}

// SmolLM is SmolLM2's layout (pre-tokenizer "smollm"): 17 control tokens
// first ("<|endoftext|>" 0, "<|im_start|>" 1, "<|im_end|>" 2, the
// repository/issue/jupyter markers), then the BPE tokens. BOS
// "<|im_start|>", EOS and PAD "<|im_end|>", UNK "<|endoftext|>" (the
// instruct model's GGUF), no BOS added.
func SmolLM(b BPE, size int) tokenizer.Vocab {
	specials := control("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>",
		"<file_sep>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
		"<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<jupyter_script>",
		"<empty_output>")
	b = b.grown(size, len(specials))
	v, ids := bpeVocab("smollm", b, specials, nil)
	v.BOS, v.EOS, v.PAD, v.UNK = ids["<|im_start|>"], ids["<|im_end|>"], ids["<|im_end|>"], ids["<|endoftext|>"]
	return v
}

// SPM is a SentencePiece vocabulary's normal pieces (after the byte tokens)
// with their scores.
type SPM struct {
	Pieces []string
	Scores []float32
}

// SPMFrom takes the pieces of a tokenizer.TrainSPM result (those after
// ByteVocab's "<unk>", "<s>", "</s>" and byte tokens).
func SPMFrom(v tokenizer.Vocab) SPM {
	const first = 3 + 256
	return SPM{Pieces: slices.Clone(v.Tokens[first:]), Scores: slices.Clone(v.Scores[first:])}
}

// Grow returns s with synthetic pieces (concatenations of random pieces,
// scored below every existing one) added until it has n pieces.
func (s SPM) Grow(n int, seed int64) SPM {
	out := SPM{Pieces: slices.Clone(s.Pieces), Scores: slices.Clone(s.Scores)}
	have := make(map[string]bool, n)
	low := float32(0)
	for i, p := range out.Pieces {
		have[p] = true
		low = min(low, out.Scores[i])
	}
	rng := rand.New(rand.NewSource(seed))
	base := len(s.Pieces)
	for len(out.Pieces) < n {
		l, r := pick(rng, out.Pieces, base)
		p := l + r
		if have[p] {
			continue
		}
		have[p] = true
		low--
		out.Pieces = append(out.Pieces, p)
		out.Scores = append(out.Scores, low)
	}
	return out
}

// Gemma3 is Gemma 3's layout (tokenizer model "llama", SentencePiece with
// byte fallback): "<pad>" 0, "<eos>" 1, "<bos>" 2 (control), "<unk>" 3,
// "<mask>" and "[@BOS@]" (control), "<unusedN>" control tokens,
// "<start_of_turn>"/"<end_of_turn>", user-defined whitespace runs and HTML
// tags (written with real spaces, score -1000, as the converter does for
// added tokens that are not special), the byte tokens "<0x00>".."<0xFF>",
// the pieces, and "<start_of_image>"/"<end_of_image>" last. No space prefix
// (tokenizer.ggml.add_space_prefix = false), BOS added. unused sets the
// number of "<unusedN>" tokens (real files: about 6000); size > 0 pads the
// pieces so the vocabulary has size tokens.
func Gemma3(s SPM, unused, size int) tokenizer.Vocab {
	v := tokenizer.Vocab{Model: "llama", Pre: "default", BOS: 2, EOS: 1, UNK: 3, PAD: 0, AddBOS: true}
	add := func(text string, typ int32, score float32) {
		v.Tokens = append(v.Tokens, text)
		v.Types = append(v.Types, typ)
		v.Scores = append(v.Scores, score)
	}
	for _, t := range control("<pad>", "<eos>", "<bos>") {
		add(t.text, t.typ, 0)
	}
	add("<unk>", tokenizer.TypeUnknown, 0)
	add("<mask>", tokenizer.TypeControl, -1000)
	add("[@BOS@]", tokenizer.TypeControl, -1000)
	for i := 0; i < unused; i++ {
		add(fmt.Sprintf("<unused%d>", i), tokenizer.TypeControl, -1000)
	}
	add("<start_of_turn>", tokenizer.TypeControl, -1000)
	add("<end_of_turn>", tokenizer.TypeControl, -1000)
	for _, t := range userDefined("  ", "   ", "    ", "\t\t", "\n\n", "\n\n\n", "<table>", "<tr>", "<td>", "</td>", "<h1>", "<br>") {
		add(t.text, t.typ, -1000)
	}
	for c := 0; c < 256; c++ {
		add(fmt.Sprintf("<0x%02X>", c), tokenizer.TypeByte, 0)
	}
	tail := control("<start_of_image>", "<end_of_image>")
	if need := size - len(v.Tokens) - len(tail); need > len(s.Pieces) {
		s = s.Grow(need, 1)
	}
	for i, p := range s.Pieces {
		add(p, tokenizer.TypeNormal, s.Scores[i])
	}
	for _, t := range tail {
		add(t.text, t.typ, -1000)
	}
	return v
}
