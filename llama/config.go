package llama

import (
	"errors"
	"fmt"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/kernels"
)

// Sentinel errors; every error of this package wraps one of these or an
// error of gguf (gguf.ErrNotFound, gguf.ErrType for metadata keys).
var (
	// ErrConfig reports hyperparameters that do not describe a valid model.
	ErrConfig = errors.New("llama: bad config")
	// ErrUnsupported reports a model this package cannot run (an
	// architecture without a Recipe, YaRN or LongRoPE scaling, partial
	// rope, a bias tensor its family does not have, a tensor type gguf
	// cannot decode).
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

// Architecture is the general.architecture of the zero Config's family.
// The package runs every family of Architectures() (arch.go).
const Architecture = "llama"

// Config holds the hyperparameters of a model of one of the families in
// arch.go, read from the keys of its architecture (llama.embedding_length,
// qwen2.embedding_length, ...). Sizes are ints in Go; in GGUF they are
// UINT32. The zero values of the fields after TiedOutput are llama's
// defaults, so a Config literal without them is a plain llama.
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

	// Arch is general.architecture; "" (and "llama") is llama. It selects
	// the Recipe (arch.go).
	Arch string
	// QKVBias means every block has attn_q/attn_k/attn_v biases (qwen2's
	// files do; llama.cpp accepts them for llama and qwen3 too).
	QKVBias bool
	// RopeFreqScale multiplies every rope angle: 1/rope.scaling.factor
	// under linear scaling; 0 means 1.
	RopeFreqScale float32
	// RopeAttnFactor multiplies rope's cos and sin
	// (rope.scaling.attn_factor); 0 means 1.
	RopeAttnFactor float32

	// Gemma 3 (Recipe.SlidingWindow, Softcap, GemmaQueryScale; zero for the
	// other families).

	// SlidingWindow is attention.sliding_window: a local layer's query
	// attends the SlidingWindow most recent positions, its own included;
	// 0 means every layer is global.
	SlidingWindow int
	// SlidingWindowPattern is attention.sliding_window_pattern P: layer l
	// is local when l%P < P−1 (P = 0: all local), as llama.cpp's
	// set_swa_pattern.
	SlidingWindowPattern int
	// RopeBaseSWA is the local layers' rope base (rope.freq_base_swa);
	// they use no rope scaling.
	RopeBaseSWA float32
	// AttnScale multiplies the attention scores; 0 means 1/√HeadDim.
	// llama.cpp derives it (Recipe.GemmaQueryScale), no key holds it.
	AttnScale float32
	// FinalSoftcap caps the logits at c·tanh(logits/c)
	// (final_logit_softcapping); 0 means none.
	FinalSoftcap float32
}

// IsLocal reports whether layer l is a sliding-window layer.
func (c Config) IsLocal(l int) bool {
	if c.SlidingWindow <= 0 {
		return false
	}
	P := c.SlidingWindowPattern
	return P == 0 || l%P < P-1
}

