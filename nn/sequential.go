package nn

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/tensor"
)

// Sequential chains named layers: the output of each is the input of the
// next. It is itself a Node, so Sequentials nest, and it is a lora.Model
// (Layers, ReplaceLayer). Forward keeps every layer's inputs so Backward can
// hand each layer the inputs it saw; a Sequential is therefore not safe for
// concurrent use.
type Sequential[T tensor.Numeric] struct {
	name   string
	layers []Node[T]
	cache  [][]*tensor.Tensor[T] // cache[i] = inputs of layers[i] in the last Forward
}

// NewSequential returns a Sequential of the given layers, in order.
func NewSequential[T tensor.Numeric](name string, layers ...Node[T]) *Sequential[T] {
	return &Sequential[T]{name: name, layers: append([]Node[T](nil), layers...)}
}

// Name returns the model name.
func (s *Sequential[T]) Name() string { return s.name }

// SetName renames the model.
func (s *Sequential[T]) SetName(name string) { s.name = name }

// OpType returns "Sequential".
func (s *Sequential[T]) OpType() string { return "Sequential" }

// Attributes returns the number of direct children.
func (s *Sequential[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"layers": len(s.layers)}
}

// Children returns the direct children (nested Sequentials not expanded).
func (s *Sequential[T]) Children() []Node[T] { return append([]Node[T](nil), s.layers...) }

// Append adds layers at the end.
func (s *Sequential[T]) Append(layers ...Node[T]) {
	s.layers = append(s.layers, layers...)
	s.cache = nil
}

// Layers returns every leaf layer in order, recursing into nested
// Sequentials.
func (s *Sequential[T]) Layers() []Node[T] {
	var out []Node[T]
	for _, l := range s.layers {
		if sub, ok := l.(*Sequential[T]); ok {
			out = append(out, sub.Layers()...)
			continue
		}
		out = append(out, l)
	}
	return out
}

// ReplaceLayer replaces the first layer named name, searching depth-first
// through nested Sequentials (a nested Sequential itself may be replaced by
// its name). It returns an error wrapping ErrNotFound when no layer has
// that name.
func (s *Sequential[T]) ReplaceLayer(name string, replacement Node[T]) error {
	if replacement == nil {
		return fmt.Errorf("%w: sequential %q: nil replacement for %q", ErrShape, s.name, name)
	}
	if s.replace(name, replacement) {
		return nil
	}
	return fmt.Errorf("%w: sequential %q: no layer named %q", ErrNotFound, s.name, name)
}

func (s *Sequential[T]) replace(name string, replacement Node[T]) bool {
	for i, l := range s.layers {
		if l.Name() == name {
			s.layers[i] = replacement
			s.cache = nil
			return true
		}
		if sub, ok := l.(*Sequential[T]); ok && sub.replace(name, replacement) {
			s.cache = nil
			return true
		}
	}
	return false
}

// Parameters returns the parameters of every layer, in layer order.
func (s *Sequential[T]) Parameters() []*Parameter[T] {
	var ps []*Parameter[T]
	for _, l := range s.layers {
		ps = append(ps, l.Parameters()...)
	}
	return ps
}

// OutputShape returns the last layer's output shape (nil when empty).
func (s *Sequential[T]) OutputShape() []int {
	if len(s.layers) == 0 {
		return nil
	}
	return s.layers[len(s.layers)-1].OutputShape()
}

// Forward runs the layers in order; the first layer gets all inputs, the
// others the previous output. An empty Sequential is the identity on its
// single input.
func (s *Sequential[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	if len(s.layers) == 0 {
		return oneInput("sequential", s.name, inputs)
	}
	s.cache = make([][]*tensor.Tensor[T], len(s.layers))
	xs := inputs
	var y *tensor.Tensor[T]
	for i, l := range s.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.cache[i] = xs
		var err error
		if y, err = l.Forward(ctx, xs...); err != nil {
			return nil, err
		}
		xs = []*tensor.Tensor[T]{y}
	}
	return y, nil
}

// Backward runs each layer's Backward in reverse order with the inputs that
// layer saw in the last Forward. When inputs are not the ones of the last
// Forward, it first runs Forward on them to rebuild the cache. mode applies
// to the first layer; the others always compute their input gradients.
func (s *Sequential[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	if len(s.layers) == 0 {
		return []*tensor.Tensor[T]{dy}, nil
	}
	if !s.cached(inputs) {
		if _, err := s.Forward(ctx, inputs...); err != nil {
			return nil, err
		}
	}
	g := []*tensor.Tensor[T]{dy}
	for i := len(s.layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := FullBackprop
		if i == 0 {
			m = mode
		}
		var err error
		if g, err = s.layers[i].Backward(ctx, m, g[0], s.cache[i]...); err != nil {
			return nil, err
		}
		if i > 0 && (len(g) == 0 || g[0] == nil) {
			return nil, fmt.Errorf("%w: sequential %q: layer %q returned no input gradient", ErrShape, s.name, s.layers[i].Name())
		}
	}
	return g, nil
}

// cached reports whether inputs are the inputs of the last Forward.
func (s *Sequential[T]) cached(inputs []*tensor.Tensor[T]) bool {
	if len(s.cache) != len(s.layers) || len(s.cache[0]) != len(inputs) {
		return false
	}
	for i, x := range inputs {
		if s.cache[0][i] != x {
			return false
		}
	}
	return true
}
