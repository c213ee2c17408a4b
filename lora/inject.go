package lora

import (
	"fmt"
	"slices"
	"strings"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Layer is the nn layer interface (an alias, so every nn layer is a Layer
// and *nn.Sequential[T] is a Model[T]).
type Layer[T tensor.Numeric] = nn.Node[T]

// Model is a model whose layers can be listed and replaced by name: what
// InjectLoRA, Merge and the adapter files work on. *nn.Sequential and
// *llama.Model are Models.
type Model[T tensor.Numeric] interface {
	Layers() []Layer[T]                                   // all named layers
	ReplaceLayer(name string, replacement Layer[T]) error // error if the name is not found
}

// Named is anything with a name.
type Named interface{ Name() string }

// LinearInfo gives the dimensions of a linear layer; the layers InjectLoRA
// can wrap are the Layers that implement it.
type LinearInfo interface {
	InFeatures() int
	OutFeatures() int
}

// Architecturer is implemented by models that know their GGUF
// general.architecture (llama.Model returns "llama"). Adapter files carry it
// and loading refuses a file of another architecture. Models without it
// (a plain nn.Sequential) are DefaultArchitecture.
type Architecturer interface{ Architecture() string }

// BaseTensorNamer is implemented by models whose layers map to GGUF base
// tensors with other names than the default layer+".weight".
type BaseTensorNamer interface{ BaseTensorName(layer string) string }

// DefaultArchitecture is the general.architecture of models that do not
// implement Architecturer. No llama.cpp model has it, so llama.cpp refuses
// such adapters, as it should: their layers are not a llama.cpp model's.
const DefaultArchitecture = "webtune"

// AllLinear is the target that selects every linear layer except the output
// head (a layer whose last name part is "output" or "lm_head"), as PEFT's
// "all-linear".
const AllLinear = "all-linear"

// aliases maps PEFT's (Hugging Face llama) module names to llama.cpp's GGUF
// names. Matching tries a target, its alias and its reverse alias.
var aliases = map[string]string{
	"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
	"gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down", "lm_head": "output",
}

// ModelArchitecture returns m's general.architecture: Architecture() when m
// implements Architecturer, else DefaultArchitecture.
func ModelArchitecture[T tensor.Numeric](m Model[T]) string {
	if a, ok := m.(Architecturer); ok {
		return a.Architecture()
	}
	return DefaultArchitecture
}

// BaseTensorName returns the GGUF name of the base weight of layer: the
// model's own mapping when it implements BaseTensorNamer, else layer+".weight".
func BaseTensorName[T tensor.Numeric](m Model[T], layer string) string {
	if b, ok := m.(BaseTensorNamer); ok {
		return b.BaseTensorName(layer)
	}
	return layer + ".weight"
}

// InjectLoRA replaces every linear layer of m (a Layer implementing
// LinearInfo) matched by targetModules with a LoraLinear of the given rank
// and alpha around it. A target matches a layer whose name equals it or
// whose last dot-separated part equals it ("attn_q" matches "blk.0.attn_q");
// PEFT's llama names are aliases of the GGUF ones (q_proj ↔ attn_q, k_proj,
// v_proj, o_proj ↔ attn_output, gate_proj, up_proj, down_proj ↔ ffn_down,
// lm_head ↔ output), and AllLinear selects every linear layer but the output
// head. A target that matches nothing is an error wrapping ErrNoTarget that
// lists the available names; a model that already has LoRA layers gives
// ErrAlreadyInjected. Every parameter of a wrapped base is frozen. A nil
// engine means tensor.NewCPU. On error m is unchanged.
func InjectLoRA[T tensor.Numeric](m Model[T], rank int, alpha float32, targetModules []string, engine tensor.Engine[T], opts ...Option) error {
	c, err := newConfig(opts)
	if err != nil {
		return err
	}
	return inject(m, rank, alpha, targetModules, engine, c, nil)
}

// inject is InjectLoRA; with quant non-nil, dense targets are first
// quantized to NF4 (QLoRA).
func inject[T tensor.Numeric](m Model[T], rank int, alpha float32, targets []string, engine tensor.Engine[T], c config, quant *nf4.Options) error {
	if m == nil {
		return configErr("nil model")
	}
	if err := validRankAlpha(rank, alpha); err != nil {
		return err
	}
	if engine == nil {
		engine = tensor.NewCPU[T]()
	}
	if names := loraNames(m); len(names) > 0 {
		more := ""
		if len(names) > 3 {
			names, more = names[:3], fmt.Sprintf(" and %d more", len(names)-3)
		}
		return fmt.Errorf("%w: %s%s", ErrAlreadyInjected, strings.Join(names, ", "), more)
	}
	layers, err := matchTargets(m, targets)
	if err != nil {
		return err
	}
	wrapped := make([]Layer[T], len(layers))
	for i, l := range layers {
		base := l
		if quant != nil {
			if base, err = quantizeDense(l, *quant); err != nil {
				return err
			}
		}
		li := l.(LinearInfo)
		if wrapped[i], err = newLoraLinear(l.Name(), base, rank, alpha, engine, li.InFeatures(), li.OutFeatures(), c); err != nil {
			return err
		}
	}
	if err := replaceAll(m, layers, wrapped); err != nil {
		return err
	}
	freezeBases(wrapped)
	return nil
}

// quantizeDense returns l as an NF4Linear when it is a dense nn.Linear, else l.
func quantizeDense[T tensor.Numeric](l Layer[T], opt nf4.Options) (Layer[T], error) {
	d, ok := l.(*nn.Linear[T])
	if !ok {
		return l, nil
	}
	q, err := nn.QuantizeLinear(d, opt)
	if err != nil {
		return nil, fmt.Errorf("lora: layer %q: %w", l.Name(), err)
	}
	return q, nil
}

// replaceAll puts wrapped[i] in the slot of old[i] for every i. If a
// replacement fails, the ones already made are undone and the error returned.
func replaceAll[T tensor.Numeric](m Model[T], old, wrapped []Layer[T]) error {
	for i, w := range wrapped {
		if err := m.ReplaceLayer(old[i].Name(), w); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = m.ReplaceLayer(wrapped[j].Name(), old[j])
			}
			return fmt.Errorf("lora: replace layer %q: %w", old[i].Name(), err)
		}
	}
	return nil
}

