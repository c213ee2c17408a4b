package llama

import (
	"fmt"
	"math"
	"strings"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
)

// A GPU plan describes a float32 model with LoRA adapters as what a GPU
// engine needs to run a whole training step of it without calling back
// into Go: the shapes and recipe flags, every frozen weight in its stored
// form, the norm and bias vectors, the rope tables (computed here, so the
// GPU uses exactly the CPU's), each layer's attention scale and window,
// and the LoRA pairs whose parameters and gradients cross each step.
// Package wasm/gpu turns it into the page's WebGPU model (web/gpu/model.js,
// docs/webgpu.md); the plan itself has no GPU code, so it is built and
// tested natively too.

// GPUWeight is a frozen weight [Rows × Cols] of a plan: exactly one of
// Quant (a GGUF type kept as it came), NF4 (QLoRA) and F32 (a dense
// float32 layer's weight, row-major, shared with the model) is set.
type GPUWeight struct {
	Quant      *quant.Matrix
	NF4        *nf4.Tensor
	F32        []float32
	Rows, Cols int
}

// GPULinear is one linear slot of a block: its frozen weight and the index
// of its LoRA pair in GPUPlan.LoRAs (-1 without one).
type GPULinear struct {
	W    GPUWeight
	LoRA int
}

// GPULoRA is one LoRA pair: y += Scale·(x·Aᵀ)·Bᵀ with A [R × In] and
// B [Out × R], on Slot ("q", "k", "v", "o", "gate", "up", "down" of block
// Layer, or "output" with Layer -1).
type GPULoRA struct {
	Layer      int
	Slot       string
	In, Out, R int
	Scale      float32
	A, B       *nn.Parameter[float32]
}

// GPULayer is one block: norm and bias vectors (nil when the recipe has
// none), the attention's score scale and window (0: global) and whether
// it uses the sliding-window rope tables, and the seven linears.
type GPULayer struct {
	AttnNorm, FFNNorm          []float32
	QBias, KBias, VBias        []float32
	QNorm, KNorm               []float32
	PostAttnNorm, PostFFNNorm  []float32
	Local                      bool
	Window                     int
	Scale                      float32
	Q, K, V, O, Gate, Up, Down GPULinear
}

// GPUPlan is a whole model for a GPU training step (see the comment at the
// top of this file).
type GPUPlan struct {
	Arch                    string
	C, L, NH, NKV, HS, F, V int
	Eps                     float32
	Neox, GELU              bool
	EmbedScale, Softcap     float32 // EmbedScale is 1 without Recipe.EmbedScale; Softcap 0 without a final softcap
	// P is the positions the rope tables cover; RopeCos, RopeSin [P·HS/2]
	// are the global layers', RopeCosLocal, RopeSinLocal the sliding-window
	// layers' (nil without a window).
	P                                            int
	RopeCos, RopeSin, RopeCosLocal, RopeSinLocal []float32
	Embed, Output                                GPUWeight
	Tied                                         bool // Output is Embed
	OutputNorm                                   []float32
	Layers                                       []GPULayer
	LoRAs                                        []GPULoRA
	OutputLoRA                                   int
}

// WeightBytes returns the bytes of the plan's frozen weights as stored
// (the tied head counted once): what a GPU holds for the model.
func (p *GPUPlan) WeightBytes() int64 {
	var n int64
	add := func(w GPUWeight) {
		switch {
		case w.Quant != nil:
			n += int64(len(w.Quant.Data()))
		case w.NF4 != nil:
			n += int64(math.Ceil(w.NF4.BitsPerParam() * float64(w.NF4.Len()) / 8))
		default:
			n += 4 * int64(len(w.F32))
		}
	}
	add(p.Embed)
	if !p.Tied {
		add(p.Output)
	}
	for _, l := range p.Layers {
		for _, s := range []GPULinear{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			add(s.W)
		}
	}
	return n
}

// LoRAFloats returns the float32 values of every LoRA pair (A then B, in
// plan order): the size of the packed parameters and gradients a step
// moves.
func (p *GPUPlan) LoRAFloats() int {
	n := 0
	for _, l := range p.LoRAs {
		n += l.R*l.In + l.Out*l.R
	}
	return n
}

