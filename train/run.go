package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Model is what a run trains: a causal LM that computes the mean next-token
// cross-entropy of a batch and accumulates its gradients into Parameters()
// (the trainable ones: LoRA A and B, or every weight for full fine-tuning).
// *llama.Model[T] satisfies it.
type Model[T tensor.Numeric] interface {
	// ForwardBackward returns the mean cross-entropy of targets [B][T]
	// given tokens [B][T] and adds gradScale times its gradient.
	ForwardBackward(ctx context.Context, tokens, targets [][]int, gradScale float64) (float64, error)
	// Loss returns the mean cross-entropy without gradients.
	Loss(ctx context.Context, tokens, targets [][]int) (float64, error)
	// Parameters returns the trainable parameters (unique names).
	Parameters() []*nn.Parameter[T]
}

// Dropout is implemented by a Model with random layers (LoRA dropout;
// *llama.Model[T] does). A run turns training mode on for its steps and off
// for evaluation (which is then deterministic), and before every
// micro-batch sets the draw key to the micro-batch's index in the run
// (step·GradAccum + k) and the position to its first row's place in the
// whole micro-batch times SeqLen, so that a mask depends on (seed, step,
// micro-batch, row) only: a resumed run and data-parallel replicas draw
// the masks of an uninterrupted single run, and a checkpoint needs no
// random state.
type Dropout interface {
	SetTraining(on bool)
	SetDropoutKey(key uint64, pos int)
}

// Progress is reported after every step.
type Progress struct {
	Step     int     // Step is the number of steps done (1-based after the first).
	Steps    int     // Steps is the run's total.
	Epoch    float64 // Epoch is passes over the training windows so far.
	Loss     float64 // Loss is this step's mean training loss (nats/token).
	EvalLoss float64 // EvalLoss is the held-out loss, NaN when not evaluated at this step.
	LR       float64 // LR is the learning rate used by this step.
	GradNorm float64 // GradNorm is the global gradient norm before clipping.
	Tokens   int64   // Tokens is the training tokens processed so far (resumes included).
	// TokensPerSec is the training throughput of this process: training
	// tokens over the time spent in steps, evaluations excluded.
	TokensPerSec float64
	EvalTime     time.Duration // EvalTime is the time this process spent evaluating (part of Elapsed).
	Elapsed      time.Duration // Elapsed is the time spent inside Step (pauses excluded; resumes included).
	ETA          time.Duration // ETA estimates the time left at this process's pace.
}

// Run is one training run. It is not safe for concurrent use; a browser
// calls Step from one goroutine and may stop calling it at any time.
type Run[T tensor.Numeric] struct {
	// OnProgress, when set, is called after every step.
	OnProgress func(Progress)

	cfg    Config
	m      Model[T]
	params []*nn.Parameter[T]
	opt    *nn.AdamW[T]
	data   *Dataset

	// before holds the state before the update of step r.step, the last
	// step done, when canUndo is set: that step can then be undone when
	// the next one measures its parameters bad (see rollback).
	before  snapshot[T]
	canUndo bool

	step     int    // steps done
	pos      cursor // next training window
	tokens   int64
	elapsed  time.Duration // time in Step, checkpointed
	session  time.Duration // time in Step since New/Restore
	evalTime time.Duration // of which evaluating
	sessionN int           // steps since New/Restore
	losses   []float64     // training loss of every step done
	evals    []EvalPoint

	in, tg [][]int // [Batch][SeqLen] scratch

	// data-parallel replicas (SetReplica); replicas ≤ 1 trains alone
	replica, replicas int
	allReduce         AllReduce[T]
}

// EvalPoint is one held-out evaluation.
type EvalPoint struct {
	Step int
	Loss float64
}

// New prepares a run of m on the token stream tokens (see Tokenize). The
// trainable parameters are m.Parameters() at this point.
func New[T tensor.Numeric](m Model[T], tokens []int, cfg Config) (*Run[T], error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	var st tokenStore
	if err := st.add(tokens...); err != nil {
		return nil, err
	}
	d, _, err := newDataset(st, c.heldOut())
	if err != nil {
		return nil, err
	}
	return newRun(m, d, c)
}

// NewTokens is New on a stream held compactly (see TokenizeReader): the
// run shares tokens' memory, so a long text costs 4 bytes per token once.
func NewTokens[T tensor.Numeric](m Model[T], tokens *Tokens, cfg Config) (*Run[T], error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	d, _, err := newDataset(tokens.s, c.heldOut())
	if err != nil {
		return nil, err
	}
	return newRun(m, d, c)
}

