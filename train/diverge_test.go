package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// decodeState decodes a checkpoint, with Elapsed (wall time) cleared.
func decodeState(t testing.TB, b []byte) state[float32] {
	t.Helper()
	s, err := readCheckpoint[float32](bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	s.Elapsed = 0
	return *s
}

func checkpointBytes(t testing.TB, r *Run[float32]) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.Checkpoint(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sameLosses(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d losses %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: step %d loss %v, want %v", what, i+1, got[i], want[i])
		}
	}
}

// TestNonFiniteRollsBackTheUpdateBefore: step 3's learning rate keeps every
// weight finite but sends step 4's loss to NaN. Step 4 must fail with
// ErrNonFinite and take the run back to step 2 — parameters, optimizer,
// data position, counters and losses exactly as a checkpoint of step 2 —
// and the run, or a run resumed from a checkpoint written then, must go on
// with exactly the losses of a run that never diverged.
func TestNonFiniteRollsBackTheUpdateBefore(t *testing.T) {
	ctx := context.Background()
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := Config{SeqLen: 16, Batch: 2, Steps: 6, LR: 1e-3, Warmup: -1, EvalFraction: -1, Seed: 1}
	ref, _ := runLosses(t, cfg)

	r, err := New[float32](fullModel(t, 7), toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := r.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	atStep2 := checkpointBytes(t, r)
	good := r.cfg
	r.cfg.LR, r.cfg.MinLR = 1e20, 1e20
	if _, err := r.Step(ctx); err != nil {
		t.Fatalf("step 3 (finite update): %v", err)
	}
	if p := firstNonFinite(r.params); p != "" {
		t.Fatalf("step 3 made %s non-finite; the test wants a finite update", p)
	}
	_, err = r.Step(ctx)
	if !errors.Is(err, ErrNonFinite) || errors.Is(err, ErrDiverged) {
		t.Fatalf("step 4: err %v, want ErrNonFinite", err)
	}
	for _, s := range []string{"step 4 measured loss NaN", "after step 3", "back at step 2"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if r.StepsDone() != 2 || len(r.Losses()) != 2 || r.tokens != 2*2*16 {
		t.Fatalf("after the roll-back: steps done %d, losses %v, tokens %d; want step 2", r.StepsDone(), r.Losses(), r.tokens)
	}
	after := checkpointBytes(t, r)
	if want, got := decodeState(t, atStep2), decodeState(t, after); !reflect.DeepEqual(want, got) {
		t.Fatalf("the checkpoint after the roll-back differs from the one of step 2:\n got step %d pos %+v opt %d\nwant step %d pos %+v opt %d",
			got.Step, got.Pos, got.OptStep, want.Step, want.Pos, want.OptStep)
	}

	// the run itself goes on with a sane learning rate as if nothing happened
	r.cfg = good
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	sameLosses(t, "rolled-back run", r.Losses(), ref)
	// and so does a run resumed from the checkpoint written after the roll-back
	r2, _ := New[float32](fullModel(t, 7), toks, cfg)
	if err := r2.Restore(bytes.NewReader(after)); err != nil {
		t.Fatal(err)
	}
	if err := r2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	sameLosses(t, "resumed run", r2.Losses(), ref)
}

// divergingLoRA is a LoRA run whose scale (alpha 1e6 on rank 1) and
// learning rate overflow the float32 activations at step 2's update: RMSNorm
// then outputs 0, the loss sticks at ln V and every gradient is exactly 0.
func divergingLoRA(t *testing.T) *Run[float32] {
	t.Helper()
	m := llama.NewRandom[float32](tinyConfig(), 11)
	if err := lora.InjectLoRA[float32](m, 1, 1e6, allLinear, m.Engine(), lora.WithSeed(5)); err != nil {
		t.Fatal(err)
	}
	r, err := New[float32](m, Tokenize(byteTokenizer(t), sampleText), Config{SeqLen: 16, Batch: 2, Steps: 10, LR: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSilentDivergenceStops: a finite loss with an all-zero gradient after
// training began is an error wrapping ErrDiverged, and the run goes back to
// the step before the update that overflowed.
func TestSilentDivergenceStops(t *testing.T) {
	ctx := context.Background()
	r := divergingLoRA(t)
	var (
		atStep1 []byte
		err     error
		p       Progress
	)
	for i := 1; i <= 10; i++ {
		if p, err = r.Step(ctx); err != nil {
			break
		}
		if p.GradNorm == 0 {
			t.Fatalf("step %d reported a zero gradient at loss %g without an error", p.Step, p.Loss)
		}
		if i == 1 {
			atStep1 = checkpointBytes(t, r)
		}
	}
	if !errors.Is(err, ErrDiverged) || errors.Is(err, ErrNonFinite) {
		t.Fatalf("err %v, want ErrDiverged", err)
	}
	for _, s := range []string{"step 3 measured a gradient of exactly 0", "after step 2", "back at step 1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if r.StepsDone() != 1 {
		t.Fatalf("steps done %d after divergence, want 1", r.StepsDone())
	}
	if want, got := decodeState(t, atStep1), decodeState(t, checkpointBytes(t, r)); !reflect.DeepEqual(want, got) {
		t.Fatal("the state after the roll-back differs from the one of step 1")
	}
}

// TestNoUndoAfterRestore: a run restored from a checkpoint does not hold
// the state before the checkpoint's last update; a bad first step leaves it
// at the checkpoint's step and says so.
func TestNoUndoAfterRestore(t *testing.T) {
	ctx := context.Background()
	r := divergingLoRA(t)
	for i := 0; i < 2; i++ {
		if _, err := r.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r2 := divergingLoRA(t)
	if err := r2.Restore(bytes.NewReader(checkpointBytes(t, r))); err != nil {
		t.Fatal(err)
	}
	before := paramValues(r2)
	_, err := r2.Step(ctx)
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "parameters kept from step 2") {
		t.Fatalf("err %v, want ErrDiverged keeping step 2", err)
	}
	if r2.StepsDone() != 2 {
		t.Fatalf("steps done %d, want 2", r2.StepsDone())
	}
	for i, s := range paramValues(r2) {
		if !sameBits(before[i], s) {
			t.Fatalf("parameter %d changed", i)
		}
	}
}

// TestNonFiniteEvalUndoesTheUpdate: an update after which the held-out loss
// is not finite is undone at once (the last step of a run has no next step
// to notice).
func TestNonFiniteEvalUndoesTheUpdate(t *testing.T) {
	ctx := context.Background()
	m := &evalNaN{Model: fullModel(t, 7)}
	r, err := New[float32](m, Tokenize(byteTokenizer(t), sampleText), Config{SeqLen: 16, Batch: 2, Steps: 3, EvalEvery: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := r.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	atStep2 := checkpointBytes(t, r)
	m.nan = true
	_, err = r.Step(ctx)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "held-out loss NaN") || !strings.Contains(err.Error(), "back at step 2") {
		t.Fatalf("err %v, want ErrNonFinite going back to step 2", err)
	}
	if r.Done() || r.StepsDone() != 2 || len(r.EvalLosses()) != 2 {
		t.Fatalf("steps done %d, evals %v; want step 2", r.StepsDone(), r.EvalLosses())
	}
	if want, got := decodeState(t, atStep2), decodeState(t, checkpointBytes(t, r)); !reflect.DeepEqual(want, got) {
		t.Fatal("the state after the undone step differs from the one of step 2")
	}
}

// evalNaN is a model whose held-out loss is NaN once nan is set.
type evalNaN struct {
	*llama.Model[float32]
	nan bool
}

func (m *evalNaN) Loss(ctx context.Context, tokens, targets [][]int) (float64, error) {
	if m.nan {
		return math.NaN(), nil
	}
	return m.Model.Loss(ctx, tokens, targets)
}

// constModel reports a fixed loss and leaves its gradient at 0.
type constModel struct {
	loss float64
	p    []*nn.Parameter[float32]
}

func newConstModel(loss float64) *constModel {
	return &constModel{loss: loss, p: []*nn.Parameter[float32]{nn.NewParameter("w", tensor.Zeros[float32](4), true)}}
}

func (m *constModel) ForwardBackward(context.Context, [][]int, [][]int, float64) (float64, error) {
	return m.loss, nil
}
func (m *constModel) Loss(context.Context, [][]int, [][]int) (float64, error) { return m.loss, nil }
func (m *constModel) Parameters() []*nn.Parameter[float32]                    { return m.p }

// TestZeroGradientAtZeroLossIsNotDivergence: a gradient of exactly 0 is
// divergence only above ZeroGradLoss (a batch learned to the last bit has
// nothing left to give); above it, even the first step fails.
func TestZeroGradientAtZeroLossIsNotDivergence(t *testing.T) {
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := Config{SeqLen: 16, Batch: 2, Steps: 3, Seed: 1}
	r, err := New[float32](newConstModel(0), toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("zero loss, zero gradient: %v", err)
	}
	r, _ = New[float32](newConstModel(2.5), toks, cfg)
	_, err = r.Step(context.Background())
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "initial parameters") || r.StepsDone() != 0 {
		t.Fatalf("loss 2.5, zero gradient: err %v, steps done %d", err, r.StepsDone())
	}
}
