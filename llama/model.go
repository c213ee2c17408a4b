package llama

import (
	"fmt"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// Block is one transformer block. The seven linear layers are nn.Node
// slots: *nn.Linear, *nn.NF4Linear, or a LoRA wrapper around either.
type Block[T tensor.Numeric] struct {
	AttnNorm *nn.Parameter[T] // AttnNorm is blk.N.attn_norm.weight [C].
	Q        nn.Node[T]       // Q is blk.N.attn_q: C → NH·HS.
	K        nn.Node[T]       // K is blk.N.attn_k: C → NKV·HS.
	V        nn.Node[T]       // V is blk.N.attn_v: C → NKV·HS.
	O        nn.Node[T]       // O is blk.N.attn_output: NH·HS → C.
	FFNNorm  *nn.Parameter[T] // FFNNorm is blk.N.ffn_norm.weight [C].
	Gate     nn.Node[T]       // Gate is blk.N.ffn_gate: C → F.
	Up       nn.Node[T]       // Up is blk.N.ffn_up: C → F.
	Down     nn.Node[T]       // Down is blk.N.ffn_down: F → C.

	// Optional per-layer tensors (nil when the config has none): never
	// LoRA targets, trainable only under SetTrainable(true).
	QBias, KBias, VBias *nn.Parameter[T] // QBias… are blk.N.attn_{q,k,v}.bias [NH·HS], [NKV·HS] (Config.QKVBias).
	QNorm, KNorm        *nn.Parameter[T] // QNorm, KNorm are blk.N.attn_{q,k}_norm.weight [HS] (Recipe.QKNorm).
	// PostAttnNorm, PostFFNNorm are blk.N.post_attention_norm.weight and
	// blk.N.post_ffw_norm.weight [C] (Recipe.PostNorms).
	PostAttnNorm, PostFFNNorm *nn.Parameter[T]
}

// extras returns the block's optional parameters that exist, in file order.
func (b *Block[T]) extras() []*nn.Parameter[T] {
	var ps []*nn.Parameter[T]
	for _, p := range []*nn.Parameter[T]{b.QBias, b.KBias, b.VBias, b.QNorm, b.KNorm, b.PostAttnNorm, b.PostFFNNorm} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Model is a causal LM of one of the families in arch.go (llama, qwen2,
// qwen3). It keeps the activations of the
// last Forward for Backward, so one Model serves one goroutine at a time.
//
// Layer names are the GGUF tensor names without ".weight" (blk.0.attn_q,
// output), so LoRA targets are attn_q, attn_k, attn_v, attn_output,
// ffn_gate, ffn_up, ffn_down and output. Model satisfies lora.Model[T].
type Model[T tensor.Numeric] struct {
	Config     Config
	TokenEmbd  *nn.Parameter[T] // TokenEmbd is token_embd.weight [V, C]; nil when held quantized (TokenEmbdMatrix).
	Blocks     []*Block[T]
	OutputNorm *nn.Parameter[T] // OutputNorm is output_norm.weight [C].
	// Output is the head C → V. With a tied config it is a Linear whose
	// weight parameter is TokenEmbd itself.
	Output nn.Node[T]
	// RopeFreqs are the optional per-pair frequency factors
	// (rope_freqs.weight, [HS/2]), nil when absent.
	RopeFreqs []float32

	engine     tensor.Engine[T]
	tokenEmbdQ *quant.Matrix              // token_embd.weight [V, C] in its GGUF type (then TokenEmbd is nil)
	actTypes   map[string]gguf.TensorType // layer → ggml activation type (MatchGGML)
	cos, sin   []T                        // [P, HS/2] rope cache for positions 0..P-1
	// cosL, sinL are the rope cache of sliding-window layers (their own
	// base, Config.localRope); nil without a window.
	cosL, sinL []T
	// geluGGML computes the GELU of a GELU-gated model through ggml's F16
	// table (LoadOptions.MatchGGML, emulate.go).
	geluGGML  bool
	acts      *activations[T]
	recompute bool // training forwards keep only each block's input (recompute.go)
}

// newModel returns a model with config c and no weights.
func newModel[T tensor.Numeric](c Config, engine tensor.Engine[T]) (*Model[T], error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if engine == nil {
		engine = DefaultEngine[T]()
	}
	m := &Model[T]{Config: c, engine: engine, Blocks: make([]*Block[T], c.Layers)}
	for i := range m.Blocks {
		m.Blocks[i] = &Block[T]{}
	}
	return m, nil
}

// DefaultEngine returns the engine Load and NewRandom use when given none:
// tensor.NewBlocked, the AVX2/FMA assembly engine for float32 on amd64
// CPUs that have it (5–9× gonum on training products, and attention's
// per-head products run on it too), tensor.NewCPU (gonum) for float64,
// elsewhere and under GOOS=js (where the browser bridge uses wasm/simd).
// tensor.NewCPU itself stays gonum.
func DefaultEngine[T tensor.Numeric]() tensor.Engine[T] { return tensor.NewBlocked[T]() }

// Engine returns the engine the model computes with.
func (m *Model[T]) Engine() tensor.Engine[T] { return m.engine }

// Architecture returns the model's general.architecture ("llama", "qwen2",
// ...), which an adapter for it must carry.
func (m *Model[T]) Architecture() string { return m.Config.Architecture() }

// BaseTensorName returns the GGUF tensor that layer adapts: layer+".weight"
// (blk.0.attn_q → blk.0.attn_q.weight).
func (m *Model[T]) BaseTensorName(layer string) string { return layer + ".weight" }

// slots returns a pointer to every linear slot with its name, in model order.
func (m *Model[T]) slots() ([]string, []*nn.Node[T]) {
	var names []string
	var ptrs []*nn.Node[T]
	for i, b := range m.Blocks {
		for _, s := range []struct {
			n string
			p *nn.Node[T]
		}{{"attn_q", &b.Q}, {"attn_k", &b.K}, {"attn_v", &b.V}, {"attn_output", &b.O},
			{"ffn_gate", &b.Gate}, {"ffn_up", &b.Up}, {"ffn_down", &b.Down}} {
			names = append(names, fmt.Sprintf("blk.%d.%s", i, s.n))
			ptrs = append(ptrs, s.p)
		}
	}
	return append(names, "output"), append(ptrs, &m.Output)
}

// Layers returns the linear layers (the LoRA targets) in model order:
// blk.0.attn_q … blk.N.ffn_down, output.
func (m *Model[T]) Layers() []nn.Node[T] {
	_, ptrs := m.slots()
	out := make([]nn.Node[T], len(ptrs))
	for i, p := range ptrs {
		out[i] = *p
	}
	return out
}

// ReplaceLayer puts replacement in the slot of the layer named name (a LoRA
// wrapper, an NF4 layer). The replacement must keep the layer's shape. A
// tied output head cannot be replaced: llama.cpp applies no adapter to it.
func (m *Model[T]) ReplaceLayer(name string, replacement nn.Node[T]) error {
	if replacement == nil {
		return fmt.Errorf("llama: replace layer %q: nil replacement", name)
	}
	names, ptrs := m.slots()
	for i, n := range names {
		if n != name {
			continue
		}
		if n == "output" && m.Config.TiedOutput {
			return fmt.Errorf("%w: layer %q is tied to token_embd; llama.cpp cannot apply a LoRA to it", ErrUnsupported, name)
		}
		*ptrs[i] = replacement
		return nil
	}
	return fmt.Errorf("llama: layer %q (have blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}, output): %w", name, nn.ErrNotFound)
}

// Layer returns the layer named name, or nil.
func (m *Model[T]) Layer(name string) nn.Node[T] {
	names, ptrs := m.slots()
	for i, n := range names {
		if n == name {
			return *ptrs[i]
		}
	}
	return nil
}

// AllParameters returns every parameter, frozen ones included, each once
// (a tied head's weight is TokenEmbd): embeddings, per block the norms and
// the parameters of its layers (LoRA A and B for wrapped layers), the output
// norm and head.
func (m *Model[T]) AllParameters() []*nn.Parameter[T] {
	seen := map[*nn.Parameter[T]]bool{}
	var ps []*nn.Parameter[T]
	add := func(p ...*nn.Parameter[T]) {
		for _, q := range p {
			if q != nil && !seen[q] {
				seen[q] = true
				ps = append(ps, q)
			}
		}
	}
	add(m.TokenEmbd)
	for _, b := range m.Blocks {
		add(b.AttnNorm)
		for _, l := range []nn.Node[T]{b.Q, b.K, b.V, b.O} {
			add(l.Parameters()...)
		}
		add(b.extras()...)
		add(b.FFNNorm)
		for _, l := range []nn.Node[T]{b.Gate, b.Up, b.Down} {
			add(l.Parameters()...)
		}
	}
	add(m.OutputNorm)
	add(m.Output.Parameters()...)
	return ps
}

// Parameters returns the trainable parameters (what an optimizer steps):
// LoRA A and B after injection; every weight after SetTrainable(true).
func (m *Model[T]) Parameters() []*nn.Parameter[T] {
	var ps []*nn.Parameter[T]
	for _, p := range m.AllParameters() {
		if p.Trainable {
			ps = append(ps, p)
		}
	}
	return ps
}

// ZeroGrad clears the gradients of all parameters.
func (m *Model[T]) ZeroGrad() { nn.ZeroGrads(m.AllParameters()) }

// SetTrainable freezes (false, the default after Load and NewRandom) or
// unfreezes every base weight for full fine-tuning: embeddings, norms, the
// linear layers and the head. Unfreezing needs every linear layer to be a
// plain *nn.Linear (not NF4, not LoRA-wrapped).
func (m *Model[T]) SetTrainable(on bool) error {
	names, ptrs := m.slots()
	if on {
		var bad []string
		for i, p := range ptrs {
			if _, ok := (*p).(*nn.Linear[T]); !ok {
				bad = append(bad, names[i]+" ("+(*p).OpType()+")")
			}
		}
		if m.tokenEmbdQ != nil {
			bad = append(bad, "token_embd ("+m.tokenEmbdQ.Type().String()+")")
		}
		if len(bad) > 0 {
			return fmt.Errorf("%w: full fine-tuning needs dense layers; not dense: %s", ErrUnsupported, strings.Join(bad, ", "))
		}
	}
	if m.TokenEmbd != nil {
		m.TokenEmbd.SetTrainable(on)
	}
	m.OutputNorm.SetTrainable(on)
	for _, b := range m.Blocks {
		b.AttnNorm.SetTrainable(on)
		b.FFNNorm.SetTrainable(on)
		for _, p := range b.extras() {
			p.SetTrainable(on)
		}
	}
	for _, p := range ptrs {
		if l, ok := (*p).(*nn.Linear[T]); ok {
			l.SetFrozen(!on)
		}
	}
	return nil
}

// ensureRope grows the rope cache to cover positions 0..P-1.
func (m *Model[T]) ensureRope(P int) {
	half := m.Config.HeadDim / 2
	if len(m.cos) >= P*half {
		return
	}
	P = max(P, min(m.Config.ContextLength, 2048), 2*len(m.cos)/max(half, 1))
	m.cos, m.sin = make([]T, P*half), make([]T, P*half)
	r := m.Config.rope()
	r.FreqFactors = m.RopeFreqs
	kernels.RopeCache(m.cos, m.sin, P, m.Config.HeadDim, r)
	if m.Config.SlidingWindow > 0 {
		m.cosL, m.sinL = make([]T, P*half), make([]T, P*half)
		kernels.RopeCache(m.cosL, m.sinL, P, m.Config.HeadDim, m.Config.localRope())
	}
}

// ropeOf returns the rope cache of layer l.
func (m *Model[T]) ropeOf(l int) (cos, sin []T) {
	if m.Config.IsLocal(l) {
		return m.cosL, m.sinL
	}
	return m.cos, m.sin
}

// QuantizeNF4 replaces every dense linear layer of the blocks with its NF4
// quantization (nn.QuantizeLinear), as Load does under QLoRA; the head stays
// dense. Call it before injecting LoRA.
func (m *Model[T]) QuantizeNF4(opt nf4.Options) error {
	for _, b := range m.Blocks {
		for _, slot := range []*nn.Node[T]{&b.Q, &b.K, &b.V, &b.O, &b.Gate, &b.Up, &b.Down} {
			l, ok := (*slot).(*nn.Linear[T])
			if !ok {
				continue
			}
			q, err := nn.QuantizeLinear(l, opt)
			if err != nil {
				return fmt.Errorf("llama: %w", err)
			}
			*slot = q
		}
	}
	return nil
}

// SetTraining switches every layer that has a training mode (LoRA dropout)
// on or off: off for evaluation and generation, on for training steps.
func (m *Model[T]) SetTraining(on bool) {
	for _, l := range m.Layers() {
		if t, ok := l.(interface{ SetTraining(bool) }); ok {
			t.SetTraining(on)
		}
	}
}

// SetDropoutKey sets the draw key and first row position of the dropout
// masks of every layer that has them (LoRA dropout; see
// lora.LoraLinear.SetDropoutKey): a training run calls it before every
// micro-batch so that masks depend on (step, micro-batch, row) only.
func (m *Model[T]) SetDropoutKey(key uint64, pos int) {
	for _, l := range m.Layers() {
		if d, ok := l.(interface{ SetDropoutKey(uint64, int) }); ok {
			d.SetDropoutKey(key, pos)
		}
	}
}
