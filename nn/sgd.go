package nn

import (
	"context"
	"math"

	"github.com/webtune/webtune/tensor"
)

// SGDConfig configures SGD. LR 0 means 1e-3; Momentum and WeightDecay 0 turn
// those off.
type SGDConfig struct {
	LR, Momentum, WeightDecay float64
}

// SGD is stochastic gradient descent with momentum and L2 weight decay,
// exactly as torch.optim.SGD (dampening 0, no Nesterov): for each trainable
// p with gradient g,
//
//	d ← g + wd·p
//	b ← d at the first step, else μ·b + d
//	p ← p − lr·b   (p ← p − lr·d without momentum)
type SGD[T tensor.Numeric] struct {
	cfg SGDConfig
	buf map[*Parameter[T]][]T // momentum buffers
}

// NewSGD returns an SGD optimizer.
func NewSGD[T tensor.Numeric](cfg SGDConfig) *SGD[T] {
	if cfg.LR == 0 {
		cfg.LR = 1e-3
	}
	return &SGD[T]{cfg: cfg, buf: map[*Parameter[T]][]T{}}
}

// SetLR sets the learning rate.
func (o *SGD[T]) SetLR(lr float64) { o.cfg.LR = lr }

// LR returns the learning rate.
func (o *SGD[T]) LR() float64 { return o.cfg.LR }

// Config returns the configuration.
func (o *SGD[T]) Config() SGDConfig { return o.cfg }

// Step applies one update to every trainable parameter.
func (o *SGD[T]) Step(ctx context.Context, params []*Parameter[T]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, p := range params {
		if !trainable(p) {
			continue
		}
		var b []T
		if o.cfg.Momentum != 0 {
			if b = o.buf[p]; b == nil {
				b = make([]T, p.Value.Size()) // μ·0 + d = d at the first step
				o.buf[p] = b
			}
		}
		sgdUpdate(p.Value.Data(), p.Grad.Data(), b, o.cfg.LR, o.cfg.Momentum, o.cfg.WeightDecay)
	}
	return nil
}

// sgdUpdate applies one SGD step to p with gradient g and momentum buffer b
// (nil without momentum). A zero buffer makes μ·b + d = d, the first step.
func sgdUpdate[T tensor.Numeric](p, g, b []T, lr, mu, wd float64) {
	tlr, tmu, twd := T(lr), T(mu), T(wd)
	for i, gi := range g {
		d := gi + twd*p[i]
		if b != nil {
			b[i] = tmu*b[i] + d
			d = b[i]
		}
		p[i] -= tlr * d
	}
}

// ClipGradNorm scales the gradients of params so that their global L2 norm
// is at most maxNorm, as torch.nn.utils.clip_grad_norm_ (scale
// maxNorm/(norm + 1e-6) when that is below 1). It returns the norm before
// clipping; frozen parameters are ignored.
func ClipGradNorm[T tensor.Numeric](params []*Parameter[T], maxNorm float64) float64 {
	var sq float64
	for _, p := range params {
		if trainable(p) {
			sq += tensor.SumSq(p.Grad.Data())
		}
	}
	norm := math.Sqrt(sq)
	if c := maxNorm / (norm + 1e-6); c < 1 {
		for _, p := range params {
			if trainable(p) {
				tensor.Scale(p.Grad.Data(), T(c))
			}
		}
	}
	return norm
}
