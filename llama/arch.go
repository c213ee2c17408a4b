package llama

import (
	"fmt"
	"slices"
	"strings"

	"github.com/webtune/webtune/kernels"
)

// Recipe is what distinguishes one model family from llama: its GGUF key
// prefix (the architecture name), its rope layout and the optional
// per-layer tensors and steps its blocks have. Every family shares the
// block of forward.go and the building blocks of package kernels; a new
// family is a new entry in recipes plus, when it needs a step llama does
// not have, a flag here that forward.go and backward.go test.
type Recipe struct {
	// Name is general.architecture and the prefix of the family's keys
	// (qwen2.embedding_length).
	Name string
	// Rope is the rope layout (NORM: adjacent pairs; NEOX: i and i+HS/2).
	Rope kernels.RopeMode
	// QKVBias accepts optional attn_q/attn_k/attn_v biases (all three in
	// every block, or none: Config.QKVBias says which a model has).
	QKVBias bool
	// QKNorm requires per-head RMSNorms attn_q_norm and attn_k_norm [HS]
	// on q and k before rope (qwen3).
	QKNorm bool
	// RopeFreqs accepts rope_freqs.weight [HS/2], the per-pair frequency
	// factors of Llama 3's rope scaling.
	RopeFreqs bool
	// HeadDimIsRope requires rope.dimension_count = key_length, as
	// llama.cpp checks for llama (the other families assert it at graph
	// build time).
	HeadDimIsRope bool

	// The flags below are Gemma 3's (docs/gemma3.md).

	// EmbedScale multiplies the token embeddings by √C (float32).
	EmbedScale bool
	// PostNorms requires RMSNorms post_attention_norm and post_ffw_norm
	// [C] on the attention and feed-forward outputs before each joins the
	// residual stream.
	PostNorms bool
	// GELU gates the feed-forward network with GELU-tanh (GeGLU) instead of
	// SiLU.
	GELU bool
	// SlidingWindow reads attention.sliding_window, its layer pattern
	// (attention.sliding_window_pattern, default 6) and the local layers'
	// rope base (rope.freq_base_swa, default 10000): local layers attend
	// the window only and rope with that base, unscaled.
	SlidingWindow bool
	// Softcap reads final_logit_softcapping (logits ← c·tanh(logits/c)).
	Softcap bool
	// GemmaQueryScale scales the scores by 1/√(C/NH) instead of 1/√HS for
	// the 62-layer model, as llama.cpp's gemma3 does for Gemma 3 27B.
	GemmaQueryScale bool
}

// recipes maps general.architecture to its recipe: the one place that says
// which families this package runs. Sources: llama.cpp src/llama-arch.cpp
// (names), src/llama-model.cpp (hyperparameters, rope type), and
// src/models/{llama,qwen2,qwen3,gemma3}.cpp (tensors and graph), summarised in
// docs/llama-families.md and docs/gemma3.md.
var recipes = map[string]Recipe{
	"llama": {Name: "llama", Rope: kernels.RopeNorm, QKVBias: true, RopeFreqs: true, HeadDimIsRope: true},
	"qwen2": {Name: "qwen2", Rope: kernels.RopeNeox, QKVBias: true},
	"qwen3": {Name: "qwen3", Rope: kernels.RopeNeox, QKVBias: true, QKNorm: true},
	"gemma3": {Name: "gemma3", Rope: kernels.RopeNeox, QKVBias: true, QKNorm: true, EmbedScale: true, PostNorms: true, GELU: true,
		SlidingWindow: true, Softcap: true, GemmaQueryScale: true},
}

// Architectures returns the general.architecture values this package runs,
// sorted.
func Architectures() []string {
	var names []string
	for n := range recipes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// RecipeOf returns the recipe of architecture arch ("" is llama), or an
// ErrUnsupported error naming it and the supported ones.
func RecipeOf(arch string) (Recipe, error) {
	if arch == "" {
		arch = Architecture
	}
	r, ok := recipes[arch]
	if !ok {
		return Recipe{}, fmt.Errorf("%w: architecture %q (supported: %s)", ErrUnsupported, arch, strings.Join(Architectures(), ", "))
	}
	return r, nil
}

// recipe returns c's recipe; Validate has checked that it exists.
func (c Config) recipe() Recipe {
	r, err := RecipeOf(c.Arch)
	if err != nil {
		panic(err) // Validate refuses unknown architectures
	}
	return r
}

// Architecture returns c's general.architecture ("llama" for an empty Arch).
func (c Config) Architecture() string {
	if c.Arch == "" {
		return Architecture
	}
	return c.Arch
}