// attn returns the attention shape of layer l for B sequences of Tq
// queries over Tk keys: c's score scale, and its window on local layers.
func (c Config) attn(l, B, Tq, Tk int) kernels.Attn {
	a := kernels.Attn{B: B, Tq: Tq, Tk: Tk, NH: c.Heads, NKV: c.KVHeads, HS: c.HeadDim, Scale: float64(c.AttnScale)}
	if c.IsLocal(l) {
		a.Window = c.SlidingWindow
	}
	return a
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
	if _, err := RecipeOf(c.Arch); err != nil {
		return err
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
	case !(c.RopeFreqScale >= 0) || !(c.RopeAttnFactor >= 0):
		return fmt.Errorf("%w: rope freq scale %g / attn factor %g negative", ErrConfig, c.RopeFreqScale, c.RopeAttnFactor)
	case c.SlidingWindow < 0 || c.SlidingWindowPattern < 0 || c.SlidingWindowPattern > MaxLayers:
		return fmt.Errorf("%w: sliding window %d, pattern %d", ErrConfig, c.SlidingWindow, c.SlidingWindowPattern)
	case c.SlidingWindow > 0 && !(c.RopeBaseSWA > 0):
		return fmt.Errorf("%w: local rope freq base %g not positive", ErrConfig, c.RopeBaseSWA)
	case !(c.AttnScale >= 0) || !(c.FinalSoftcap >= 0):
		return fmt.Errorf("%w: attention scale %g / final softcap %g negative", ErrConfig, c.AttnScale, c.FinalSoftcap)
	}
	if rec := c.recipe(); (c.SlidingWindow > 0 && !rec.SlidingWindow) || (c.FinalSoftcap > 0 && !rec.Softcap) {
		return fmt.Errorf("%w: a %s model has no sliding window or final softcap", ErrConfig, c.Architecture())
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
	if c.QKVBias {
		block += q + 2*kv
	}
	if r, err := RecipeOf(c.Arch); err == nil {
		if r.QKNorm {
			block += 2 * int64(c.HeadDim)
		}
		if r.PostNorms {
			block += 2 * C
		}
	}
	n := int64(c.VocabSize)*C + C + int64(c.Layers)*block
	if !c.TiedOutput {
		n += int64(c.VocabSize) * C
	}
	return n
}

// ConfigFromGGUF reads the hyperparameters of a file of any family in
// arch.go from the keys of its architecture, with the exact types
// llama.cpp requires (UINT32 sizes, FLOAT32 eps and base). A missing or
// mistyped key is an error naming it; an architecture this package does
// not run is ErrUnsupported naming it. TiedOutput is set when output.weight
// is absent, QKVBias when blk.0.attn_q.bias is present.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	arch, err := f.GetString("general.architecture")
	if err != nil {
		return Config{}, fmt.Errorf("llama: %w", err)
	}
	rec, err := RecipeOf(arch)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if arch != Architecture {
		c.Arch = arch
	}
	p := arch + "."
	r := keyReader{f: f}
	c.ContextLength = r.u32(p + "context_length")
	c.Dim = r.u32(p + "embedding_length")
	c.Layers = r.u32(p + "block_count")
	c.FFN = r.perLayer(p+"feed_forward_length", -1)
	c.Heads = r.perLayer(p+"attention.head_count", -1)
	c.KVHeads = r.perLayer(p+"attention.head_count_kv", c.Heads)
	c.Eps = r.f32(p+"attention.layer_norm_rms_epsilon", -1)
	c.RopeBase = r.f32(p+"rope.freq_base", 10000)
	if r.err != nil {
		return Config{}, r.err
	}
	def := 0
	if c.Heads > 0 {
		def = c.Dim / c.Heads
	}
	kl := r.u32opt(p+"attention.key_length", def)
	vl := r.u32opt(p+"attention.value_length", def)
	rot := r.u32opt(p+"rope.dimension_count", kl)
	c.HeadDim = kl
	c.VocabSize = r.vocab(p + "vocab_size")
	if r.err != nil {
		return Config{}, r.err
	}
	if vl != kl {
		return Config{}, fmt.Errorf("%w: %sattention.value_length %d differs from key_length %d", ErrUnsupported, p, vl, kl)
	}
	if rot != kl {
		return Config{}, fmt.Errorf("%w: %srope.dimension_count %d differs from the head size %d (partial rope)", ErrUnsupported, p, rot, kl)
	}
	if c.RopeFreqScale, c.RopeAttnFactor, err = ropeScaling(f, p); err != nil {
		return Config{}, err
	}
	if err := c.gemmaKeys(f, rec); err != nil {
		return Config{}, err
	}
	if _, ok := f.Tensor("output.weight"); !ok {
		c.TiedOutput = true
	}
	if _, ok := f.Tensor("blk.0.attn_q.bias"); ok && rec.QKVBias {
		c.QKVBias = true
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ropeScaling reads the rope scaling keys as llama.cpp does: type
// (default "linear"), factor (or the older rope.scale_linear; 0 = none)
// and attn_factor. "none" and "linear" are supported (freq scale
// 1/factor, 1 under "none"); YaRN and LongRoPE are not. Llama 3's scaling
// is no key: its per-pair factors are the rope_freqs.weight tensor. Scale
// and factor come back as 0 when they are 1.
func ropeScaling(f *gguf.File, p string) (scale, attn float32, err error) {
	r := keyReader{f: f}
	typ := "linear"
	if _, ok := f.Value(p + "rope.scaling.type"); ok {
		s, err := f.GetString(p + "rope.scaling.type")
		if err != nil {
			return 0, 0, fmt.Errorf("llama: %w", err)
		}
		typ = s
	}
	factor := r.f32(p+"rope.scaling.factor", 0)
	if _, ok := f.Value(p + "rope.scaling.factor"); !ok {
		factor = r.f32(p+"rope.scale_linear", 0)
	}
	attn = r.f32(p+"rope.scaling.attn_factor", 1)
	if r.err != nil {
		return 0, 0, r.err
	}
	switch typ {
	case "none":
		scale = 1
	case "linear":
		scale = 1
		if factor != 0 {
			scale = 1 / factor
		}
	default:
		return 0, 0, fmt.Errorf("%w: %srope.scaling.type %q (supported: none, linear, and Llama 3's rope_freqs.weight)", ErrUnsupported, p, typ)
	}
	if !(scale > 0) || !(attn > 0) {
		return 0, 0, fmt.Errorf("%w: %srope.scaling.factor %g / attn_factor %g", ErrConfig, p, factor, attn)
	}
	if scale == 1 {
		scale = 0
	}
	if attn == 1 {
		attn = 0
	}
	return scale, attn, nil
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

// vocab reads key (<arch>.vocab_size), else the tokenizer.ggml.tokens
// length, else token_embd.weight's ne[1].
func (r *keyReader) vocab(key string) int {
	if _, ok := r.f.Value(key); ok {
		return r.u32(key)
	}
	if v, ok := r.f.Value("tokenizer.ggml.tokens"); ok && v.Type() == gguf.ValueArray {
		if s, ok := v.Any().([]string); ok {
			return len(s)
		}
	}
	if ti, ok := r.f.Tensor("token_embd.weight"); ok && len(ti.Dims) == 2 && ti.Dims[1] <= MaxVocab {
		return int(ti.Dims[1])
	}
	r.err = fmt.Errorf("llama: key %q (nor tokenizer.ggml.tokens, nor token_embd.weight): %w", key, gguf.ErrNotFound)
	return 0
}

// KVs returns the metadata of c's architecture with the exact types
// llama.cpp checks: general.architecture and every <arch>.* size as UINT32,
// eps, rope base and rope scaling as FLOAT32. Tokenizer keys are the
// caller's.
func (c Config) KVs() []gguf.KV {
	u := func(v int) gguf.Value { return gguf.Uint32(uint32(v)) }
	p := c.Architecture() + "."
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String(c.Architecture())},
		{Key: p + "vocab_size", Value: u(c.VocabSize)},
		{Key: p + "context_length", Value: u(c.ContextLength)},
		{Key: p + "embedding_length", Value: u(c.Dim)},
		{Key: p + "block_count", Value: u(c.Layers)},
		{Key: p + "feed_forward_length", Value: u(c.FFN)},
		{Key: p + "attention.head_count", Value: u(c.Heads)},
		{Key: p + "attention.head_count_kv", Value: u(c.KVHeads)},
		{Key: p + "attention.key_length", Value: u(c.HeadDim)},
		{Key: p + "attention.value_length", Value: u(c.HeadDim)},
		{Key: p + "rope.dimension_count", Value: u(c.HeadDim)},
		{Key: p + "rope.freq_base", Value: gguf.Float32(c.RopeBase)},
		{Key: p + "attention.layer_norm_rms_epsilon", Value: gguf.Float32(c.Eps)},
	}
	if c.RopeFreqScale != 0 && c.RopeFreqScale != 1 {
		kvs = append(kvs, gguf.KV{Key: p + "rope.scaling.type", Value: gguf.String("linear")},
			gguf.KV{Key: p + "rope.scaling.factor", Value: gguf.Float32(1 / c.RopeFreqScale)})
	}
	if c.RopeAttnFactor != 0 && c.RopeAttnFactor != 1 {
		kvs = append(kvs, gguf.KV{Key: p + "rope.scaling.attn_factor", Value: gguf.Float32(c.RopeAttnFactor)})
	}
	if c.SlidingWindow > 0 {
		kvs = append(kvs, gguf.KV{Key: p + "attention.sliding_window", Value: u(c.SlidingWindow)},
			gguf.KV{Key: p + "attention.sliding_window_pattern", Value: u(c.SlidingWindowPattern)},
			gguf.KV{Key: p + "rope.freq_base_swa", Value: gguf.Float32(c.RopeBaseSWA)})
	}
	if c.FinalSoftcap > 0 {
		kvs = append(kvs, gguf.KV{Key: p + "final_logit_softcapping", Value: gguf.Float32(c.FinalSoftcap)})
	}
	return kvs
}

// rope returns the kernels.Rope of c (without frequency factors).
func (c Config) rope() kernels.Rope {
	return kernels.Rope{Mode: c.recipe().Rope, Base: c.RopeBase, FreqScale: c.RopeFreqScale, AttnFactor: c.RopeAttnFactor}
}

// localRope returns the rope of c's sliding-window layers: base
// RopeBaseSWA, no frequency scaling (llama.cpp's rope_freq_scale_train_swa
// is 1), the same attention factor.
func (c Config) localRope() kernels.Rope {
	r := c.rope()
	r.Base, r.FreqScale = c.RopeBaseSWA, 0
	return r
}