// newRun prepares a run of m on d.
func newRun[T tensor.Numeric](m Model[T], d *Dataset, c Config) (*Run[T], error) {
	seqLen := d.seqLen
	c.SeqLen = seqLen
	c.Stride = min(c.Stride, seqLen)
	c = c.fillSteps(d.TrainWindows()).fillEval(d.EvalWindows())
	params := m.Parameters()
	if len(params) == 0 {
		return nil, fmt.Errorf("%w: the model has no trainable parameters (inject LoRA or enable full fine-tuning)", ErrConfig)
	}
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: two trainable parameters are named %q", ErrConfig, p.Name)
		}
		seen[p.Name] = true
	}
	opt := nn.NewAdamW[T](nn.AdamWConfig{LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: 1e-8,
		WeightDecay: c.WeightDecay, NoWeightDecay: c.WeightDecay == 0})
	r := &Run[T]{cfg: c, m: m, params: params, opt: opt, data: d,
		in: matrix(c.Batch, seqLen), tg: matrix(c.Batch, seqLen)}
	return r, nil
}

// Config returns the configuration with every default filled in (SeqLen as
// used, Steps, Warmup, EvalEvery, EvalWindows evaluated each time).
func (r *Run[T]) Config() Config { return r.cfg }

// Data returns the dataset.
func (r *Run[T]) Data() *Dataset { return r.data }

// StepsDone returns the number of steps done.
func (r *Run[T]) StepsDone() int { return r.step }

// Done reports whether every step has been done.
func (r *Run[T]) Done() bool { return r.step >= r.cfg.Steps }

// Losses returns the training loss of every step done (a copy).
func (r *Run[T]) Losses() []float64 { return append([]float64(nil), r.losses...) }

// EvalLosses returns every held-out evaluation so far (a copy).
func (r *Run[T]) EvalLosses() []EvalPoint { return append([]EvalPoint(nil), r.evals...) }

