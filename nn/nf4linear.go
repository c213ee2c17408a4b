package nn

import (
	"context"
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
	name     string
	w        *nf4.Tensor   // [out, in]
	bias     *Parameter[T] // [out] or nil
	engine   tensor.Engine[T]
	outShape []int
}

// NewNF4Linear returns an NF4Linear around w (rows = out, cols = in) and an
// optional bias [out] (nil for none, used not copied, named name+".bias").
func NewNF4Linear[T tensor.Numeric](name string, w *nf4.Tensor, bias *tensor.Tensor[T], engine tensor.Engine[T]) (*NF4Linear[T], error) {
	if w == nil || w.Rows() <= 0 || w.Cols() <= 0 {
		return nil, fmt.Errorf("%w: nf4linear %q: empty weight", ErrShape, name)
	}
	l := &NF4Linear[T]{name: name, w: w, engine: engine}
	if bias != nil {
		if bias.Dims() != 1 || bias.Dim(0) != w.Rows() {
			return nil, fmt.Errorf("%w: nf4linear %q: bias %v, want [%d]", ErrShape, name, bias.Shape(), w.Rows())
		}
		l.bias = NewParameter(name+".bias", bias, false)
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

// Name returns the layer name.
func (l *NF4Linear[T]) Name() string { return l.name }

// SetName renames the layer.
func (l *NF4Linear[T]) SetName(name string) { l.name = name }

// OpType returns "NF4Linear".
func (l *NF4Linear[T]) OpType() string { return "NF4Linear" }

// Attributes returns in_features, out_features, bias and bits_per_param.
func (l *NF4Linear[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"in_features": l.w.Cols(), "out_features": l.w.Rows(),
		"bias": l.bias != nil, "bits_per_param": l.w.BitsPerParam()}
}

// InFeatures returns in.
func (l *NF4Linear[T]) InFeatures() int { return l.w.Cols() }

// OutFeatures returns out.
func (l *NF4Linear[T]) OutFeatures() int { return l.w.Rows() }

// Quantized returns the NF4 weight.
func (l *NF4Linear[T]) Quantized() *nf4.Tensor { return l.w }

// Bias returns the bias parameter, or nil.
func (l *NF4Linear[T]) Bias() *Parameter[T] { return l.bias }

// Engine returns the engine given at construction.
func (l *NF4Linear[T]) Engine() tensor.Engine[T] { return l.engine }

// SetFrozen freezes (true, the default) or unfreezes the bias; the NF4
// weight is always frozen.
func (l *NF4Linear[T]) SetFrozen(frozen bool) {
	if l.bias != nil {
		l.bias.SetTrainable(!frozen)
	}
}

// DequantizedWeight returns a full float copy of W [out, in], for merging
// and export only.
func (l *NF4Linear[T]) DequantizedWeight() *tensor.Tensor[T] {
	w32 := make([]float32, l.w.Rows()*l.w.Cols())
	l.w.Dequantize(w32)
	w := tensor.Zeros[T](l.w.Rows(), l.w.Cols())
	tensor.Convert(w.Data(), w32)
	return w
}

// Parameters returns the bias, if any (the NF4 weight is not a Parameter).
func (l *NF4Linear[T]) Parameters() []*Parameter[T] {
	if l.bias == nil {
		return nil
	}
	return []*Parameter[T]{l.bias}
}

// OutputShape returns the last output shape, or [out] before any.
func (l *NF4Linear[T]) OutputShape() []int {
	if l.outShape == nil {
		return []int{l.w.Rows()}
	}
	return append([]int(nil), l.outShape...)
}

// Forward computes y = x·Wᵀ + b for x [..., in] with the engine's
// NF4MatMulXWt when it is an NF4Engine, else nf4.MatMulXWt.
func (l *NF4Linear[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput("nf4linear", l.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim("nf4linear", l.name, x, l.w.Cols())
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](withLast(x.Shape(), l.w.Rows())...)
	if e, ok := l.engine.(NF4Engine[T]); ok {
		e.NF4MatMulXWt(l.w, y.Data(), x.Data(), n)
	} else {
		nf4.MatMulXWt(l.w, y.Data(), x.Data(), n)
	}
	if l.bias != nil {
		tensor.AddRowVector(y.Data(), l.bias.Value.Data())
	}
	l.outShape = y.Shape()
	return y, nil
}

// Backward returns dx = dy·W (the engine's NF4MatMulXW or nf4.MatMulXW;
// nil in ParamsOnly mode) and
// accumulates db when the bias is trainable. W gets nothing.
func (l *NF4Linear[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput("nf4linear", l.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim("nf4linear", l.name, x, l.w.Cols())
	if err != nil {
		return nil, err
	}
	if err := gradFor("nf4linear", l.name, dy, x, l.w.Rows()); err != nil {
		return nil, err
	}
	if trainable(l.bias) {
		tensor.AddColumnSums(l.bias.Grad.Data(), dy.Data())
	}
	if mode == ParamsOnly {
		return []*tensor.Tensor[T]{nil}, nil
	}
	dx := tensor.Zeros[T](x.Shape()...)
	if e, ok := l.engine.(NF4Engine[T]); ok {
		e.NF4MatMulXW(l.w, dx.Data(), dy.Data(), n)
	} else {
		nf4.MatMulXW(l.w, dx.Data(), dy.Data(), n)
	}
	return []*tensor.Tensor[T]{dx}, nil
}
