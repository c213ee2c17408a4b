package nn

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// QuantLinear is a frozen linear layer y = x·Wᵀ + b whose weight W [out,
// in] stays in its GGUF type (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K, Q6_K; package quant). Forward and Backward run quant's fused
// products on the layer's engine, which decode a tile of W at a time: no
// float copy of W exists. W gets no gradient; the optional bias [out] is a
// Parameter, frozen unless SetFrozen(false). It fills the same slot as
// Linear and NF4Linear, so LoRA wraps it unchanged.
type QuantLinear[T tensor.Numeric] struct {
	name     string
	w        *quant.Matrix // [out, in]
	bias     *Parameter[T] // [out] or nil
	engine   tensor.Engine[T]
	outShape []int
}

// NewQuantLinear returns a QuantLinear around w (rows = out, cols = in) and
// an optional bias [out] (nil for none, used not copied, named
// name+".bias"), computing on engine.
func NewQuantLinear[T tensor.Numeric](name string, w *quant.Matrix, bias *tensor.Tensor[T], engine tensor.Engine[T]) (*QuantLinear[T], error) {
	if w == nil {
		return nil, fmt.Errorf("%w: quantlinear %q: nil weight", ErrShape, name)
	}
	if engine == nil {
		return nil, fmt.Errorf("%w: quantlinear %q: nil engine", ErrShape, name)
	}
	l := &QuantLinear[T]{name: name, w: w, engine: engine}
	if bias != nil {
		if bias.Dims() != 1 || bias.Dim(0) != w.Rows() {
			return nil, fmt.Errorf("%w: quantlinear %q: bias %v, want [%d]", ErrShape, name, bias.Shape(), w.Rows())
		}
		l.bias = NewParameter(name+".bias", bias, false)
	}
	return l, nil
}

// Name returns the layer name.
func (l *QuantLinear[T]) Name() string { return l.name }

// SetName renames the layer.
func (l *QuantLinear[T]) SetName(name string) { l.name = name }

// OpType returns "QuantLinear".
func (l *QuantLinear[T]) OpType() string { return "QuantLinear" }

// Attributes returns in_features, out_features, bias, type and
// bits_per_param.
func (l *QuantLinear[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"in_features": l.w.Cols(), "out_features": l.w.Rows(),
		"bias": l.bias != nil, "type": l.w.Type().String(), "bits_per_param": l.w.BitsPerParam()}
}

// InFeatures returns in.
func (l *QuantLinear[T]) InFeatures() int { return l.w.Cols() }

// OutFeatures returns out.
func (l *QuantLinear[T]) OutFeatures() int { return l.w.Rows() }

// Matrix returns the quantized weight.
func (l *QuantLinear[T]) Matrix() *quant.Matrix { return l.w }

// Bias returns the bias parameter, or nil.
func (l *QuantLinear[T]) Bias() *Parameter[T] { return l.bias }

// Engine returns the engine given at construction.
func (l *QuantLinear[T]) Engine() tensor.Engine[T] { return l.engine }

// SetFrozen freezes (true, the default) or unfreezes the bias; W is always
// frozen.
func (l *QuantLinear[T]) SetFrozen(frozen bool) {
	if l.bias != nil {
		l.bias.SetTrainable(!frozen)
	}
}

// DequantizedWeight returns a full float copy of W [out, in], for merging
// and export only.
func (l *QuantLinear[T]) DequantizedWeight() *tensor.Tensor[T] {
	w32 := make([]float32, l.w.Rows()*l.w.Cols())
	l.w.Dequantize(w32)
	w := tensor.Zeros[T](l.w.Rows(), l.w.Cols())
	tensor.Convert(w.Data(), w32)
	return w
}

// Parameters returns the bias, if any (W is not a Parameter).
func (l *QuantLinear[T]) Parameters() []*Parameter[T] {
	if l.bias == nil {
		return nil
	}
	return []*Parameter[T]{l.bias}
}

// OutputShape returns the last output shape, or [out] before any.
func (l *QuantLinear[T]) OutputShape() []int {
	if l.outShape == nil {
		return []int{l.w.Rows()}
	}
	return append([]int(nil), l.outShape...)
}

// Forward computes y = x·Wᵀ + b for x [..., in] (quant.MatMulXWt).
func (l *QuantLinear[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput("quantlinear", l.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim("quantlinear", l.name, x, l.w.Cols())
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](withLast(x.Shape(), l.w.Rows())...)
	quant.MatMulXWt(l.engine, l.w, y.Data(), x.Data(), n)
	if l.bias != nil {
		tensor.AddRowVector(y.Data(), l.bias.Value.Data())
	}
	l.outShape = y.Shape()
	return y, nil
}

// Backward returns dx = dy·W (quant.MatMulXW; nil in ParamsOnly mode) and
// accumulates db when the bias is trainable. W gets nothing.
func (l *QuantLinear[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput("quantlinear", l.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim("quantlinear", l.name, x, l.w.Cols())
	if err != nil {
		return nil, err
	}
	if err := gradFor("quantlinear", l.name, dy, x, l.w.Rows()); err != nil {
		return nil, err
	}
	if trainable(l.bias) {
		tensor.AddColumnSums(l.bias.Grad.Data(), dy.Data())
	}
	if mode == ParamsOnly {
		return []*tensor.Tensor[T]{nil}, nil
	}
	dx := tensor.Zeros[T](x.Shape()...)
	quant.MatMulXW(l.engine, l.w, dx.Data(), dy.Data(), n)
	return []*tensor.Tensor[T]{dx}, nil
}