// Run calls Step until the run is done, ctx is cancelled or a step fails.
func (r *Run[T]) Run(ctx context.Context) error {
	for !r.Done() {
		if _, err := r.Step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Step does one optimizer step: GradAccum micro-batches forward and
// backward, clipping, the scheduled learning rate, AdamW; then an
// evaluation when due. It returns ErrDone after the last step. A cancelled
// ctx or a failed micro-batch leaves the run as before the call (the step
// is redone by the next call).
//
// Step guards against divergence; every guard returns an error and leaves
// the run, where it can, at a step whose parameters measured a finite loss
// and gradient (no update was applied on top of them):
//
//   - A loss or gradient norm that is NaN or infinite returns an error
//     wrapping ErrNonFinite. Such a measurement condemns the parameters
//     it was made on, which the previous step's update produced (a finite
//     update can still send the next forward pass to Inf), so that update
//     is undone too: the run goes back one step (parameters, AdamW
//     moments and step count, data position, token count, losses and an
//     evaluation of that step), to the parameters on which the previous
//     step measured a finite loss. StepsDone tells where the run now is;
//     a Checkpoint written then resumes from there.
//   - A gradient norm of exactly 0 with a loss above ZeroGradLoss returns
//     an error wrapping ErrDiverged, undoing the previous update in the
//     same way. This is silent divergence: activations overflowed float32
//     (RMSNorm squares in float32, as llama.cpp does), the normalised
//     output is 0, and every gradient with it, while the loss stays finite
//     (about ln V). A healthy run never gets there: in LoRA, B = 0 at the
//     first step makes dA = 0 but not dB; an exactly zero gradient on a
//     trainable model needs a softmax saturated to the one-hot targets,
//     whose loss is then 0 in float32 (at most ZeroGradLoss), which is not
//     an error (there is nothing left to learn).
//   - An update that makes a parameter NaN or infinite, or the held-out
//     loss of an evaluation due at this step non-finite, is undone and
//     returns an error wrapping ErrNonFinite; the run stays at the
//     previous step.
//
// Only the update of the last step done can be undone (its state is kept
// in buffers reused from step to step): after Restore, or when the first
// step measures a bad state, the run stays where it is and the error says so.
func (r *Run[T]) Step(ctx context.Context) (Progress, error) {
	if r.Done() {
		return Progress{}, ErrDone
	}
	start := time.Now()
	loss, next, err := r.gradients(ctx)
	if err != nil {
		return Progress{}, err
	}
	norm := gradNorm(r.params)
	if err := r.checkMeasured(loss, norm); err != nil {
		return Progress{}, err
	}
	lr, err := r.update(ctx)
	if err != nil {
		return Progress{}, err
	}
	r.step++
	r.pos = next
	r.tokens += r.stepTokens()
	r.losses = append(r.losses, loss)
	ev, err := r.evaluateIfDue(ctx)
	if err != nil {
		return Progress{}, err
	}
	d := time.Since(start)
	r.elapsed += d
	r.session += d
	r.sessionN++
	p := r.progress(loss, ev, lr, norm)
	if r.OnProgress != nil {
		r.OnProgress(p)
	}
	return p, nil
}

// gradients runs the GradAccum micro-batches of the next step forward and
// backward (this replica's rows of each), all-reduces the gradients when
// the run is a replica, and returns the step's mean loss and the data
// position after it.
func (r *Run[T]) gradients(ctx context.Context) (float64, cursor, error) {
	c := r.cfg
	nn.ZeroGrads(r.params)
	drop, _ := r.m.(Dropout)
	if drop != nil {
		drop.SetTraining(true)
	}
	pos := r.pos
	var loss float64
	total := 0 // with examples: the trained targets of the whole step
	if r.data.starts != nil {
		total = r.data.trainedAhead(pos, c.GradAccum, c.Batch)
	}
	for k := 0; k < c.GradAccum; k++ {
		if err := ctx.Err(); err != nil {
			return 0, pos, err
		}
		pos = r.data.batch(pos, r.in, r.tg)
		in, tg, lo, share := r.shard(r.in, r.tg)
		if len(in) == 0 {
			continue // a replica with no row of this micro-batch
		}
		if drop != nil {
			drop.SetDropoutKey(uint64(r.step*c.GradAccum+k), lo*c.SeqLen)
		}
		w := share / float64(c.GradAccum)
		if total > 0 {
			// the mean over the step's trained tokens (TRL): each micro-batch
			// weighs by its share of them
			w = float64(counted(tg)) / float64(total)
			if w == 0 {
				continue
			}
		}
		l, err := r.m.ForwardBackward(ctx, in, tg, w)
		if err != nil {
			return 0, pos, fmt.Errorf("train: step %d: %w", r.step+1, err)
		}
		loss += l * w
	}
	if r.allReduce != nil {
		// before any check, so that every replica sees the same sums and
		// decides alike
		var err error
		if loss, err = r.allReduce(ctx, loss, r.params); err != nil {
			return 0, pos, fmt.Errorf("train: step %d: %w", r.step+1, err)
		}
	}
	return loss, pos, nil
}

// checkMeasured returns the error of a loss or gradient norm that condemns
// the current parameters (see Step), after undoing the update that
// produced them when it can.
func (r *Run[T]) checkMeasured(loss, norm float64) error {
	switch {
	case bad(loss) || bad(norm):
		return r.measuredBad(ErrNonFinite, fmt.Sprintf("loss %.5g, gradient norm %.5g", loss, norm))
	case norm == 0 && loss > ZeroGradLoss:
		return r.measuredBad(ErrDiverged, fmt.Sprintf("a gradient of exactly 0 at loss %.5g (float32 overflow)", loss))
	}
	return nil
}

// update clips the gradients and applies the optimizer at the scheduled
// learning rate, which it returns. The state before it is kept in r.before:
// a finite gradient can still overflow the weights (an absurd learning
// rate), and such an update is undone — now, or by the next step if these
// parameters measure a bad loss.
func (r *Run[T]) update(ctx context.Context) (float64, error) {
	if r.cfg.ClipNorm > 0 {
		nn.ClipGradNorm(r.params, r.cfg.ClipNorm)
	}
	lr := r.cfg.LRAt(r.step)
	r.opt.SetLR(lr)
	r.before.save(r.params, r.opt, r.pos)
	r.canUndo = false // r.before no longer holds the state before step r.step's update
	if err := r.opt.Step(ctx, r.params); err != nil {
		r.before.restore(r.params, r.opt)
		return 0, fmt.Errorf("train: step %d: %w", r.step+1, err)
	}
	if p := firstNonFinite(r.params); p != "" {
		r.before.restore(r.params, r.opt)
		return 0, fmt.Errorf("%w: step %d: update made %q non-finite at learning rate %g; undone, the run stays at step %d",
			ErrNonFinite, r.step+1, p, lr, r.step)
	}
	r.canUndo = true
	return lr, nil
}

// evaluateIfDue evaluates after the step just done when the schedule says
// so (NaN otherwise). A non-finite held-out loss undoes that step.
func (r *Run[T]) evaluateIfDue(ctx context.Context) (float64, error) {
	c := r.cfg
	if r.data.EvalWindows() == 0 || (r.step != c.Steps && (c.EvalEvery <= 0 || r.step%c.EvalEvery != 0)) {
		return math.NaN(), nil
	}
	start := time.Now()
	ev, err := r.Evaluate(ctx)
	if err != nil {
		return 0, err
	}
	if bad(ev) {
		s := r.step
		r.rollback()
		return 0, fmt.Errorf("%w: step %d: held-out loss %g after its update; undone, back at step %d", ErrNonFinite, s, ev, r.step)
	}
	r.evals = append(r.evals, EvalPoint{Step: r.step, Loss: ev})
	r.evalTime += time.Since(start)
	return ev, nil
}

// ZeroGradLoss is the loss (nats/token) at or below which a gradient of
// exactly 0 means a fully learned batch rather than divergence (see Step).
const ZeroGradLoss = 1e-6

// measuredBad returns the error (wrapping sentinel) of a step that measured
// what on the current parameters, after undoing the update that produced
// them when it can (rollback).
func (r *Run[T]) measuredBad(sentinel error, what string) error {
	s, on := r.step+1, r.step
	switch {
	case on == 0:
		return fmt.Errorf("%w: step %d measured %s on the initial parameters", sentinel, s, what)
	case !r.rollback():
		// restored from a checkpoint of step on, or already went back
		return fmt.Errorf("%w: step %d measured %s after step %d; parameters kept from step %d (the state before its update is not kept)",
			sentinel, s, what, on, on)
	}
	return fmt.Errorf("%w: step %d measured %s after step %d; its update was undone, back at step %d", sentinel, s, what, on, r.step)
}

// rollback undoes the last step done — its update, the optimizer's moments
// and step count, the data position, the token count, its loss and its
// evaluation — when its state was kept, and reports whether it did. The run
// is then exactly as after the step before (Elapsed excepted), so a
// Checkpoint written next resumes from there.
func (r *Run[T]) rollback() bool {
	if !r.canUndo || r.step == 0 || len(r.losses) == 0 {
		return false
	}
	r.pos = r.before.restore(r.params, r.opt)
	r.canUndo = false
	r.step--
	r.tokens -= r.stepTokens()
	r.losses = r.losses[:len(r.losses)-1]
	if n := len(r.evals); n > 0 && r.evals[n-1].Step > r.step {
		r.evals = r.evals[:n-1]
	}
	return true
}

// stepTokens is the number of training tokens of one step.
func (r *Run[T]) stepTokens() int64 {
	c := r.cfg
	return int64(c.GradAccum * c.Batch * c.SeqLen)
}

// progress builds the event of the step just done.
func (r *Run[T]) progress(loss, ev, lr, norm float64) Progress {
	c := r.cfg
	p := Progress{Step: r.step, Steps: c.Steps, Loss: loss, EvalLoss: ev, LR: lr, GradNorm: norm,
		Tokens: r.tokens, Elapsed: r.elapsed,
		Epoch: float64(r.step*c.Batch*c.GradAccum) / float64(max(1, r.data.TrainWindows()))}
	p.EvalTime = r.evalTime
	if s := (r.session - r.evalTime).Seconds(); s > 0 {
		p.TokensPerSec = float64(r.sessionN*c.GradAccum*c.Batch*c.SeqLen) / s
	}
	if r.session > 0 {
		p.ETA = time.Duration(float64(r.session) / float64(r.sessionN) * float64(c.Steps-r.step))
	}
	return p
}

// Evaluate returns the mean loss over the first Config().EvalWindows
// held-out windows (NaN when there are none). It runs forward passes only,
// with training mode off (no dropout; see Dropout), and leaves gradients
// alone.
func (r *Run[T]) Evaluate(ctx context.Context) (float64, error) {
	n := min(r.data.EvalWindows(), r.cfg.EvalWindows)
	if n == 0 {
		return math.NaN(), nil
	}
	if drop, ok := r.m.(Dropout); ok {
		drop.SetTraining(false)
	}
	var sum, weight float64
	for i := 0; i < n; {
		rows := min(len(r.in), n-i)
		k := r.data.evalBatch(i, r.in[:rows], r.tg[:rows])
		l, err := r.m.Loss(ctx, r.in[:k], r.tg[:k])
		if err != nil {
			return 0, fmt.Errorf("train: eval: %w", err)
		}
		w := float64(k)
		if r.data.starts != nil {
			w = float64(counted(r.tg[:k])) // the mean over trained tokens
		}
		sum += l * w
		weight += w
		i += k
	}
	if weight == 0 {
		return math.NaN(), nil
	}
	return sum / weight, nil
}

// gradNorm returns the global L2 norm of the gradients.
func gradNorm[T tensor.Numeric](ps []*nn.Parameter[T]) float64 {
	var sq float64
	for _, p := range ps {
		if p.Grad != nil {
			sq += tensor.SumSq(p.Grad.Data())
		}
	}
	return math.Sqrt(sq)
}

func bad(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }

// firstNonFinite names the first parameter holding a NaN or an infinity.
func firstNonFinite[T tensor.Numeric](params []*nn.Parameter[T]) string {
	for _, p := range params {
		for _, v := range p.Value.Data() {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return p.Name
			}
		}
	}
	return ""
}
