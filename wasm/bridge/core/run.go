package core

import (
	"context"
	"errors"
	"math"
	"sync"

	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/train"
)

// TrainOptions configure Model.Train. Zero fields take train.Config's
// defaults, except those listed.
type TrainOptions struct {
	Text         string  `js:"text" json:"text"`                 // Text is the training text.
	Steps        int     `js:"steps" json:"steps"`               // Steps (default: one epoch).
	LR           float64 `js:"lr" json:"lr"`                     // LR is the peak learning rate (default 1e-3).
	Batch        int     `js:"batch" json:"batch"`               // Batch is windows per step (default 4).
	GradAccum    int     `js:"gradAccum" json:"gradAccum"`       // GradAccum is micro-batches per step (default 1).
	SeqLen       int     `js:"seqLen" json:"seqLen"`             // SeqLen is tokens per window (default 128).
	Stride       int     `js:"stride" json:"stride"`             // Stride between windows (default SeqLen).
	EvalFraction float64 `js:"evalFraction" json:"evalFraction"` // EvalFraction held out (default 0.1; negative: none).
	EvalEvery    int     `js:"evalEvery" json:"evalEvery"`       // EvalEvery steps (default: evaluation within ~10% of training; see train.Config).
	Warmup       int     `js:"warmup" json:"warmup"`             // Warmup steps (default Steps/20).
	Seed         uint64  `js:"seed" json:"seed"`                 // Seed of the data order.
	// Format of Text: "auto" (default), "text", "messages",
	// "prompt-completion" or "alpaca" (package data).
	Format string `js:"format" json:"format"`
	// ChatTemplate overrides the model's chat template (Jinja text).
	ChatTemplate string `js:"chatTemplate" json:"chatTemplate"`
	// TrainOn is "assistant" (default: only assistant turns) or "all".
	TrainOn string `js:"trainOn" json:"trainOn"`
	// Resume continues the run that Restore re-created (or a paused or
	// stopped one) instead of starting a new one; the other fields are
	// then ignored.
	Resume bool `js:"resume" json:"resume"`
}

// config returns the train.Config of o.
func (o TrainOptions) config() train.Config {
	return train.Config{Steps: o.Steps, LR: o.LR, Batch: o.Batch, GradAccum: o.GradAccum, SeqLen: o.SeqLen,
		Stride: o.Stride, EvalFraction: o.EvalFraction, EvalEvery: o.EvalEvery, Warmup: o.Warmup, Seed: o.Seed}
}

// State is a run's state, as the page shows it.
type State string

// The states of a run.
const (
	StateReady    State = "ready"    // created or restored, not stepping yet
	StateTraining State = "training" // stepping
	StatePaused   State = "paused"   // waiting for Resume
	StateDone     State = "done"     // every step done
	StateStopped  State = "stopped"  // Stop was called; the adapter holds the last step
	StateError    State = "error"    // a step failed (NaN loss, out of memory); the adapter holds the last good step
)

// Progress is one step's report, in units a page shows.
type Progress struct {
	Step         int      `js:"step" json:"step"`
	Steps        int      `js:"steps" json:"steps"`
	Loss         float64  `js:"loss" json:"loss"`
	EvalLoss     *float64 `js:"evalLoss" json:"evalLoss"` // nil when not evaluated at this step
	LR           float64  `js:"lr" json:"lr"`
	GradNorm     float64  `js:"gradNorm" json:"gradNorm"`
	Tokens       int64    `js:"tokens" json:"tokens"`
	TokensPerSec float64  `js:"tokensPerSec" json:"tokensPerSec"` // training throughput, evaluations excluded
	EvalSec      float64  `js:"evalSec" json:"evalSec"`           // time spent evaluating in this session
	ElapsedSec   float64  `js:"elapsedSec" json:"elapsedSec"`
	EtaSec       float64  `js:"etaSec" json:"etaSec"`
	Epoch        float64  `js:"epoch" json:"epoch"`
}

func progressOf(p train.Progress) Progress {
	out := Progress{Step: p.Step, Steps: p.Steps, Loss: p.Loss, LR: p.LR, GradNorm: p.GradNorm, Tokens: p.Tokens,
		TokensPerSec: p.TokensPerSec, EvalSec: p.EvalTime.Seconds(), ElapsedSec: p.Elapsed.Seconds(), EtaSec: p.ETA.Seconds(), Epoch: p.Epoch}
	if !math.IsNaN(p.EvalLoss) {
		ev := p.EvalLoss
		out.EvalLoss = &ev
	}
	return out
}

