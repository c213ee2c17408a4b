package train

import (
	"context"
	"testing"
)

// TestEvalSchedule: the default schedule keeps evaluation within its budget
// (Steps·Batch·GradAccum/5 evaluated windows in all, at least one at the
// last step, at most 10 evaluations of at most 32 windows), and what is
// set explicitly is kept.
func TestEvalSchedule(t *testing.T) {
	for _, tc := range []struct {
		steps, batch, accum, heldOut, every, windows int // Config and the dataset's held-out windows
		wantEvery, wantWindows, wantEvals            int
	}{
		// the case: 3 steps of batch 1 evaluated 32 windows every step
		{steps: 3, batch: 1, accum: 1, heldOut: 32, wantEvery: 3, wantWindows: 1, wantEvals: 1},
		{steps: 20, batch: 1, accum: 1, heldOut: 32, wantEvery: 20, wantWindows: 4, wantEvals: 1},
		{steps: 200, batch: 1, accum: 1, heldOut: 32, wantEvery: 40, wantWindows: 8, wantEvals: 5},
		{steps: 100, batch: 4, accum: 1, heldOut: 32, wantEvery: 10, wantWindows: 8, wantEvals: 10},
		{steps: 1000, batch: 4, accum: 1, heldOut: 32, wantEvery: 100, wantWindows: 32, wantEvals: 10},
		{steps: 1000, batch: 4, accum: 1, heldOut: 3, wantEvery: 100, wantWindows: 3, wantEvals: 10},
		{steps: 7, batch: 4, accum: 2, heldOut: 32, wantEvery: 7, wantWindows: 11, wantEvals: 1},
		{steps: 10, batch: 2, accum: 1, heldOut: 0, wantEvery: 10, wantWindows: 0, wantEvals: 1},
		// explicit settings are kept; what is left follows the budget
		{steps: 3, batch: 1, accum: 1, heldOut: 32, every: 1, wantEvery: 1, wantWindows: 1, wantEvals: 3},
		{steps: 100, batch: 4, accum: 1, heldOut: 32, every: 10, wantEvery: 10, wantWindows: 8, wantEvals: 10},
		{steps: 3, batch: 1, accum: 1, heldOut: 32, windows: 16, wantEvery: 3, wantWindows: 16, wantEvals: 1},
		{steps: 1000, batch: 4, accum: 1, heldOut: 32, windows: 4, wantEvery: 100, wantWindows: 4, wantEvals: 10},
		{steps: 30, batch: 1, accum: 1, heldOut: 32, every: 1, windows: 32, wantEvery: 1, wantWindows: 32, wantEvals: 30},
		{steps: 30, batch: 4, accum: 1, heldOut: 32, every: -1, wantEvery: -1, wantWindows: 24, wantEvals: 1},
	} {
		c := Config{Steps: tc.steps, Batch: tc.batch, GradAccum: tc.accum, EvalEvery: tc.every, EvalWindows: tc.windows}.fillEval(tc.heldOut)
		if c.EvalEvery != tc.wantEvery || c.EvalWindows != tc.wantWindows || evalCount(c.Steps, c.EvalEvery) != tc.wantEvals {
			t.Errorf("%+v: every %d, %d windows, %d evaluations; want %d, %d, %d", tc, c.EvalEvery, c.EvalWindows,
				evalCount(c.Steps, c.EvalEvery), tc.wantEvery, tc.wantWindows, tc.wantEvals)
		}
	}
	// the budget holds for every default schedule
	for steps := 1; steps <= 400; steps += 3 {
		for _, batch := range []int{1, 2, 4, 8} {
			c := Config{Steps: steps, Batch: batch, GradAccum: 1}.fillEval(maxHeldOut)
			evals := evalCount(steps, c.EvalEvery)
			total := evals * c.EvalWindows
			if budget := max(1, steps*batch/evalCostShare); total > budget || evals > maxEvals || c.EvalWindows < 1 || c.EvalWindows > maxHeldOut {
				t.Fatalf("steps %d batch %d: %d evaluations of %d windows, budget %d", steps, batch, evals, c.EvalWindows, budget)
			}
		}
	}
}

// evalCounter counts the held-out windows a run evaluates.
type evalCounter struct {
	*constModel
	calls, rows int
}

func (m *evalCounter) Loss(ctx context.Context, tokens, targets [][]int) (float64, error) {
	m.calls++
	m.rows += len(tokens)
	return m.constModel.Loss(ctx, tokens, targets)
}

// TestEvalScheduleInRun: a run evaluates when and as much as its Config
// says: 3 steps of batch 1 evaluate 1 window once, at the end (not 32
// windows every step); an explicit every-step schedule on 5 windows
// evaluates 5 windows at each of 3 steps. Progress reports an evaluation
// exactly at those steps.
func TestEvalScheduleInRun(t *testing.T) {
	toks := Tokenize(byteTokenizer(t), sampleText+sampleText+sampleText)
	for _, tc := range []struct {
		cfg           Config
		wantRows      int
		wantEvalSteps []int
	}{
		{Config{SeqLen: 8, Batch: 1, Steps: 3, LR: 1e-3, Seed: 1}, 1, []int{3}},
		{Config{SeqLen: 8, Batch: 1, Steps: 3, LR: 1e-3, Seed: 1, EvalEvery: 1, EvalWindows: 5}, 15, []int{1, 2, 3}},
	} {
		m := &evalCounter{constModel: newConstModel(0)} // loss 0, gradient 0: nothing to learn, no divergence
		r, err := New[float32](m, toks, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Data().EvalWindows() < 5 {
			t.Fatalf("only %d held-out windows", r.Data().EvalWindows())
		}
		var at []int
		r.OnProgress = func(p Progress) {
			if p.EvalLoss == p.EvalLoss { // not NaN
				at = append(at, p.Step)
			}
		}
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if m.rows != tc.wantRows || len(at) != len(tc.wantEvalSteps) || len(r.EvalLosses()) != len(at) {
			t.Fatalf("%+v: %d windows evaluated at steps %v, want %d at %v", tc.cfg, m.rows, at, tc.wantRows, tc.wantEvalSteps)
		}
		for i, s := range tc.wantEvalSteps {
			if at[i] != s {
				t.Fatalf("%+v: evaluated at steps %v, want %v", tc.cfg, at, tc.wantEvalSteps)
			}
		}
	}
}
