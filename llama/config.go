package llama

import (
	"errors"
	"fmt"

	"github.com/webtune/webtune/gguf"
)

// Sentinel errors; every error of this package wraps one of these or an
// error of gguf (gguf.ErrNotFound, gguf.ErrType for metadata keys).
var (
	// ErrConfig reports hyperparameters that do not describe a valid model.
	ErrConfig = errors.New("llama: bad config")
	// ErrUnsupported reports a model this package cannot run (another
	// architecture, rope scaling, bias tensors, a tensor type gguf cannot
	// decode).
	ErrUnsupported = errors.New("llama: unsupported")
	// ErrShape reports a tensor or input of the wrong shape, or a missing or
	// unexpected tensor.
	ErrShape = errors.New("llama: bad shape")
	// ErrNoForward reports a Backward without a matching Forward.
	ErrNoForward = errors.New("llama: backward without forward")
)

// Limits on hyperparameters read from a file, checked before anything is
// allocated.
const (
	MaxDim    = 1 << 16 // MaxDim bounds embedding, head and feed-forward widths.
	MaxVocab  = 1 << 22 // MaxVocab bounds the vocabulary size.
	MaxLayers = 1 << 10 // MaxLayers bounds the block count.
	MaxHeads  = 1 << 10 // MaxHeads bounds the head counts.
	MaxParams = 1 << 36 // MaxParams bounds the total parameter count.
)

// Architecture is the general.architecture value this package runs.
const Architecture = "llama"

// Config holds the hyperparameters of a llama-architecture model (SPECS
// §B.7). Sizes are ints in Go; in GGUF they are UINT32.
type Config struct {
	VocabSize     int     // VocabSize is n_vocab (llama.vocab_size or the tokens array length).
	Dim           int     // Dim is n_embd (llama.embedding_length).
	Layers        int     // Layers is n_layer (llama.block_count).
	Heads         int     // Heads is n_head (llama.attention.head_count).
	KVHeads       int     // KVHeads is n_head_kv (llama.attention.head_count_kv, default Heads).
	HeadDim       int     // HeadDim is the head size = rope dimension count (default Dim/Heads).
	FFN           int     // FFN is n_ff (llama.feed_forward_length).
	Eps           float32 // Eps is llama.attention.layer_norm_rms_epsilon.
	RopeBase      float32 // RopeBase is llama.rope.freq_base (default 10000).
	ContextLength int     // ContextLength is llama.context_length (the KV cache's maximum).
	TiedOutput    bool    // TiedOutput means no output.weight: logits use token_embd.
}

// Validate checks that the sizes are positive, within the package limits and
// consistent (KVHeads divides Heads, HeadDim even).
func (c Config) Validate() error {
	for _, f := range []struct {
		name   string
		v, max int
	}{
		{"vocab size", c.VocabSize, MaxVocab}, {"embedding length", c.Dim, MaxDim},
		{"block count", c.Layers, MaxLayers}, {"head count", c.Heads, MaxHeads},
		{"head count kv", c.KVHeads, MaxHeads}, {"head dim", c.HeadDim, MaxDim},
		{"feed forward length", c.FFN, MaxDim}, {"context length", c.ContextLength, 1 << 24},
	} {
		if f.v <= 0 || f.v > f.max {
			return fmt.Errorf("%w: %s %d outside [1, %d]", ErrConfig, f.name, f.v, f.max)
		}
	}
	switch {
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%w: head count %d not a multiple of head count kv %d", ErrConfig, c.Heads, c.KVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("%w: head dim %d is odd (rope rotates pairs)", ErrConfig, c.HeadDim)
	case !(c.Eps > 0):
		return fmt.Errorf("%w: rms epsilon %g not positive", ErrConfig, c.Eps)
	case !(c.RopeBase > 0):
		return fmt.Errorf("%w: rope freq base %g not positive", ErrConfig, c.RopeBase)
	}
	if n := c.ParamCount(); n > MaxParams {
		return fmt.Errorf("%w: %d parameters exceed %d", ErrConfig, n, int64(MaxParams))
	}
	return nil
}

// ParamCount returns the number of base parameters (tied output counted once).
func (c Config) ParamCount() int64 {
	C, F, q, kv := int64(c.Dim), int64(c.FFN), int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	block := 2*C + C*q + 2*C*kv + q*C + 3*C*F
	n := int64(c.VocabSize)*C + C + int64(c.Layers)*block
	if !c.TiedOutput {
		n += int64(c.VocabSize) * C
	}
	return n
}