// Run is a training run of a Model with pause, resume and stop.
type Run struct {
	m    *Model
	r    *train.Run[float32]
	opts TrainOptions

	mu          sync.Mutex
	wake        chan struct{} // closed and replaced to wake a paused Loop
	state       State
	err         error
	pause, stop bool
	last        *Progress
	gpu         bool // gpu: the steps run whole on the GPU (wasm/gpu.StepModel)
}

// OnGPU reports whether the run's steps run whole on the GPU: such a run
// trains on one worker (CPU replicas would only hold it back).
func (r *Run) OnGPU() bool { return r.gpu }

// Train prepares a run on o.Text (injecting the default LoRA first if none
// is injected); Loop then steps it. With o.Resume it returns the current
// run when it is not finished.
func (m *Model) Train(o TrainOptions) (*Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o.Resume {
		if m.run == nil || m.run.State() == StateDone {
			return nil, errors.New("webtune: there is no run to resume")
		}
		return m.run, nil
	}
	if err := m.idle(); err != nil {
		return nil, err
	}
	if m.run != nil {
		m.run.Stop()
	}
	r, err := m.newRun(o)
	if err != nil {
		return nil, err
	}
	m.run = r
	return r, nil
}

// Close stops the model's run, if any; the model is then left to the
// garbage collector by its caller.
func (m *Model) Close() {
	m.mu.Lock()
	r, g := m.run, m.gpu
	m.gpu = nil
	m.mu.Unlock()
	if r != nil {
		r.Stop()
	}
	if g != nil {
		g.Close()
	}
}

// newRun builds a run with m.mu held.
func (m *Model) newRun(o TrainOptions) (*Run, error) {
	if m.tok == nil {
		return nil, ErrNoTokenizer
	}
	if m.lora == nil {
		if _, err := m.inject(LoRAOptions{}); err != nil {
			return nil, err
		}
	}
	tr, err := m.newTrainRun(o)
	if err != nil {
		return nil, err
	}
	return &Run{m: m, r: tr, opts: o, state: StateReady, wake: make(chan struct{}), gpu: m.gpu != nil}, nil
}

// SetReplica makes the run one of count data-parallel workers; see
// train.Run.SetReplica. Call it before Loop; SetReplica(0, 1, nil) makes
// the run train alone again.
func (r *Run) SetReplica(index, count int, allReduce train.AllReduce[float32]) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	return r.r.SetReplica(index, count, allReduce)
}

// TrainableFloats is the number of trainable values (the gradient floats
// data-parallel workers sum every step).
func (r *Run) TrainableFloats() int { return r.r.TrainableFloats() }

// Config returns the run's configuration with defaults filled in.
func (r *Run) Config() train.Config { return r.r.Config() }

// State returns the run's state.
func (r *Run) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Err returns the error that ended the run (StateError), or nil.
func (r *Run) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Pause asks Loop to wait after the current step.
func (r *Run) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == StateTraining || r.state == StateReady {
		r.pause = true
		r.state = StatePaused
	}
}

// Resume lets a paused Loop continue.
func (r *Run) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pause = false
	if r.state == StatePaused {
		r.state = StateTraining
	}
	close(r.wake)
	r.wake = make(chan struct{})
}

// Stop ends Loop after the current step; the model keeps the adapter of the
// last step done.
func (r *Run) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop = true
	if r.state == StateTraining || r.state == StatePaused || r.state == StateReady {
		r.state = StateStopped
	}
	close(r.wake)
	r.wake = make(chan struct{})
}

// Last returns the last progress report, or nil before the first step.
func (r *Run) Last() *Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Loop steps the run until it is done, stopped, ctx is cancelled or a step
// fails, calling onProgress (if not nil) after every step and yield (if not
// nil) between steps, and waiting while paused. Under GOOS=js the bridge
// passes a short sleep as yield, so that the JS event loop runs (messages
// such as pause arrive) between steps. It returns the final state and, for
// StateError, the error.
func (r *Run) Loop(ctx context.Context, onProgress func(Progress), yield func()) (State, error) {
	r.mu.Lock()
	r.state = StateTraining
	if r.pause {
		r.state = StatePaused
	}
	r.mu.Unlock()
	for {
		r.mu.Lock()
		for r.pause && !r.stop {
			wake := r.wake
			r.mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
				return r.finish(StateStopped, nil)
			}
			r.mu.Lock()
		}
		stop := r.stop
		r.state = StateTraining
		r.mu.Unlock()
		switch {
		case stop:
			return r.finish(StateStopped, nil)
		case ctx.Err() != nil:
			return r.finish(StateStopped, nil)
		case r.r.Done():
			return r.finish(StateDone, nil)
		}
		p, err := r.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return r.finish(StateStopped, nil)
			}
			return r.finish(StateError, err)
		}
		if onProgress != nil {
			onProgress(p)
		}
		if yield != nil {
			yield()
		}
	}
}

