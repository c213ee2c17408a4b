package nn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/webtune/webtune/tensor"
)

// LinearOptions configures NewLinear.
type LinearOptions struct {
	Bias   bool  // add a bias vector [out]
	Seed   int64 // seed of the weight and bias initialisation
	Frozen bool  // weight and bias receive no gradient
}

// Linear is a fully connected layer y = x·Wᵀ + b, W [out, in], b [out]
// (PyTorch's nn.Linear). It maps [..., in] to [..., out].
type Linear[T tensor.Numeric] struct {
	name     string
	in, out  int
	weight   *Parameter[T] // [out, in]
	bias     *Parameter[T] // [out] or nil
	engine   tensor.Engine[T]
	outShape []int
}

// NewLinear returns a Linear layer with PyTorch's default initialisation
// drawn from opt.Seed: W and b ~ U(±1/√in). Its parameters are named
// name+".weight" and name+".bias".
func NewLinear[T tensor.Numeric](name string, in, out int, engine tensor.Engine[T], opt LinearOptions) (*Linear[T], error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("%w: linear %q: in=%d out=%d", ErrShape, name, in, out)
	}
	r := rand.New(rand.NewPCG(uint64(opt.Seed), 0x9e3779b97f4a7c15))
	bound := 1 / math.Sqrt(float64(in))
	uniform := func(n int) *tensor.Tensor[T] {
		d := make([]T, n)
		for i := range d {
			d[i] = T((r.Float64()*2 - 1) * bound)
		}
		return tensor.FromSlice(d, n)
	}
	w, err := uniform(out*in).Reshape(out, in)
	if err != nil {
		return nil, err
	}
	var b *tensor.Tensor[T]
	if opt.Bias {
		b = uniform(out)
	}
	l, err := NewLinearFrom(name, w, b, engine)
	if err != nil {
		return nil, err
	}
	l.SetFrozen(opt.Frozen)
	return l, nil
}

// NewLinearFrom returns a trainable Linear layer around weight [out, in] and
// an optional bias [out] (nil for none). The tensors are used, not copied.
func NewLinearFrom[T tensor.Numeric](name string, weight, bias *tensor.Tensor[T], engine tensor.Engine[T]) (*Linear[T], error) {
	if weight == nil || weight.Dims() != 2 || weight.Size() == 0 {
		return nil, fmt.Errorf("%w: linear %q: weight must be [out, in]", ErrShape, name)
	}
	if engine == nil {
		return nil, fmt.Errorf("%w: linear %q: nil engine", ErrShape, name)
	}
	out, in := weight.Dim(0), weight.Dim(1)
	l := &Linear[T]{name: name, in: in, out: out, engine: engine,
		weight: NewParameter(name+".weight", weight, true)}
	if bias != nil {
		if bias.Dims() != 1 || bias.Dim(0) != out {
			return nil, fmt.Errorf("%w: linear %q: bias %v, want [%d]", ErrShape, name, bias.Shape(), out)
		}
		l.bias = NewParameter(name+".bias", bias, true)
	}
	return l, nil
}

// Name returns the layer name (e.g. "blk.0.attn_q").
func (l *Linear[T]) Name() string { return l.name }

// SetName renames the layer; parameter names are left as they were.
func (l *Linear[T]) SetName(name string) { l.name = name }

// OpType returns "Linear".
func (l *Linear[T]) OpType() string { return "Linear" }

// Attributes returns in_features, out_features and bias.
func (l *Linear[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"in_features": l.in, "out_features": l.out, "bias": l.bias != nil}
}

// InFeatures returns in.
func (l *Linear[T]) InFeatures() int { return l.in }

// OutFeatures returns out.
func (l *Linear[T]) OutFeatures() int { return l.out }

// Weight returns the weight parameter, [out, in].
func (l *Linear[T]) Weight() *Parameter[T] { return l.weight }

// Bias returns the bias parameter, [out], or nil.
func (l *Linear[T]) Bias() *Parameter[T] { return l.bias }

// Engine returns the engine the layer computes with.
func (l *Linear[T]) Engine() tensor.Engine[T] { return l.engine }

// SetFrozen freezes (true) or unfreezes the layer's weight and bias. A
// frozen layer computes no parameter gradients, only dx.
func (l *Linear[T]) SetFrozen(frozen bool) {
	l.weight.SetTrainable(!frozen)
	if l.bias != nil {
		l.bias.SetTrainable(!frozen)
	}
}

// Parameters returns the weight and, if present, the bias (frozen ones
// included, with Trainable false).
func (l *Linear[T]) Parameters() []*Parameter[T] {
	if l.bias == nil {
		return []*Parameter[T]{l.weight}
	}
	return []*Parameter[T]{l.weight, l.bias}
}

// OutputShape returns the shape of the last output, or [out] before any.
func (l *Linear[T]) OutputShape() []int {
	if l.outShape == nil {
		return []int{l.out}
	}
	return append([]int(nil), l.outShape...)
}

// Forward computes y[N, out] = x[N, in]·Wᵀ + b for x [..., in].
func (l *Linear[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput("linear", l.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim("linear", l.name, x, l.in)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](withLast(x.Shape(), l.out)...)
	linearForward(l.engine, y.Data(), x.Data(), l.weight.Value.Data(), l.biasData(), n, l.in, l.out)
	l.outShape = y.Shape()
	return y, nil
}

// Backward accumulates dW += dyᵀ·x and db += Σ_N dy (when trainable) and
// returns dx = dy·W (nil in ParamsOnly mode).
func (l *Linear[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput("linear", l.name, inputs)
	if err != nil {
		return nil, err
	}
	n, err := lastDim("linear", l.name, x, l.in)
	if err != nil {
		return nil, err
	}
	if err := gradFor("linear", l.name, dy, x, l.out); err != nil {
		return nil, err
	}
	var dW, db []T
	if trainable(l.weight) {
		dW = l.weight.Grad.Data()
	}
	if trainable(l.bias) {
		db = l.bias.Grad.Data()
	}
	var dx *tensor.Tensor[T]
	var dxd []T
	if mode != ParamsOnly {
		dx = tensor.Zeros[T](x.Shape()...)
		dxd = dx.Data()
	}
	linearBackward(l.engine, dxd, dW, db, dy.Data(), x.Data(), l.weight.Value.Data(), n, l.in, l.out)
	return []*tensor.Tensor[T]{dx}, nil
}

func (l *Linear[T]) biasData() []T {
	if l.bias == nil {
		return nil
	}
	return l.bias.Value.Data()
}

// linearForward computes y[N×out] = x[N×in]·w[out×in]ᵀ (+ b[out]).
func linearForward[T tensor.Numeric](e tensor.Engine[T], y, x, w, b []T, n, in, out int) {
	e.Gemm(false, true, n, out, in, 1, x, w, 0, y)
	if b != nil {
		tensor.AddRowVector(y, b)
	}
}

// linearBackward computes dx[N×in] = dy[N×out]·w[out×in] (skipped when dx
// is nil), dw[out×in] += dyᵀ·x and db[out] += Σ_N dy (each skipped when nil).
func linearBackward[T tensor.Numeric](e tensor.Engine[T], dx, dw, db, dy, x, w []T, n, in, out int) {
	if dx != nil {
		e.Gemm(false, false, n, in, out, 1, dy, w, 0, dx)
	}
	if dw != nil {
		e.Gemm(true, false, out, in, n, 1, dy, x, 1, dw)
	}
	if db != nil {
		tensor.AddColumnSums(db, dy)
	}
}
