package train

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors of this package; test them with errors.Is.
var (
	// ErrNonFinite reports a step whose loss or gradient norm is NaN or
	// infinite, or whose update made a parameter or the held-out loss
	// non-finite. The step was not applied, and the update that produced
	// the parameters it measured was undone when possible: the run is back
	// at a step whose parameters measured a finite loss (StepsDone says
	// which; the error text too). Lower the learning rate.
	ErrNonFinite = errors.New("train: non-finite loss or gradient")
	// ErrDiverged reports silent divergence: a step whose gradient is
	// exactly 0 on every trainable parameter while the loss is finite and
	// above ZeroGradLoss (activations overflowed float32, so nothing can be
	// learned any more). It is handled like ErrNonFinite: the step was not
	// applied and the previous update was undone when possible. Lower the
	// learning rate or the LoRA alpha. Callers that stop on ErrNonFinite
	// should stop on ErrDiverged the same way.
	ErrDiverged = errors.New("train: training diverged")
	// ErrConfig reports an invalid configuration or data too short to train on.
	ErrConfig = errors.New("train: bad config")
	// ErrCheckpoint reports a checkpoint that is malformed or does not match
	// the run (other data, batch geometry, seed or parameters).
	ErrCheckpoint = errors.New("train: bad checkpoint")
	// ErrCorrupt reports a checkpoint whose checksum does not match its
	// bytes (a damaged file); it wraps ErrCheckpoint.
	ErrCorrupt = fmt.Errorf("%w: checksum mismatch", ErrCheckpoint)
	// ErrDone is returned by Step after the last step.
	ErrDone = errors.New("train: run finished")
)

// Config configures a run. Zero fields take the defaults listed.
type Config struct {
	SeqLen    int // SeqLen is the tokens per window (default 128; shrunk to fit a short text).
	Stride    int // Stride is the distance between window starts (default SeqLen).
	Batch     int // Batch is windows per micro-batch (default 4).
	GradAccum int // GradAccum is micro-batches per optimizer step (default 1).
	// Steps is the number of optimizer steps (default: one epoch over the
	// training windows).
	Steps int
	LR    float64 // LR is the peak learning rate (default 1e-3).
	// MinLR is the learning rate at the end of the cosine decay (default
	// LR/10; negative: 0).
	MinLR float64
	// Warmup is the linear warm-up in steps (default Steps/20, at most 100;
	// negative: none).
	Warmup int
	// WeightDecay is AdamW's decoupled weight decay (default 0; LoRA
	// fine-tuning rarely wants it).
	WeightDecay float64
	Beta1       float64 // Beta1 is AdamW's β1 (default 0.9).
	Beta2       float64 // Beta2 is AdamW's β2 (default 0.999).
	// ClipNorm is the global gradient-norm bound (default 1; negative: no
	// clipping).
	ClipNorm float64
	// EvalFraction is the share of the token stream (its tail) held out for
	// evaluation (default 0.1; negative: no held-out split).
	EvalFraction float64
	// EvalEvery evaluates every so many steps and at the last step
	// (default: see EvalWindows; negative: only at the last step).
	EvalEvery int
	// EvalWindows caps the held-out windows kept (at most 32 by default)
	// and evaluated at each evaluation. By default evaluation costs at most
	// about a tenth of training: a trained window costs a forward and a
	// backward pass (two forwards or more), an evaluated one a forward, so
	// a run evaluates at most Steps·Batch·GradAccum/5 windows in all (at
	// least one, at the last step), in at most 10 evaluations of 8 windows
	// or more (up to 32) each; EvalEvery spreads them evenly (fillEval).
	EvalWindows int
	// Seed drives the window order.
	Seed uint64
}

// withDefaults returns c with zero fields filled; steps are filled by the
// caller once the number of windows is known.
func (c Config) withDefaults() Config {
	if c.SeqLen == 0 {
		c.SeqLen = 128
	}
	if c.Stride == 0 {
		c.Stride = c.SeqLen
	}
	if c.Batch == 0 {
		c.Batch = 4
	}
	if c.GradAccum == 0 {
		c.GradAccum = 1
	}
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.MinLR == 0 {
		c.MinLR = c.LR / 10
	}
	c.MinLR = max(c.MinLR, 0)
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.ClipNorm == 0 {
		c.ClipNorm = 1
	}
	if c.EvalFraction == 0 {
		c.EvalFraction = 0.1
	}
	return c
}

