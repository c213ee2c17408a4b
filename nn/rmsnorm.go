package nn

import (
	"context"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/tensor"
)

// RMSNorm normalises each row of x [..., C] by its root mean square and
// scales by a learned gain g [C]: y = x / √(mean(x²) + eps) · g (llama's
// attn_norm/ffn_norm, Zhang & Sennrich 2019), with package kernels'
// RMSNorm pair (eps rounded to float32 as in GGUF).
type RMSNorm[T tensor.Numeric] struct {
	name     string
	dim      int
	eps      float64
	weight   *Parameter[T] // g [C]
	outShape []int
}

// NewRMSNorm returns an RMSNorm with g = 1. Its parameter is named
// name+".weight".
func NewRMSNorm[T tensor.Numeric](name string, dim int, eps float64) *RMSNorm[T] {
	g := tensor.Zeros[T](dim)
	tensor.Fill(g.Data(), 1)
	return &RMSNorm[T]{name: name, dim: dim, eps: eps, weight: NewParameter(name+".weight", g, true)}
}

// Name returns the layer name.
func (r *RMSNorm[T]) Name() string { return r.name }

// SetName renames the layer.
func (r *RMSNorm[T]) SetName(name string) { r.name = name }

// OpType returns "RMSNorm".
func (r *RMSNorm[T]) OpType() string { return "RMSNorm" }

// Attributes returns dim and eps.
func (r *RMSNorm[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"dim": r.dim, "eps": r.eps}
}

// Weight returns the gain g, [C].
func (r *RMSNorm[T]) Weight() *Parameter[T] { return r.weight }

// Eps returns eps.
func (r *RMSNorm[T]) Eps() float64 { return r.eps }

// Parameters returns the gain.
func (r *RMSNorm[T]) Parameters() []*Parameter[T] { return []*Parameter[T]{r.weight} }

// OutputShape returns the last output shape, or [C] before any.
func (r *RMSNorm[T]) OutputShape() []int {
	if r.outShape == nil {
		return []int{r.dim}
	}
	return append([]int(nil), r.outShape...)
}

// Forward normalises x [..., C].
func (r *RMSNorm[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput("rmsnorm", r.name, inputs)
	if err != nil {
		return nil, err
	}
	if _, err := lastDim("rmsnorm", r.name, x, r.dim); err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](x.Shape()...)
	n := x.Size() / r.dim
	kernels.RMSNormForward(y.Data(), make([]T, n), x.Data(), r.weight.Value.Data(), n, r.dim, float32(r.eps))
	r.outShape = y.Shape()
	return y, nil
}

// Backward accumulates dg and returns dx (nil in ParamsOnly mode).
func (r *RMSNorm[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput("rmsnorm", r.name, inputs)
	if err != nil {
		return nil, err
	}
	if _, err := lastDim("rmsnorm", r.name, x, r.dim); err != nil {
		return nil, err
	}
	if err := gradFor("rmsnorm", r.name, dy, x, r.dim); err != nil {
		return nil, err
	}
	var dx *tensor.Tensor[T]
	var dxd, dg []T
	if mode != ParamsOnly {
		dx = tensor.Zeros[T](x.Shape()...)
		dxd = dx.Data()
	}
	if trainable(r.weight) {
		dg = r.weight.Grad.Data()
	}
	// the forward's 1/rms of x, recomputed (a layer keeps no activations)
	n := x.Size() / r.dim
	rstd := make([]T, n)
	kernels.RMSNormForward(make([]T, x.Size()), rstd, x.Data(), r.weight.Value.Data(), n, r.dim, float32(r.eps))
	kernels.RMSNormBackward(dxd, dg, dy.Data(), x.Data(), r.weight.Value.Data(), rstd, n, r.dim)
	return []*tensor.Tensor[T]{dx}, nil
}
