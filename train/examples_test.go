package train

import (
	"context"
	"math"
	"testing"

	"github.com/webtune/webtune/llama"
)

// exampleSet returns 6 examples of varied lengths whose middle tokens are
// trained; tail replaces the untrained tokens after the trained ones and
// trainTail marks them trained.
func exampleSet(tail int, trainTail bool) []Example {
	var out []Example
	for e := range 6 {
		n := 10 + 3*e
		ex := Example{Tokens: make([]int, n), Trained: make([]bool, n)}
		for i := range n {
			ex.Tokens[i] = 3 + (e*7+i*5)%250
			ex.Trained[i] = i >= 4 && i < n-3
			if i >= n-3 {
				ex.Tokens[i] = 3 + (tail+i)%250
				ex.Trained[i] = trainTail
			}
		}
		out = append(out, ex)
	}
	return out
}

func oneStep(t *testing.T, ex []Example, steps int) (*Run[float32], *llama.Model[float32]) {
	t.Helper()
	m := fullModel(t, 5)
	r, err := NewExamples[float32](m, ex, Config{Steps: steps, Batch: 2, GradAccum: 2, SeqLen: 32, LR: 1e-2, Seed: 3, EvalFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range steps {
		if _, err := r.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return r, m
}

// TestExamplesUntrainedTokensGiveNoGradient: changing tokens that are not
// trained and come after every trained token (a last user turn) leaves the
// gradients, so the parameters after three steps, bit for bit the same;
// marking them trained changes them.
func TestExamplesUntrainedTokensGiveNoGradient(t *testing.T) {
	_, a := oneStep(t, exampleSet(1, false), 3)
	_, b := oneStep(t, exampleSet(99, false), 3)
	_, c := oneStep(t, exampleSet(99, true), 3)
	pa, pb, pc := a.Parameters(), b.Parameters(), c.Parameters()
	differs := false
	for i := range pa {
		x, y, z := pa[i].Value.Data(), pb[i].Value.Data(), pc[i].Value.Data()
		for k := range x {
			if x[k] != y[k] {
				t.Fatalf("%s[%d]: %g vs %g: an untrained token moved the parameters", pa[i].Name, k, x[k], y[k])
			}
			differs = differs || x[k] != z[k]
		}
	}
	if !differs {
		t.Error("training the tail changed nothing: the test cannot see a leak")
	}
}

// TestExamplesLossIsMeanOverTrainedTokens: a step's loss is the sum of the
// trained tokens' cross-entropies over the step's batch divided by their
// count (TRL), not the mean of per-window means.
func TestExamplesLossIsMeanOverTrainedTokens(t *testing.T) {
	ex := exampleSet(1, false)
	m := fullModel(t, 5)
	r, err := NewExamples[float32](m, ex, Config{Steps: 1, Batch: 2, GradAccum: 2, SeqLen: 32, LR: 1e-9, Seed: 3, EvalFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	// the windows of the first step's two micro-batches, as the run draws them
	d := r.Data()
	in, tg := matrix(4, d.seqLen), matrix(4, d.seqLen)
	d.batch(d.batch(cursor{}, in[:2], tg[:2]), in[2:], tg[2:])
	var sum float64
	count := 0
	for b := range in {
		for j, target := range tg[b] {
			if target < 0 {
				continue
			}
			one := matrix(1, d.seqLen)
			for k := range one[0] {
				one[0][k] = -1
			}
			one[0][j] = target
			l, err := m.Loss(context.Background(), in[b:b+1], one)
			if err != nil {
				t.Fatal(err)
			}
			sum += l
			count++
		}
	}
	p, err := r.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := sum / float64(count); math.Abs(p.Loss-want) > 1e-5*want {
		t.Errorf("step loss %.7f, mean over the %d trained tokens %.7f", p.Loss, count, want)
	}
}

// TestExamplesHeldOutByExample: held-out data are whole examples.
func TestExamplesHeldOutByExample(t *testing.T) {
	r, err := NewExamples[float32](fullModel(t, 5), exampleSet(1, false), Config{Steps: 1, Batch: 2, SeqLen: 32, EvalFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Data()
	if d.TrainWindows() != 5 || d.EvalWindows() != 1 || d.eval[0] != 5 {
		t.Errorf("%d training and %d held-out examples (%v)", d.TrainWindows(), d.EvalWindows(), d.eval)
	}
	if _, err := NewExamples[float32](fullModel(t, 5), []Example{{Tokens: []int{1, 2}, Trained: []bool{false, false}}}, Config{}); err == nil {
		t.Error("examples without a trained token accepted")
	}
}
