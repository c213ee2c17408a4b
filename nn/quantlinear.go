package nn

import (
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
	frozenLinear[T]
	m *quant.Matrix // [out, in]
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
	l := &QuantLinear[T]{m: w}
	if err := l.initFrozen("quantlinear", name, w, bias, engine); err != nil {
		return nil, err
	}
	l.xwt = func(y, x []T, n int) { quant.MatMulXWt(engine, w, y, x, n) }
	l.xw = func(dx, dy []T, n int) { quant.MatMulXW(engine, w, dx, dy, n) }
	return l, nil
}

// OpType returns "QuantLinear".
func (l *QuantLinear[T]) OpType() string { return "QuantLinear" }

// Attributes returns in_features, out_features, bias, type and
// bits_per_param.
func (l *QuantLinear[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"in_features": l.m.Cols(), "out_features": l.m.Rows(),
		"bias": l.bias != nil, "type": l.m.Type().String(), "bits_per_param": l.m.BitsPerParam()}
}

// Matrix returns the quantized weight.
func (l *QuantLinear[T]) Matrix() *quant.Matrix { return l.m }