// loraNode is what PlanGPU needs of a LoRA-wrapped slot (*lora.LoraLinear,
// which this package does not import).
type loraNode interface {
	Base() nn.Node[float32]
	Scale() float64
	Dropout() float64
	Rank() int
	Parameters() []*nn.Parameter[float32]
}

// PlanGPU describes m for a GPU training step of sequences of up to P
// tokens. It refuses, naming the reason, what the GPU step does not run:
// trainable weights other than LoRA pairs (full fine-tuning), LoRA
// dropout, the ggml-matching emulation, biases on linear slots and slot
// types it does not know. The plan shares m's weights and parameters; it
// stays valid while m's layers are unchanged.
func PlanGPU(m *Model[float32], P int) (*GPUPlan, error) {
	if m.actTypes != nil || m.geluGGML {
		return nil, fmt.Errorf("%w: the GPU step does not emulate ggml's rounding (MatchGGML)", ErrUnsupported)
	}
	if P <= 0 {
		return nil, fmt.Errorf("%w: GPU plan for %d positions", ErrShape, P)
	}
	c, r := m.Config, m.Config.recipe()
	p := &GPUPlan{Arch: c.Architecture(), C: c.Dim, L: c.Layers, NH: c.Heads, NKV: c.KVHeads, HS: c.HeadDim, F: c.FFN,
		V: c.VocabSize, Eps: c.Eps, Neox: r.Rope == kernels.RopeNeox, GELU: r.GELU, EmbedScale: m.embedScale(), Softcap: c.FinalSoftcap,
		OutputLoRA: -1}
	m.ensureRope(P)
	half := c.HeadDim / 2
	p.P = len(m.cos) / half
	p.RopeCos, p.RopeSin = m.cos, m.sin
	if m.cosL != nil {
		p.RopeCosLocal, p.RopeSinLocal = m.cosL, m.sinL
	}

	// Everything trainable must be a LoRA pair the plan carries.
	loraParams := map[*nn.Parameter[float32]]bool{}
	var err error
	if w := m.TokenEmbdMatrix(); w != nil {
		p.Embed = GPUWeight{Quant: w, Rows: w.Rows(), Cols: w.Cols()}
	} else {
		p.Embed = GPUWeight{F32: m.TokenEmbd.Value.Data(), Rows: c.VocabSize, Cols: c.Dim}
	}
	if p.Output, p.OutputLoRA, err = p.linear(m.Output, -1, "output", c.Dim, c.VocabSize, loraParams); err != nil {
		return nil, err
	}
	p.Tied = sameWeight(p.Embed, p.Output)
	p.OutputNorm = m.OutputNorm.Value.Data()
	for l, b := range m.Blocks {
		g := GPULayer{AttnNorm: b.AttnNorm.Value.Data(), FFNNorm: b.FFNNorm.Value.Data(),
			QBias: values(b.QBias), KBias: values(b.KBias), VBias: values(b.VBias), QNorm: values(b.QNorm), KNorm: values(b.KNorm),
			PostAttnNorm: values(b.PostAttnNorm), PostFFNNorm: values(b.PostFFNNorm), Local: c.IsLocal(l)}
		a := c.attn(l, 1, 1, 1)
		g.Window, g.Scale = a.Window, float32(a.ScoreScale())
		qC, kvC := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
		for _, s := range []struct {
			dst     *GPULinear
			node    nn.Node[float32]
			slot    string
			in, out int
		}{{&g.Q, b.Q, "q", c.Dim, qC}, {&g.K, b.K, "k", c.Dim, kvC}, {&g.V, b.V, "v", c.Dim, kvC}, {&g.O, b.O, "o", qC, c.Dim},
			{&g.Gate, b.Gate, "gate", c.Dim, c.FFN}, {&g.Up, b.Up, "up", c.Dim, c.FFN}, {&g.Down, b.Down, "down", c.FFN, c.Dim}} {
			w, li, err := p.linear(s.node, l, s.slot, s.in, s.out, loraParams)
			if err != nil {
				return nil, err
			}
			*s.dst = GPULinear{W: w, LoRA: li}
		}
		p.Layers = append(p.Layers, g)
	}
	var frozenOnly []string
	for _, q := range m.Parameters() {
		if !loraParams[q] {
			frozenOnly = append(frozenOnly, q.Name)
		}
	}
	if len(frozenOnly) > 0 {
		if len(frozenOnly) > 3 {
			frozenOnly = append(frozenOnly[:3], fmt.Sprintf("and %d more", len(frozenOnly)-3))
		}
		return nil, fmt.Errorf("%w: the GPU step trains LoRA pairs only; also trainable: %s", ErrUnsupported, strings.Join(frozenOnly, ", "))
	}
	return p, nil
}

