package nn

import "github.com/webtune/webtune/tensor"

// Parameter is a named tensor of a model, with a gradient of the same shape
// when it is trainable. A frozen parameter has a nil Grad and receives no
// gradient computation.
type Parameter[T tensor.Numeric] struct {
	Name      string
	Value     *tensor.Tensor[T]
	Grad      *tensor.Tensor[T] // nil when frozen
	Trainable bool
}

// NewParameter wraps value; a trainable parameter gets a zero gradient of
// the same shape.
func NewParameter[T tensor.Numeric](name string, value *tensor.Tensor[T], trainable bool) *Parameter[T] {
	p := &Parameter[T]{Name: name, Value: value, Trainable: trainable}
	if trainable {
		p.Grad = tensor.Zeros[T](value.Shape()...)
	}
	return p
}

// ZeroGrad clears the accumulated gradient.
func (p *Parameter[T]) ZeroGrad() {
	if p.Grad == nil {
		return
	}
	clear(p.Grad.Data())
}

// SetTrainable freezes (false) or unfreezes (true) the parameter, allocating
// or dropping its gradient.
func (p *Parameter[T]) SetTrainable(on bool) {
	p.Trainable = on
	switch {
	case on && p.Grad == nil:
		p.Grad = tensor.Zeros[T](p.Value.Shape()...)
	case !on:
		p.Grad = nil
	}
}
