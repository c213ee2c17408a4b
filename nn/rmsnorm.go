package nn

import (
	"context"
	"math"

	"github.com/webtune/webtune/tensor"
)

// RMSNorm normalises each row of x [..., C] by its root mean square and
// scales by a learned gain g [C]: y = x / √(mean(x²) + eps) · g (llama's
// attn_norm/ffn_norm, Zhang & Sennrich 2019).
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
	rmsnormForward(y.Data(), x.Data(), r.weight.Value.Data(), r.dim, r.eps)
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
	rmsnormBackward(dxd, dg, dy.Data(), x.Data(), r.weight.Value.Data(), r.dim, r.eps)
	return []*tensor.Tensor[T]{dx}, nil
}

// rmsInv returns 1/√(mean(x²) + eps) of one row, accumulated in float64.
func rmsInv[T tensor.Numeric](x []T, eps float64) float64 {
	return 1 / math.Sqrt(tensor.SumSq(x)/float64(len(x))+eps)
}

// rmsnormForward: y[n, c] = x[n, c]·s_n·g[c], s_n = 1/√(mean_c x[n, c]² + eps),
// x, y [N, C], g [C].
func rmsnormForward[T tensor.Numeric](y, x, g []T, c int, eps float64) {
	for o := 0; o < len(x); o += c {
		xr, yr := x[o:o+c], y[o:o+c]
		s := T(rmsInv(xr, eps))
		for i, v := range xr {
			yr[i] = v * s * g[i]
		}
	}
}

// rmsnormBackward, per row with s = 1/√(mean x² + eps):
//
//	dg[c] += dy[c]·x[c]·s
//	dx[c]  = s·g[c]·dy[c] − x[c]·s³/C · Σ_j g[j]·dy[j]·x[j]
//
// dx or dg may be nil (not computed).
func rmsnormBackward[T tensor.Numeric](dx, dg, dy, x, g []T, c int, eps float64) {
	for o := 0; o < len(x); o += c {
		xr, dyr := x[o:o+c], dy[o:o+c]
		s := rmsInv(xr, eps)
		if dg != nil {
			st := T(s)
			for i, v := range xr {
				dg[i] += dyr[i] * v * st
			}
		}
		if dx == nil {
			continue
		}
		var dot float64
		for i, v := range xr {
			dot += float64(g[i]) * float64(dyr[i]) * float64(v)
		}
		k := T(dot * s * s * s / float64(c))
		st, dxr := T(s), dx[o:o+c]
		for i, v := range xr {
			dxr[i] = st*g[i]*dyr[i] - v*k
		}
	}
}