// matchTargets returns the linear layers of m selected by targets, each once,
// in model order.
func matchTargets[T tensor.Numeric](m Model[T], targets []string) ([]Layer[T], error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no target modules given (available: %s)", ErrNoTarget, available(m))
	}
	var linear []Layer[T]
	for _, l := range m.Layers() {
		if _, ok := l.(LinearInfo); ok {
			linear = append(linear, l)
		}
	}
	picked := make([]bool, len(linear))
	for _, t := range targets {
		found := false
		for i, l := range linear {
			if matches(t, l.Name()) {
				picked[i], found = true, true
			}
		}
		if !found && isBiasOrNorm(t) {
			return nil, fmt.Errorf("%w: %q is a bias or norm tensor; LoRA adapts only the weights of linear layers, as llama.cpp applies adapters only to them (available: %s)", ErrNoTarget, t, available(m))
		}
		if !found {
			return nil, fmt.Errorf("%w: %q matches no linear layer (available: %s)", ErrNoTarget, t, available(m))
		}
	}
	var out []Layer[T]
	for i, l := range linear {
		if picked[i] {
			out = append(out, l)
		}
	}
	return out, nil
}

// matches reports whether target selects the layer named name.
func matches(target, name string) bool {
	short := lastPart(name)
	if target == AllLinear {
		return !isHead(short)
	}
	for _, t := range []string{target, aliases[target], reverseAlias(target)} {
		if t != "" && (t == name || t == short) {
			return true
		}
	}
	return false
}

// isBiasOrNorm reports whether a target names a bias or a norm: llama.cpp's
// names (attn_q.bias, attn_norm, attn_q_norm, output_norm) or PEFT's
// (q_norm, input_layernorm, post_attention_layernorm, norm), with or
// without ".weight".
func isBiasOrNorm(target string) bool {
	name := strings.TrimSuffix(target, ".weight")
	if name == "bias" || strings.HasSuffix(name, ".bias") || strings.HasSuffix(name, "_bias") {
		return true
	}
	short := lastPart(name)
	return short == "norm" || strings.HasSuffix(short, "_norm") || strings.HasSuffix(short, "layernorm")
}

// isHead reports whether a last name part is the output head's.
func isHead(short string) bool { return short == "output" || short == "lm_head" }

func reverseAlias(t string) string {
	for k, v := range aliases {
		if v == t {
			return k
		}
	}
	return ""
}

// lastPart returns the part of name after its last dot.
func lastPart(name string) string { return name[strings.LastIndexByte(name, '.')+1:] }

// available lists the distinct last name parts of m's linear layers, for
// error messages, with one full name as an example.
func available[T tensor.Numeric](m Model[T]) string {
	var short []string
	example := ""
	for _, l := range m.Layers() {
		if _, ok := l.(LinearInfo); !ok {
			continue
		}
		if example == "" {
			example = l.Name()
		}
		if s := lastPart(l.Name()); !slices.Contains(short, s) {
			short = append(short, s)
		}
	}
	if len(short) == 0 {
		return "the model has no linear layers"
	}
	return fmt.Sprintf("%s, %q, or full names such as %q", strings.Join(short, ", "), AllLinear, example)
}

// Adapters returns the LoRA layers of m in model order.
func Adapters[T tensor.Numeric](m Model[T]) []*LoraLinear[T] {
	var out []*LoraLinear[T]
	for _, l := range m.Layers() {
		if ll, ok := l.(*LoraLinear[T]); ok {
			out = append(out, ll)
		}
	}
	return out
}

// loraNames returns the names of m's LoRA layers.
func loraNames[T tensor.Numeric](m Model[T]) []string {
	var names []string
	for _, l := range Adapters(m) {
		names = append(names, l.Name())
	}
	return names
}

// SetTraining turns dropout on (true) or off (false, for inference) in every
// LoRA layer of m.
func SetTraining[T tensor.Numeric](m Model[T], on bool) {
	for _, l := range Adapters(m) {
		l.SetTraining(on)
	}
}

// SetDropoutKey sets the draw key and first row position of the dropout
// masks of every LoRA layer of m (see LoraLinear.SetDropoutKey).
func SetDropoutKey[T tensor.Numeric](m Model[T], key uint64, pos int) {
	for _, l := range Adapters(m) {
		l.SetDropoutKey(key, pos)
	}
}

// TrainableParameters returns A and B of every LoRA layer of m, in model
// order: what an optimizer steps.
func TrainableParameters[T tensor.Numeric](m Model[T]) []*nn.Parameter[T] {
	var ps []*nn.Parameter[T]
	for _, l := range Adapters(m) {
		ps = append(ps, l.Parameters()...)
	}
	return ps
}
