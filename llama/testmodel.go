package llama

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// TinyConfig is a small config for tests: V=11, C=8, NH=2, NKV=1, HS=4,
// F=12, L=2, context 16, separate output head.
func TinyConfig() Config {
	return Config{VocabSize: 11, Dim: 8, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 4, FFN: 12,
		Eps: 1e-5, RopeBase: 10000, ContextLength: 16}
}

// TinyGemma3Config is a small gemma3 config for tests: V=11, C=8, NH=2,
// NKV=1, HS=6 (not C/NH), F=12, L=3 with a window of 3 and pattern 2
// (layers 0 and 2 local, 1 global), local rope base 100, context 16, tied
// output as in real Gemma 3 files.
func TinyGemma3Config() Config {
	return Config{Arch: "gemma3", VocabSize: 11, Dim: 8, Layers: 3, Heads: 2, KVHeads: 1, HeadDim: 6, FFN: 12,
		Eps: 1e-6, RopeBase: 10000, RopeBaseSWA: 100, SlidingWindow: 3, SlidingWindowPattern: 2,
		ContextLength: 16, TiedOutput: true}
}

// NewRandom returns a model with config cfg and weights drawn from seed,
// frozen (call SetTrainable(true) for full fine-tuning), on DefaultEngine:
// linear layers U(±1/√in) (PyTorch's default), token embeddings N(0, 1)
// (N(0, 1/C) when tied, so the tied head's logits stay O(1)), norm weights
// (q/k norms too) U(0.8, 1.2) so that tests exercise them, biases
// U(±0.5). The optional tensors are drawn after a block's linears, so a
// llama config's weights do not change when they are absent. It panics on an invalid config
// (a programmer error in a test).
func NewRandom[T tensor.Numeric](cfg Config, seed uint64) *Model[T] {
	return NewRandomOn[T](cfg, seed, nil)
}

// NewRandomOn is NewRandom with every layer (the output head too) on
// engine; nil means the default (DefaultEngine). The weights do not
// depend on the engine.
func NewRandomOn[T tensor.Numeric](cfg Config, seed uint64, engine tensor.Engine[T]) *Model[T] {
	m, err := newModel[T](cfg, engine)
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(seed, 0x6c6c616d61))
	sd := 1.0
	if cfg.TiedOutput {
		sd = 1 / math.Sqrt(float64(cfg.Dim))
	}
	emb := make([]T, cfg.VocabSize*cfg.Dim)
	for i := range emb {
		emb[i] = T(r.NormFloat64() * sd)
	}
	m.TokenEmbd = nn.NewParameter("token_embd.weight", tensor.FromSlice(emb, cfg.VocabSize, cfg.Dim), false)
	norm := func(name string) *nn.Parameter[T] {
		w := make([]T, cfg.Dim)
		for i := range w {
			w[i] = T(0.8 + 0.4*r.Float64())
		}
		return nn.NewParameter(name, tensor.FromSlice(w, cfg.Dim), false)
	}
	qC, kvC := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	lin := func(name string, in, out int) nn.Node[T] {
		l, err := nn.NewLinear(name, in, out, m.engine, nn.LinearOptions{Seed: int64(r.Uint64() >> 1), Frozen: true})
		if err != nil {
			panic(err)
		}
		return l
	}
	for i, b := range m.Blocks {
		p := fmt.Sprintf("blk.%d.", i)
		b.AttnNorm = norm(p + "attn_norm.weight")
		b.Q, b.K, b.V = lin(p+"attn_q", cfg.Dim, qC), lin(p+"attn_k", cfg.Dim, kvC), lin(p+"attn_v", cfg.Dim, kvC)
		b.O = lin(p+"attn_output", qC, cfg.Dim)
		b.FFNNorm = norm(p + "ffn_norm.weight")
		b.Gate, b.Up = lin(p+"ffn_gate", cfg.Dim, cfg.FFN), lin(p+"ffn_up", cfg.Dim, cfg.FFN)
		b.Down = lin(p+"ffn_down", cfg.FFN, cfg.Dim)
		if cfg.QKVBias {
			b.QBias, b.KBias, b.VBias = vec[T](r, p+"attn_q.bias", qC, 0, 0.5), vec[T](r, p+"attn_k.bias", kvC, 0, 0.5), vec[T](r, p+"attn_v.bias", kvC, 0, 0.5)
		}
		if cfg.recipe().QKNorm {
			b.QNorm, b.KNorm = vec[T](r, p+"attn_q_norm.weight", cfg.HeadDim, 0.8, 0.4), vec[T](r, p+"attn_k_norm.weight", cfg.HeadDim, 0.8, 0.4)
		}
		if cfg.recipe().PostNorms {
			b.PostAttnNorm, b.PostFFNNorm = norm(p+"post_attention_norm.weight"), norm(p+"post_ffw_norm.weight")
		}
	}
	m.OutputNorm = norm("output_norm.weight")
	if cfg.TiedOutput {
		if err := m.tieHead(); err != nil {
			panic(err)
		}
	} else {
		m.Output = lin("output", cfg.Dim, cfg.VocabSize)
	}
	return m
}

// vec returns a frozen parameter of n values from U(lo, lo+width), or
// U(−width, width) when lo is 0 (biases).
func vec[T tensor.Numeric](r *rand.Rand, name string, n int, lo, width float64) *nn.Parameter[T] {
	w := make([]T, n)
	for i := range w {
		if lo == 0 {
			w[i] = T(width * (2*r.Float64() - 1))
		} else {
			w[i] = T(lo + width*r.Float64())
		}
	}
	return nn.NewParameter(name, tensor.FromSlice(w, n), false)
}

// tieHead makes the output head a Linear over TokenEmbd's tensor and then
// makes TokenEmbd that Linear's weight parameter, so that the head and the
// embedding share one value and one gradient.
func (m *Model[T]) tieHead() error {
	l, err := nn.NewLinearFrom("output", m.TokenEmbd.Value, nil, m.engine)
	if err != nil {
		return err
	}
	l.SetFrozen(!m.TokenEmbd.Trainable)
	l.Weight().Name = m.TokenEmbd.Name
	m.TokenEmbd = l.Weight()
	m.Output = l
	return nil
}