// Evaluation defaults (see Config.EvalWindows).
const (
	maxHeldOut     = 32 // held-out windows kept when EvalWindows is 0
	maxEvals       = 10 // evaluations in a run by default, at most
	minEvalWindows = 8  // windows per evaluation by default, while the budget allows
	evalCostShare  = 5  // trained windows per evaluated window, at most, by default
)

// heldOut returns c with EvalWindows set to the number of held-out windows
// a dataset keeps (maxHeldOut by default).
func (c Config) heldOut() Config {
	if c.EvalWindows == 0 {
		c.EvalWindows = maxHeldOut
	}
	return c
}

// validate checks the sizes.
func (c Config) validate() error {
	switch {
	case c.SeqLen < 1, c.Stride < 1, c.Batch < 1, c.GradAccum < 1, c.Steps < 0, c.EvalWindows < 0:
		return fmt.Errorf("%w: seq-len %d, stride %d, batch %d, grad-accum %d, steps %d, eval windows %d must be positive",
			ErrConfig, c.SeqLen, c.Stride, c.Batch, c.GradAccum, c.Steps, c.EvalWindows)
	case !(c.LR > 0) || math.IsInf(c.LR, 0) || c.MinLR > c.LR:
		return fmt.Errorf("%w: learning rate %g (min %g)", ErrConfig, c.LR, c.MinLR)
	case c.EvalFraction >= 0.9:
		return fmt.Errorf("%w: eval fraction %g leaves too little to train on", ErrConfig, c.EvalFraction)
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || c.WeightDecay < 0:
		return fmt.Errorf("%w: beta1 %g, beta2 %g, weight decay %g", ErrConfig, c.Beta1, c.Beta2, c.WeightDecay)
	}
	return nil
}

// fillSteps sets Steps (one epoch of trainWindows when zero) and Warmup.
func (c Config) fillSteps(trainWindows int) Config {
	if c.Steps == 0 {
		per := c.Batch * c.GradAccum
		c.Steps = max(1, (trainWindows+per-1)/per)
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = min(c.Steps/20, 100)
	case c.Warmup < 0:
		c.Warmup = 0
	}
	return c
}

// fillEval sets the evaluation schedule once Steps is known and the
// dataset holds heldOut windows: the windows evaluated each time
// (EvalWindows) and EvalEvery, within the budget of Config.EvalWindows for
// what is not set: up to maxEvals evaluations of at least minEvalWindows
// windows each while the budget allows, then larger ones (up to
// maxHeldOut windows).
func (c Config) fillEval(heldOut int) Config {
	budget := max(1, c.Steps*c.Batch*c.GradAccum/evalCostShare)
	var evals int
	switch {
	case c.EvalEvery != 0:
		evals = evalCount(c.Steps, c.EvalEvery)
	case c.EvalWindows > 0:
		evals = min(maxEvals, max(1, budget/max(1, min(c.EvalWindows, heldOut))))
	default:
		evals = min(maxEvals, max(1, budget/minEvalWindows))
	}
	if c.EvalWindows == 0 {
		c.EvalWindows = min(maxHeldOut, max(1, budget/evals))
	}
	c.EvalWindows = min(c.EvalWindows, heldOut)
	if c.EvalEvery == 0 {
		if c.EvalWindows == 0 {
			evals = 1 // nothing held out: the last step, which evaluates nothing
		}
		c.EvalEvery = (c.Steps + evals - 1) / evals
	}
	return c
}

// evalCount returns the number of evaluations of a run of steps steps
// evaluating every every steps (≤ 0: only the last) and at the last.
func evalCount(steps, every int) int {
	if every <= 0 {
		return 1
	}
	n := steps / every
	if steps%every != 0 {
		n++
	}
	return n
}

// LRAt returns the learning rate of step s (0-based): linear warm-up to LR
// over Warmup steps, then cosine decay to MinLR at the last step.
func (c Config) LRAt(s int) float64 {
	if s < c.Warmup {
		return c.LR * float64(s+1) / float64(c.Warmup)
	}
	span := c.Steps - c.Warmup - 1
	if span <= 0 {
		return c.LR
	}
	p := math.Min(1, float64(s-c.Warmup)/float64(span))
	return c.MinLR + 0.5*(c.LR-c.MinLR)*(1+math.Cos(math.Pi*p))
}
