package nn

import (
	"fmt"

	"github.com/webtune/webtune/nf4"
	"github.com/webtune/webtune/tensor"
)

// NF4Linear is a frozen linear layer y = x·Wᵀ + b whose weight W [out, in]
// is held as NF4 (QLoRA's base layer). Forward and Backward use nf4's fused
// kernels, which dequantize a few rows at a time: no full float copy of W
// exists. W gets no gradient; the optional bias [out] is a Parameter,
// frozen unless SetFrozen(false).
type NF4Linear[T tensor.Numeric] struct {
	frozenLinear[T]
	q *nf4.Tensor // [out, in]
}

// NewNF4Linear returns an NF4Linear around w (rows = out, cols = in) and an
// optional bias [out] (nil for none, used not copied, named name+".bias").
func NewNF4Linear[T tensor.Numeric](name string, w *nf4.Tensor, bias *tensor.Tensor[T], engine tensor.Engine[T]) (*NF4Linear[T], error) {
	if w == nil || w.Rows() <= 0 || w.Cols() <= 0 {
		return nil, fmt.Errorf("%w: nf4linear %q: empty weight", ErrShape, name)
	}
	l := &NF4Linear[T]{q: w}
	if err := l.initFrozen("nf4linear", name, w, bias, engine); err != nil {
		return nil, err
	}
	// The engine's own NF4 kernels when it has them (the browser's SIMD
	// engine), else nf4's.
	if e, ok := engine.(NF4Engine[T]); ok {
		l.xwt = func(y, x []T, n int) { e.NF4MatMulXWt(w, y, x, n) }
		l.xw = func(dx, dy []T, n int) { e.NF4MatMulXW(w, dx, dy, n) }
	} else {
		l.xwt = func(y, x []T, n int) { nf4.MatMulXWt(w, y, x, n) }
		l.xw = func(dx, dy []T, n int) { nf4.MatMulXW(w, dx, dy, n) }
	}
	return l, nil
}

// QuantizeLinear quantizes l's weight to NF4 and returns the equivalent
// NF4Linear with the same name and a copy of l's bias (frozen).
func QuantizeLinear[T tensor.Numeric](l *Linear[T], opt nf4.Options) (*NF4Linear[T], error) {
	w32 := make([]float32, l.out*l.in)
	tensor.Convert(w32, l.weight.Value.Data())
	q, err := nf4.Quantize(w32, l.out, l.in, opt)
	if err != nil {
		return nil, fmt.Errorf("nn: quantize linear %q: %w", l.name, err)
	}
	var b *tensor.Tensor[T]
	if l.bias != nil {
		b = l.bias.Value.Clone()
	}
	return NewNF4Linear(l.name, q, b, l.engine)
}

// OpType returns "NF4Linear".
func (l *NF4Linear[T]) OpType() string { return "NF4Linear" }

// Attributes returns in_features, out_features, bias and bits_per_param.
func (l *NF4Linear[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"in_features": l.q.Cols(), "out_features": l.q.Rows(),
		"bias": l.bias != nil, "bits_per_param": l.q.BitsPerParam()}
}

// Quantized returns the NF4 weight.
func (l *NF4Linear[T]) Quantized() *nf4.Tensor { return l.q }