// linear describes slot node (layer l, -1 for the head) of in → out: its
// frozen weight and, when LoRA-wrapped, the index of the pair it adds.
func (p *GPUPlan) linear(node nn.Node[float32], l int, slot string, in, out int, loraParams map[*nn.Parameter[float32]]bool) (GPUWeight, int, error) {
	name := slot
	if l >= 0 {
		name = fmt.Sprintf("blk.%d.%s", l, slot)
	}
	li := -1
	if ln, ok := node.(loraNode); ok {
		if d := ln.Dropout(); d > 0 {
			return GPUWeight{}, -1, fmt.Errorf("%w: the GPU step has no LoRA dropout (%s has %g)", ErrUnsupported, name, d)
		}
		ps := ln.Parameters()
		if len(ps) != 2 || ps[0].Value.Size() != ln.Rank()*in || ps[1].Value.Size() != out*ln.Rank() {
			return GPUWeight{}, -1, fmt.Errorf("%w: %s: LoRA pair is not [%d×%d], [%d×%d]", ErrShape, name, ln.Rank(), in, out, ln.Rank())
		}
		loraParams[ps[0]], loraParams[ps[1]] = true, true
		li = len(p.LoRAs)
		p.LoRAs = append(p.LoRAs, GPULoRA{Layer: l, Slot: slot, In: in, Out: out, R: ln.Rank(), Scale: float32(ln.Scale()), A: ps[0], B: ps[1]})
		node = ln.Base()
	}
	var w GPUWeight
	switch b := node.(type) {
	case *nn.QuantLinear[float32]:
		if b.Bias() != nil {
			return GPUWeight{}, -1, fmt.Errorf("%w: the GPU step has no bias on %s", ErrUnsupported, name)
		}
		w = GPUWeight{Quant: b.Matrix(), Rows: b.Matrix().Rows(), Cols: b.Matrix().Cols()}
	case *nn.NF4Linear[float32]:
		if b.Bias() != nil {
			return GPUWeight{}, -1, fmt.Errorf("%w: the GPU step has no bias on %s", ErrUnsupported, name)
		}
		w = GPUWeight{NF4: b.Quantized(), Rows: b.Quantized().Rows(), Cols: b.Quantized().Cols()}
	case *nn.Linear[float32]:
		if b.Bias() != nil {
			return GPUWeight{}, -1, fmt.Errorf("%w: the GPU step has no bias on %s", ErrUnsupported, name)
		}
		w = GPUWeight{F32: b.Weight().Value.Data(), Rows: out, Cols: in}
	default:
		return GPUWeight{}, -1, fmt.Errorf("%w: the GPU step does not run %s layers (%s)", ErrUnsupported, node.OpType(), name)
	}
	if w.Rows != out || w.Cols != in || (w.F32 != nil && len(w.F32) != out*in) {
		return GPUWeight{}, -1, fmt.Errorf("%w: %s weight is %d×%d, want %d×%d", ErrShape, name, w.Rows, w.Cols, out, in)
	}
	return w, li, nil
}

// sameWeight reports whether a and b hold the same storage (a tied head).
func sameWeight(a, b GPUWeight) bool {
	switch {
	case a.Quant != nil:
		return a.Quant == b.Quant
	case a.F32 != nil && b.F32 != nil:
		return &a.F32[0] == &b.F32[0]
	}
	return false
}

// values returns p's values, or nil for an absent parameter.
func values(p *nn.Parameter[float32]) []float32 {
	if p == nil {
		return nil
	}
	return p.Value.Data()
}