// step does one optimizer step with the model locked.
func (r *Run) step(ctx context.Context) (Progress, error) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	lora.SetTraining[float32](m.m, true)
	defer lora.SetTraining[float32](m.m, false)
	tp, err := r.r.Step(ctx)
	if err != nil {
		return Progress{}, err
	}
	p := progressOf(tp)
	r.mu.Lock()
	r.last = &p
	r.mu.Unlock()
	return p, nil
}

// finish records the final state; a later Loop (after Resume of a stopped
// run via Train{Resume}) may continue.
func (r *Run) finish(s State, err error) (State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state, r.err = s, err
	r.stop, r.pause = false, false
	return s, err
}

// History is the losses of a run so far.
type History struct {
	Step   int         `js:"step" json:"step"`
	Steps  int         `js:"steps" json:"steps"`
	Losses []float64   `js:"losses" json:"losses"` // training loss of steps 1..Step
	Evals  []EvalPoint `js:"evals" json:"evals"`
}

// EvalPoint is one held-out evaluation.
type EvalPoint struct {
	Step int     `js:"step" json:"step"`
	Loss float64 `js:"loss" json:"loss"`
}

// History returns the losses so far.
func (r *Run) History() History {
	h := History{Step: r.r.StepsDone(), Steps: r.r.Config().Steps, Losses: r.r.Losses()}
	for _, e := range r.r.EvalLosses() {
		h.Evals = append(h.Evals, EvalPoint{Step: e.Step, Loss: e.Loss})
	}
	return h
}

// TextStats describes how a text splits into training windows.
type TextStats struct {
	Tokens       int `js:"tokens" json:"tokens"`
	SeqLen       int `js:"seqLen" json:"seqLen"` // as used (shrunk for a short text)
	TrainWindows int `js:"trainWindows" json:"trainWindows"`
	EvalWindows  int `js:"evalWindows" json:"evalWindows"`
	// For conversational data (one example per window): the format, the
	// counts of examples, messages and trained tokens, examples cut at the
	// sequence length, which chat template rendered them, the summary line
	// and the first example.
	Format   string       `js:"format" json:"format"`
	Examples int          `js:"examples" json:"examples"`
	Turns    int          `js:"turns" json:"turns"`
	Trained  int          `js:"trained" json:"trained"`
	Cut      int          `js:"cut" json:"cut"`
	Template string       `js:"template" json:"template"`
	Summary  string       `js:"summary" json:"summary"`
	Preview  *ChatPreview `js:"preview" json:"preview"`
	// TokenizeMs is how long tokenizing plain text took, in milliseconds
	// (0 for conversational data).
	TokenizeMs float64 `js:"tokenizeMs" json:"tokenizeMs"`
}

// TextStats tokenizes text and counts the windows a run with o would make
// (the same split as package train).
func (m *Model) TextStats(text string, o TrainOptions) (TextStats, error) {
	if m.tok == nil {
		return TextStats{}, ErrNoTokenizer
	}
	stream, examples, sum, err := m.trainingData(text, o)
	if err != nil {
		return TextStats{}, err
	}
	if examples != nil {
		return m.chatStats(examples, sum, o), nil
	}
	n := stream.Len()
	c := o.config()
	if c.SeqLen == 0 {
		c.SeqLen = 128
	}
	if c.EvalFraction == 0 {
		c.EvalFraction = 0.1
	}
	s := TextStats{Tokens: n, TokenizeMs: float64(m.tokenizeTime().Microseconds()) / 1000}
	if n < 2 {
		return s, nil
	}
	split := n
	if c.EvalFraction > 0 {
		k := int(float64(n) * c.EvalFraction)
		if k >= c.SeqLen+1 && n-k >= c.SeqLen+1 {
			split = n - k
		}
	}
	s.SeqLen = min(c.SeqLen, split-1)
	stride := c.Stride
	if stride <= 0 {
		stride = c.SeqLen
	}
	s.TrainWindows = countWindows(0, split, s.SeqLen, min(stride, s.SeqLen))
	if split < n {
		s.EvalWindows = min(countWindows(split, n, s.SeqLen, s.SeqLen), 32)
	}
	return s, nil
}

// countWindows counts train's windows of seqLen+1 tokens in [lo, hi).
func countWindows(lo, hi, seqLen, stride int) int {
	last := hi - (seqLen + 1)
	if last < lo {
		return 0
	}
	n := (last-lo)/stride + 1
	if lo+(n-1)*stride < last {
		n++
	}
	return n
}
