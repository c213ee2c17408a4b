package lora

import (
	"fmt"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Merge folds every LoRA layer of m into its base and unwraps it:
// W' = W + s·B·A, and the LoraLinear is replaced by a frozen nn.Linear of the
// same name with weight W' [out, in] and the base's bias (copied). The model
// becomes plain again and computes what the adapter computed (up to
// rounding), at the cost of the base alone.
//
// An NF4 base is dequantized and the delta added in T, giving a dense
// Linear: re-quantizing would round most of the small delta away. This is
// QLoRA's recommended practice ("merge onto the dequantized weights"; PEFT
// instead re-quantizes 4-bit bases, with a warning about rounding). A model
// without LoRA layers gives ErrNotInjected; a base that is neither dense
// (Weight()) nor quantized (DequantizedWeight()) gives ErrConfig. On error m
// is unchanged.
func Merge[T tensor.Numeric](m Model[T]) error {
	if m == nil {
		return configErr("nil model")
	}
	ls := Adapters(m)
	if len(ls) == 0 {
		return fmt.Errorf("%w: nothing to merge", ErrNotInjected)
	}
	old := make([]Layer[T], len(ls))
	merged := make([]Layer[T], len(ls))
	for i, l := range ls {
		lin, err := l.merged()
		if err != nil {
			return err
		}
		old[i], merged[i] = l, lin
	}
	return replaceAll(m, old, merged)
}

// merged returns the frozen dense Linear equal to l.
func (l *LoraLinear[T]) merged() (*nn.Linear[T], error) {
	var w *tensor.Tensor[T]
	switch b := l.base.(type) {
	case interface{ Weight() *nn.Parameter[T] }:
		w = b.Weight().Value.Clone()
	case interface{ DequantizedWeight() *tensor.Tensor[T] }:
		w = b.DequantizedWeight()
	default:
		return nil, configErr("layer %q: cannot merge into a %s base", l.name, l.base.OpType())
	}
	if w.Dims() != 2 || w.Dim(0) != l.out || w.Dim(1) != l.in {
		return nil, fmt.Errorf("%w: layer %q: base weight %v, want [%d %d]", ErrShape, l.name, w.Shape(), l.out, l.in)
	}
	tensor.Add(w.Data(), l.DeltaWeight().Data())
	var bias *tensor.Tensor[T]
	if b, ok := l.base.(interface{ Bias() *nn.Parameter[T] }); ok && b.Bias() != nil {
		bias = b.Bias().Value.Clone()
	}
	lin, err := nn.NewLinearFrom(l.name, w, bias, l.engine)
	if err != nil {
		return nil, fmt.Errorf("lora: merge layer %q: %w", l.name, err)
	}
	lin.SetFrozen(true)
	return lin, nil
}
