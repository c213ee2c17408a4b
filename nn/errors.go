package nn

import (
	"errors"
	"fmt"

	"github.com/webtune/webtune/tensor"
)

// Sentinel errors; every error of this package wraps one of them (test with
// errors.Is) and starts with "nn: ".
var (
	// ErrShape reports a tensor whose shape does not fit the layer or loss.
	ErrShape = errors.New("nn: bad shape")
	// ErrNotFound reports a layer name that is not in a model.
	ErrNotFound = errors.New("nn: not found")
	// ErrRange reports an index (token id, target class) outside its range,
	// or a configuration value outside its domain.
	ErrRange = errors.New("nn: out of range")
)

// oneInput returns the single input of a layer that takes exactly one.
func oneInput[T tensor.Numeric](op, name string, inputs []*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	if len(inputs) != 1 || inputs[0] == nil {
		return nil, fmt.Errorf("%w: %s %q takes 1 input, got %d", ErrShape, op, name, len(inputs))
	}
	return inputs[0], nil
}

// lastDim checks that x is [..., c] and returns the number of rows N.
func lastDim[T tensor.Numeric](op, name string, x *tensor.Tensor[T], c int) (int, error) {
	if x.Dims() == 0 || x.Dim(-1) != c {
		return 0, fmt.Errorf("%w: %s %q: input %v, want [..., %d]", ErrShape, op, name, x.Shape(), c)
	}
	return x.Size() / c, nil
}

// gradFor checks that an output gradient has the shape of the output that
// the layer produces for x, [..., c] with x's leading dimensions.
func gradFor[T tensor.Numeric](op, name string, dy, x *tensor.Tensor[T], c int) error {
	if dy == nil {
		return fmt.Errorf("%w: %s %q: nil output gradient", ErrShape, op, name)
	}
	want := withLast(x.Shape(), c)
	got := dy.Shape()
	if len(got) != len(want) {
		return fmt.Errorf("%w: %s %q: output gradient %v, want %v", ErrShape, op, name, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("%w: %s %q: output gradient %v, want %v", ErrShape, op, name, got, want)
		}
	}
	return nil
}

// withLast returns shape with its last dimension replaced by c.
func withLast(shape []int, c int) []int {
	s := append([]int(nil), shape...)
	if len(s) == 0 {
		return []int{c}
	}
	s[len(s)-1] = c
	return s
}

// trainable reports whether p is non-nil and receives gradients.
func trainable[T tensor.Numeric](p *Parameter[T]) bool {
	return p != nil && p.Trainable && p.Grad != nil
}

// ZeroGrads clears the gradients of params (frozen ones have none).
func ZeroGrads[T tensor.Numeric](params []*Parameter[T]) {
	for _, p := range params {
		p.ZeroGrad()
	}
}
