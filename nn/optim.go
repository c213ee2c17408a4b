package nn

import (
	"context"
	"fmt"
	"math"

	"github.com/webtune/webtune/tensor"
)

// Optimizer updates parameters from their accumulated gradients. Step skips
// frozen parameters and does not clear gradients (call ZeroGrads).
type Optimizer[T tensor.Numeric] interface {
	Step(ctx context.Context, params []*Parameter[T]) error
}

// AdamWConfig configures AdamW; a zero field takes PyTorch's default
// (LR 1e-3, Beta1 0.9, Beta2 0.999, Eps 1e-8, WeightDecay 0.01). Because
// WeightDecay 0 means the default, weight decay is turned off with
// NoWeightDecay.
type AdamWConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// NoWeightDecay turns weight decay off (WeightDecay 0 means the default).
	NoWeightDecay bool
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), exactly
// as torch.optim.AdamW: at step t, for each trainable p with gradient g,
//
//	p ← p − lr·wd·p
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)
//
// t counts Step calls (one shared counter). State is kept per parameter.
type AdamW[T tensor.Numeric] struct {
	cfg     AdamWConfig
	step    int
	state   map[*Parameter[T]]*moments[T]
	pending map[string][2][]T // from SetState, claimed by name at the next Step
}

// moments holds Adam's first and second moment estimates of one parameter.
type moments[T tensor.Numeric] struct{ m, v []T }

// NewAdamW returns an AdamW optimizer; zero config fields take defaults.
func NewAdamW[T tensor.Numeric](cfg AdamWConfig) *AdamW[T] {
	if cfg.LR == 0 {
		cfg.LR = 1e-3
	}
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	if cfg.WeightDecay == 0 && !cfg.NoWeightDecay {
		cfg.WeightDecay = 0.01
	}
	if cfg.NoWeightDecay {
		cfg.WeightDecay = 0
	}
	return &AdamW[T]{cfg: cfg, state: map[*Parameter[T]]*moments[T]{}}
}

// Config returns the configuration with defaults filled in and the current LR.
func (o *AdamW[T]) Config() AdamWConfig { return o.cfg }

// SetLR sets the learning rate (for schedules).
func (o *AdamW[T]) SetLR(lr float64) { o.cfg.LR = lr }

// LR returns the learning rate.
func (o *AdamW[T]) LR() float64 { return o.cfg.LR }

// StepCount returns the number of Steps taken (t).
func (o *AdamW[T]) StepCount() int { return o.step }

// Step applies one AdamW update to every trainable parameter.
func (o *AdamW[T]) Step(ctx context.Context, params []*Parameter[T]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, p := range params {
		if trainable(p) {
			if _, err := o.moments(p); err != nil {
				return err
			}
		}
	}
	o.step++
	c := o.cfg
	bc1 := 1 - math.Pow(c.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(c.Beta2, float64(o.step))
	for _, p := range params {
		if !trainable(p) {
			continue
		}
		s := o.state[p]
		adamwUpdate(p.Value.Data(), p.Grad.Data(), s.m, s.v, c.LR, c.Beta1, c.Beta2, c.Eps, c.WeightDecay, bc1, bc2)
	}
	return nil
}

// adamwUpdate applies one update to p with gradient g and moments m, v (all
// the same length); bc1 = 1−β1ᵗ, bc2 = 1−β2ᵗ.
func adamwUpdate[T tensor.Numeric](p, g, m, v []T, lr, b1, b2, eps, wd, bc1, bc2 float64) {
	decay := T(1 - lr*wd)
	step := lr / bc1
	sq := math.Sqrt(bc2)
	tb1, tb2 := T(b1), T(b2)
	for i, gi := range g {
		p[i] *= decay
		m[i] = tb1*m[i] + (1-tb1)*gi
		v[i] = tb2*v[i] + (1-tb2)*gi*gi
		den := math.Sqrt(float64(v[i]))/sq + eps
		p[i] -= T(step * float64(m[i]) / den)
	}
}

// moments returns p's state, adopting a pending state of the same name or
// allocating zeros.
func (o *AdamW[T]) moments(p *Parameter[T]) (*moments[T], error) {
	if s, ok := o.state[p]; ok {
		return s, nil
	}
	n := p.Value.Size()
	s := &moments[T]{m: make([]T, n), v: make([]T, n)}
	if mv, ok := o.pending[p.Name]; ok {
		if len(mv[0]) != n || len(mv[1]) != n {
			return nil, fmt.Errorf("%w: adamw: state of %q has %d/%d values, parameter has %d",
				ErrShape, p.Name, len(mv[0]), len(mv[1]), n)
		}
		copy(s.m, mv[0])
		copy(s.v, mv[1])
		delete(o.pending, p.Name)
	}
	o.state[p] = s
	return s, nil
}

// Moments returns the live first and second moments of p (nil, nil before
// its first Step, or the pending ones set by SetState).
func (o *AdamW[T]) Moments(p *Parameter[T]) (m, v []T) {
	if s, ok := o.state[p]; ok {
		return s.m, s.v
	}
	if mv, ok := o.pending[p.Name]; ok {
		return mv[0], mv[1]
	}
	return nil, nil
}

// State returns the step count and a copy of every parameter's moments
// keyed by parameter name ({m, v}), for checkpoints. Parameter names must
// be unique among the optimised parameters.
func (o *AdamW[T]) State() (step int, ms map[string][2][]T) {
	ms = make(map[string][2][]T, len(o.state)+len(o.pending))
	for name, mv := range o.pending {
		ms[name] = [2][]T{append([]T(nil), mv[0]...), append([]T(nil), mv[1]...)}
	}
	for p, s := range o.state {
		ms[p.Name] = [2][]T{append([]T(nil), s.m...), append([]T(nil), s.v...)}
	}
	return o.step, ms
}

// SetState replaces the optimizer state with a checkpoint's: the step count
// and moments keyed by parameter name. The moments are copied and adopted
// by the parameter of that name at its next Step (a length mismatch makes
// that Step fail with ErrShape).
func (o *AdamW[T]) SetState(step int, ms map[string][2][]T) {
	o.step = step
	o.state = map[*Parameter[T]]*moments[T]{}
	o.pending = make(map[string][2][]T, len(ms))
	for name, mv := range ms {
		o.pending[name] = [2][]T{append([]T(nil), mv[0]...), append([]T(nil), mv[1]...)}
	}
}
