package nn

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/tensor"
)

// frozenWeight is what a frozen linear layer needs of its packed weight
// (an *nf4.Tensor or a *quant.Matrix): its shape, a float copy for merging
// and export, and its storage cost.
type frozenWeight interface {
	Rows() int
	Cols() int
	Dequantize(dst []float32)
	BitsPerParam() float64
}

// frozenLinear is the body NF4Linear and QuantLinear share: a linear layer
// y = x·Wᵀ + b whose packed weight W [out, in] gets no gradient, with an
// optional bias Parameter [out] (frozen unless SetFrozen(false)). Only the
// two fused products differ, given as xwt and xw.
type frozenLinear[T tensor.Numeric] struct {
	op       string // op names the layer kind in errors ("nf4linear")
	name     string
	w        frozenWeight
	bias     *Parameter[T] // [out] or nil
	engine   tensor.Engine[T]
	outShape []int
	xwt      func(y, x []T, n int)   // xwt: y [n, out] = x [n, in]·Wᵀ
	xw       func(dx, dy []T, n int) // xw: dx [n, in] = dy [n, out]·W
}

// initFrozen fills f and adopts bias (used not copied, named name+".bias").
func (f *frozenLinear[T]) initFrozen(op, name string, w frozenWeight, bias *tensor.Tensor[T], engine tensor.Engine[T]) error {
	*f = frozenLinear[T]{op: op, name: name, w: w, engine: engine}
	if bias != nil {
		if bias.Dims() != 1 || bias.Dim(0) != w.Rows() {
			return fmt.Errorf("%w: %s %q: bias %v, want [%d]", ErrShape, op, name, bias.Shape(), w.Rows())
		}
		f.bias = NewParameter(name+".bias", bias, false)
	}
	return nil
}

// Name returns the layer name.
func (f *frozenLinear[T]) Name() string { return f.name }

// SetName renames the layer.
func (f *frozenLinear[T]) SetName(name string) { f.name = name }

// InFeatures returns in.
func (f *frozenLinear[T]) InFeatures() int { return f.w.Cols() }

// OutFeatures returns out.
func (f *frozenLinear[T]) OutFeatures() int { return f.w.Rows() }

// Bias returns the bias parameter, or nil.
func (f *frozenLinear[T]) Bias() *Parameter[T] { return f.bias }

// Engine returns the engine given at construction.
func (f *frozenLinear[T]) Engine() tensor.Engine[T] { return f.engine }

// SetFrozen freezes (true, the default) or unfreezes the bias; W is always
// frozen.
func (f *frozenLinear[T]) SetFrozen(frozen bool) {
	if f.bias != nil {
		f.bias.SetTrainable(!frozen)
	}
}

// DequantizedWeight returns a full float copy of W [out, in], for merging
// and export only.
func (f *frozenLinear[T]) DequantizedWeight() *tensor.Tensor[T] {
	w32 := make([]float32, f.w.Rows()*f.w.Cols())
	f.w.Dequantize(w32)
	w := tensor.Zeros[T](f.w.Rows(), f.w.Cols())
	tensor.Convert(w.Data(), w32)
	return w
}

// Parameters returns the bias, if any (W is not a Parameter).
func (f *frozenLinear[T]) Parameters() []*Parameter[T] {
	if f.bias == nil {
		return nil
	}
	return []*Parameter[T]{f.bias}
}

// OutputShape returns the last output shape, or [out] before any.
func (f *frozenLinear[T]) OutputShape() []int {
	if f.outShape == nil {
		return []int{f.w.Rows()}
	}
	return append([]int(nil), f.outShape...)
}

// Forward computes y = x·Wᵀ + b for x [..., in] with the fused product.
func (f *frozenLinear[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput(f.op, f.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim(f.op, f.name, x, f.w.Cols())
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](withLast(x.Shape(), f.w.Rows())...)
	f.xwt(y.Data(), x.Data(), n)
	if f.bias != nil {
		tensor.AddRowVector(y.Data(), f.bias.Value.Data())
	}
	f.outShape = y.Shape()
	return y, nil
}

// Backward returns dx = dy·W (nil in ParamsOnly mode) and accumulates db
// when the bias is trainable. W gets nothing.
func (f *frozenLinear[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput(f.op, f.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim(f.op, f.name, x, f.w.Cols())
	if err != nil {
		return nil, err
	}
	if err := gradFor(f.op, f.name, dy, x, f.w.Rows()); err != nil {
		return nil, err
	}
	if trainable(f.bias) {
		tensor.AddColumnSums(f.bias.Grad.Data(), dy.Data())
	}
	if mode == ParamsOnly {
		return []*tensor.Tensor[T]{nil}, nil
	}
	dx := tensor.Zeros[T](x.Shape()...)
	f.xw(dx.Data(), dy.Data(), n)
	return []*tensor.Tensor[T]{dx}, nil
}