// ConfigFromGGUF reads the hyperparameters of a llama-architecture file with
// the exact types llama.cpp requires (UINT32 sizes, FLOAT32 eps and base).
// A missing or mistyped key is an error naming it; another architecture is
// ErrUnsupported. TiedOutput is set when output.weight is absent.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	arch, err := f.GetString("general.architecture")
	if err != nil {
		return Config{}, fmt.Errorf("llama: %w", err)
	}
	if arch != Architecture {
		return Config{}, fmt.Errorf("%w: architecture %q (want %q)", ErrUnsupported, arch, Architecture)
	}
	var c Config
	r := keyReader{f: f}
	c.ContextLength = r.u32("llama.context_length")
	c.Dim = r.u32("llama.embedding_length")
	c.Layers = r.u32("llama.block_count")
	c.FFN = r.perLayer("llama.feed_forward_length", -1)
	c.Heads = r.perLayer("llama.attention.head_count", -1)
	c.KVHeads = r.perLayer("llama.attention.head_count_kv", c.Heads)
	c.Eps = r.f32("llama.attention.layer_norm_rms_epsilon", -1)
	c.RopeBase = r.f32("llama.rope.freq_base", 10000)
	if r.err != nil {
		return Config{}, r.err
	}
	def := 0
	if c.Heads > 0 {
		def = c.Dim / c.Heads
	}
	c.HeadDim = r.u32opt("llama.rope.dimension_count", def)
	kl := r.u32opt("llama.attention.key_length", def)
	vl := r.u32opt("llama.attention.value_length", def)
	c.VocabSize = r.vocab()
	if r.err != nil {
		return Config{}, r.err
	}
	if kl != c.HeadDim || vl != c.HeadDim {
		return Config{}, fmt.Errorf("%w: llama.attention.key_length %d / value_length %d differ from llama.rope.dimension_count %d", ErrUnsupported, kl, vl, c.HeadDim)
	}
	if v, ok := f.Value("llama.rope.scaling.type"); ok {
		if s, _ := v.Any().(string); s != "none" && s != "" {
			return Config{}, fmt.Errorf("%w: llama.rope.scaling.type %q", ErrUnsupported, s)
		}
	}
	if _, ok := f.Tensor("output.weight"); !ok {
		c.TiedOutput = true
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// keyReader reads typed keys, keeping the first error.
type keyReader struct {
	f   *gguf.File
	err error
}

func (r *keyReader) u32(key string) int {
	if r.err != nil {
		return 0
	}
	v, err := r.f.GetUint32(key)
	if err != nil {
		r.err = fmt.Errorf("llama: %w", err)
	}
	return int(v)
}

// u32opt reads an optional UINT32 key, def when absent.
func (r *keyReader) u32opt(key string, def int) int {
	if _, ok := r.f.Value(key); !ok || r.err != nil {
		return def
	}
	return r.u32(key)
}

// f32 reads a FLOAT32 key; def < 0 means required.
func (r *keyReader) f32(key string, def float32) float32 {
	if r.err != nil {
		return 0
	}
	if _, ok := r.f.Value(key); !ok && def >= 0 {
		return def
	}
	v, err := r.f.GetFloat32(key)
	if err != nil {
		r.err = fmt.Errorf("llama: %w", err)
	}
	return v
}

// perLayer reads a UINT32 key or a per-layer INT32/UINT32 array whose
// entries must all be equal (llama.cpp accepts both forms); def < 0 means
// required.
func (r *keyReader) perLayer(key string, def int) int {
	if r.err != nil {
		return 0
	}
	v, ok := r.f.Value(key)
	if !ok && def >= 0 {
		return def
	}
	if !ok || v.Type() != gguf.ValueArray {
		return r.u32(key)
	}
	var vals []int
	switch a := v.Any().(type) {
	case []uint32:
		for _, x := range a {
			vals = append(vals, int(x))
		}
	case []int32:
		for _, x := range a {
			vals = append(vals, int(x))
		}
	default:
		r.err = fmt.Errorf("llama: key %q: array of %v: %w", key, v.ElemType(), gguf.ErrType)
		return 0
	}
	if len(vals) == 0 {
		r.err = fmt.Errorf("%w: key %q: empty array", ErrConfig, key)
		return 0
	}
	for _, x := range vals[1:] {
		if x != vals[0] {
			r.err = fmt.Errorf("%w: key %q: per-layer values differ", ErrUnsupported, key)
			return 0
		}
	}
	return vals[0]
}

// vocab reads llama.vocab_size, else the tokenizer.ggml.tokens length, else
// token_embd.weight's ne[1].
func (r *keyReader) vocab() int {
	if _, ok := r.f.Value("llama.vocab_size"); ok {
		return r.u32("llama.vocab_size")
	}
	if v, ok := r.f.Value("tokenizer.ggml.tokens"); ok && v.Type() == gguf.ValueArray {
		if s, ok := v.Any().([]string); ok {
			return len(s)
		}
	}
	if ti, ok := r.f.Tensor("token_embd.weight"); ok && len(ti.Dims) == 2 && ti.Dims[1] <= MaxVocab {
		return int(ti.Dims[1])
	}
	r.err = fmt.Errorf("llama: key %q (nor tokenizer.ggml.tokens, nor token_embd.weight): %w", "llama.vocab_size", gguf.ErrNotFound)
	return 0
}

// KVs returns the metadata of §B.7 for the config, with the exact types
// llama.cpp checks: general.architecture and every llama.* size as UINT32,
// eps and rope base as FLOAT32. Tokenizer keys are the caller's.
func (c Config) KVs() []gguf.KV {
	u := func(v int) gguf.Value { return gguf.Uint32(uint32(v)) }
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.String(Architecture)},
		{Key: "llama.vocab_size", Value: u(c.VocabSize)},
		{Key: "llama.context_length", Value: u(c.ContextLength)},
		{Key: "llama.embedding_length", Value: u(c.Dim)},
		{Key: "llama.block_count", Value: u(c.Layers)},
		{Key: "llama.feed_forward_length", Value: u(c.FFN)},
		{Key: "llama.attention.head_count", Value: u(c.Heads)},
		{Key: "llama.attention.head_count_kv", Value: u(c.KVHeads)},
		{Key: "llama.attention.key_length", Value: u(c.HeadDim)},
		{Key: "llama.attention.value_length", Value: u(c.HeadDim)},
		{Key: "llama.rope.dimension_count", Value: u(c.HeadDim)},
		{Key: "llama.rope.freq_base", Value: gguf.Float32(c.RopeBase)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32(c.Eps)},
	}
}
