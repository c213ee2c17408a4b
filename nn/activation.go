package nn

import (
	"context"
	"fmt"
	"math"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/tensor"
)

// Activation kinds accepted by NewActivation.
const (
	ReLU    = "relu"
	Tanh    = "tanh"
	Sigmoid = "sigmoid"
	GELU    = "gelu" // tanh approximation, as GPT-2 and PyTorch's approximate="tanh"
	SiLU    = "silu" // x·σ(x), llama's gate activation
)

// Activation is an elementwise nonlinearity; it maps any shape to itself
// and has no parameters.
type Activation[T tensor.Numeric] struct {
	name, kind string
	outShape   []int
}

// NewActivation returns the activation of the given kind ("relu", "tanh",
// "sigmoid", "gelu", "silu").
func NewActivation[T tensor.Numeric](name, kind string) (Node[T], error) {
	switch kind {
	case ReLU, Tanh, Sigmoid, GELU, SiLU:
		return &Activation[T]{name: name, kind: kind}, nil
	}
	return nil, fmt.Errorf("%w: activation %q: unknown kind %q", ErrNotFound, name, kind)
}

// Name returns the layer name.
func (a *Activation[T]) Name() string { return a.name }

// SetName renames the layer.
func (a *Activation[T]) SetName(name string) { a.name = name }

// Kind returns the activation kind ("relu", ...).
func (a *Activation[T]) Kind() string { return a.kind }

// OpType returns "ReLU", "Tanh", "Sigmoid", "GELU" or "SiLU".
func (a *Activation[T]) OpType() string {
	return map[string]string{ReLU: "ReLU", Tanh: "Tanh", Sigmoid: "Sigmoid", GELU: "GELU", SiLU: "SiLU"}[a.kind]
}

// Attributes returns the kind.
func (a *Activation[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"kind": a.kind}
}

// Parameters returns nil: activations have none.
func (a *Activation[T]) Parameters() []*Parameter[T] { return nil }

// OutputShape returns the shape of the last output (nil before any).
func (a *Activation[T]) OutputShape() []int { return append([]int(nil), a.outShape...) }

// Forward applies the nonlinearity elementwise.
func (a *Activation[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput("activation", a.name, inputs)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](x.Shape()...)
	activationForward(a.kind, y.Data(), x.Data())
	a.outShape = y.Shape()
	return y, nil
}

// Backward returns dx = dy·f'(x) (nil in ParamsOnly mode).
func (a *Activation[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput("activation", a.name, inputs)
	if err != nil {
		return nil, err
	}
	if dy == nil || dy.Size() != x.Size() {
		return nil, fmt.Errorf("%w: activation %q: output gradient does not match input %v", ErrShape, a.name, x.Shape())
	}
	if mode == ParamsOnly {
		return []*tensor.Tensor[T]{nil}, nil
	}
	dx := tensor.Zeros[T](x.Shape()...)
	activationBackward(a.kind, dx.Data(), dy.Data(), x.Data())
	return []*tensor.Tensor[T]{dx}, nil
}

// activationForward computes y = f(x) for one kind; the switch runs once
// per call, outside the loops.
func activationForward[T tensor.Numeric](kind string, y, x []T) {
	switch kind {
	case ReLU:
		reluForward(y, x)
	case Tanh:
		tanhForward(y, x)
	case Sigmoid:
		sigmoidForward(y, x)
	case GELU:
		geluForward(y, x)
	case SiLU:
		siluForward(y, x)
	}
}

// activationBackward computes dx = dy·f'(x) for one kind.
func activationBackward[T tensor.Numeric](kind string, dx, dy, x []T) {
	switch kind {
	case ReLU:
		reluBackward(dx, dy, x)
	case Tanh:
		tanhBackward(dx, dy, x)
	case Sigmoid:
		sigmoidBackward(dx, dy, x)
	case GELU:
		geluBackward(dx, dy, x)
	case SiLU:
		siluBackward(dx, dy, x)
	}
}

// reluForward: y = max(x, 0).
func reluForward[T tensor.Numeric](y, x []T) {
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// reluBackward: dx = dy where x > 0, else 0.
func reluBackward[T tensor.Numeric](dx, dy, x []T) {
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		}
	}
}

// tanhForward: y = tanh(x).
func tanhForward[T tensor.Numeric](y, x []T) {
	for i, v := range x {
		y[i] = T(math.Tanh(float64(v)))
	}
}

// tanhBackward: dx = dy·(1 − tanh²x).
func tanhBackward[T tensor.Numeric](dx, dy, x []T) {
	for i, v := range x {
		t := math.Tanh(float64(v))
		dx[i] = dy[i] * T(1-t*t)
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// sigmoidForward: y = σ(x) = 1/(1+e⁻ˣ).
func sigmoidForward[T tensor.Numeric](y, x []T) {
	for i, v := range x {
		y[i] = T(sigmoid(float64(v)))
	}
}

// sigmoidBackward: dx = dy·σ(x)(1 − σ(x)).
func sigmoidBackward[T tensor.Numeric](dx, dy, x []T) {
	for i, v := range x {
		s := sigmoid(float64(v))
		dx[i] = dy[i] * T(s*(1-s))
	}
}

// geluForward: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))), package kernels'
// GELU.
func geluForward[T tensor.Numeric](y, x []T) { kernels.GELUForward(y, x) }

// geluBackward: dx = dy·GELU'(x) (dx zero on entry: the kernel accumulates).
func geluBackward[T tensor.Numeric](dx, dy, x []T) { kernels.GELUBackward(dx, dy, x) }

// siluForward: y = x·σ(x).
func siluForward[T tensor.Numeric](y, x []T) {
	for i, v := range x {
		f := float64(v)
		y[i] = T(f * sigmoid(f))
	}
}

// siluBackward: dx = dy·σ(x)(1 + x(1 − σ(x))).
func siluBackward[T tensor.Numeric](dx, dy, x []T) {
	for i, v := range x {
		f := float64(v)
		s := sigmoid(f)
		dx[i] = dy[i] * T(s*(1+f*(1-s)))
	}
}
