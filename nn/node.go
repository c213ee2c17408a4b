package nn

import (
	"context"

	"github.com/webtune/webtune/tensor"
)

// BackwardMode says what a Backward call must compute.
type BackwardMode int

const (
	// FullBackprop computes the gradient with respect to every input and
	// accumulates (+=) the gradients of every trainable parameter.
	FullBackprop BackwardMode = iota
	// ParamsOnly accumulates parameter gradients but may skip the input
	// gradients (returned as nil): for the first layer of a model.
	ParamsOnly
)

// Node is the layer interface: dense, NF4 and LoRA-wrapped layers, losses'
// callers and whole models all fill this slot.
//
// Forward maps inputs to an output. Backward receives the gradient of the
// loss with respect to the output together with the same inputs that were
// given to Forward, accumulates parameter gradients (+=) and returns the
// gradients with respect to the inputs, one per input.
type Node[T tensor.Numeric] interface {
	Name() string
	SetName(name string)
	OpType() string
	Attributes() map[string]interface{}
	Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error)
	Backward(ctx context.Context, mode BackwardMode, outputGradient *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error)
	Parameters() []*Parameter[T]
	// OutputShape is the shape of the last Forward output; before any
	// Forward, the trailing feature dimensions (e.g. [out] for a Linear).
	OutputShape() []int
}
