package lora

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The GGUF tensor names an adapter may adapt, in one place: llama.cpp applies
// LoRA (build_lora_mm) to these linear weights of the llama family, and
// qwen2, qwen3 and gemma3 use the same names (their extra tensors, biases
// and q/k norms, are not LoRA targets).
var (
	// blockTargets are the linear weights of block N: blk.N.<target>.weight.
	blockTargets = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
	// modelTargets are the adaptable weights outside the blocks: the output
	// head and the token embeddings (<target>.weight).
	modelTargets = []string{"output", tokenEmbdTarget}
)

// tokenEmbdTarget is the target whose lora_a is transposed.
const tokenEmbdTarget = "token_embd"

// MaxBlockIndex is the largest N of a blk.N tensor name an adapter may
// carry (models have well under a thousand blocks).
const MaxBlockIndex = 9999

// BlockTargets returns the names of the linear weights of a transformer
// block that an adapter may adapt (attn_q, attn_k, attn_v, attn_output,
// ffn_gate, ffn_up, ffn_down), as a new slice.
func BlockTargets() []string { return slices.Clone(blockTargets) }

// TargetOf returns the target of an adaptable base tensor name
// (blk.3.attn_q.weight → attn_q, output.weight → output) and whether the
// name is one: blk.N.<block target>.weight with N a decimal in
// [0, MaxBlockIndex] without leading zeros, or output.weight or
// token_embd.weight. Any other name (../../etc, blk.x.attn_q.weight,
// blk.0.attn_q.bias) is not adaptable.
func TargetOf(base string) (string, bool) {
	s, ok := strings.CutSuffix(base, ".weight")
	if !ok {
		return "", false
	}
	if slices.Contains(modelTargets, s) {
		return s, true
	}
	n, t, ok := blockPart(s)
	if !ok || n < 0 || !slices.Contains(blockTargets, t) {
		return "", false
	}
	return t, true
}

// blockPart splits "blk.N.rest" into N and rest; ok is false for any
// other shape, a non-decimal N, a leading zero or N > MaxBlockIndex.
func blockPart(s string) (n int, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, "blk.")
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(s, ".")
	if !ok || num == "" || len(num) > 1 && num[0] == '0' || len(num) > len(strconv.Itoa(MaxBlockIndex)) {
		return 0, "", false
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	n, _ = strconv.Atoi(num)
	return n, rest, n <= MaxBlockIndex
}

// normName reports whether name is a norm weight of the llama-family
// shape, blk.N.<x>_norm.weight or <x>_norm.weight with x of lower-case
// letters, digits and underscores: the tensors llama.cpp skips in an
// adapter (mergekit writes them).
func normName(name string) bool {
	s, ok := strings.CutSuffix(name, "_norm.weight")
	if !ok {
		return false
	}
	if _, rest, isBlock := blockPart(s + "_norm"); isBlock {
		s = strings.TrimSuffix(rest, "_norm")
	}
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validArchitecture reports whether arch has the shape of a llama.cpp
// architecture name (llama, qwen2, gemma3, command-r, ...): 1 to
// MaxArchitectureLength bytes of lower-case letters, digits, '_', '-' and
// '.', starting with a letter or digit.
func validArchitecture(arch string) bool {
	if arch == "" || len(arch) > MaxArchitectureLength {
		return false
	}
	for i, c := range []byte(arch) {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// MaxArchitectureLength is the longest general.architecture an adapter may
// carry (llama.cpp's names have at most a dozen or so bytes).
const MaxArchitectureLength = 64

// maxEcho is the most bytes of a name from a file that an error repeats.
const maxEcho = 200

// quoteName quotes s for an error message, cut to maxEcho bytes (on a
// rune boundary) with "…" and its length when longer.
func quoteName(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]+"…") + " (" + strconv.Itoa(len(s)) + " bytes)"
}
