package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tokenizer"
)

// tinyConfig is a small llama over the byte SPM vocabulary.
func tinyConfig() llama.Config {
	return llama.Config{VocabSize: len(tokenizer.ByteVocab().Tokens), Dim: 16, Layers: 2, Heads: 2, KVHeads: 1,
		HeadDim: 8, FFN: 32, Eps: 1e-5, RopeBase: 10000, ContextLength: 64}
}

func byteTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.New(tokenizer.ByteVocab())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const sampleText = `Once upon a time, a little cat named Lily lived in a big house. She liked to play in
the garden with her friend Tom. They played with a red ball every day. One day the ball rolled
into the pond. Tom was sad, but Lily found a long stick and pulled the ball out. They laughed
and played until the sun went down. The end.`

// fullModel returns a NewRandom model with every weight trainable.
func fullModel(t testing.TB, seed uint64) *llama.Model[float32] {
	t.Helper()
	m := llama.NewRandom[float32](tinyConfig(), seed)
	if err := m.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWindows(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, seq, stride int
		want                []int
	}{
		{0, 10, 4, 4, []int{0, 4, 5}},
		{0, 9, 4, 4, []int{0, 4}},
		{0, 10, 4, 2, []int{0, 2, 4, 5}},
		{3, 8, 4, 4, []int{3}},
		{0, 4, 4, 4, nil},
	} {
		got := windows(tc.lo, tc.hi, tc.seq, tc.stride)
		if len(got) != len(tc.want) {
			t.Errorf("windows(%d,%d,%d,%d) = %v, want %v", tc.lo, tc.hi, tc.seq, tc.stride, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("windows(%d,%d,%d,%d) = %v, want %v", tc.lo, tc.hi, tc.seq, tc.stride, got, tc.want)
			}
		}
	}
}

func TestDatasetSplitAndShortText(t *testing.T) {
	toks := make([]int, 100)
	for i := range toks {
		toks[i] = i
	}
	c := Config{SeqLen: 8, EvalFraction: 0.2}.withDefaults()
	d, seq, err := newDataset(storeOf(t, toks), c)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 8 || d.split != 80 || d.EvalWindows() != 3 || d.TrainWindows() != 10 {
		t.Fatalf("seq %d split %d eval %d train %d", seq, d.split, d.EvalWindows(), d.TrainWindows())
	}
	for _, s := range d.train {
		if s+seq+1 > d.split {
			t.Fatalf("training window at %d crosses the held-out split %d", s, d.split)
		}
	}
	// a stream shorter than a window shrinks it and holds nothing out
	d, seq, err = newDataset(storeOf(t, toks[:6]), Config{SeqLen: 64}.withDefaults())
	if err != nil || seq != 5 || d.TrainWindows() != 1 || d.EvalWindows() != 0 {
		t.Fatalf("short: seq %d, train %d, eval %d, err %v", seq, d.TrainWindows(), d.EvalWindows(), err)
	}
	if _, _, err := newDataset(storeOf(t, toks[:1]), c); !errors.Is(err, ErrConfig) {
		t.Fatalf("1 token: err %v, want ErrConfig", err)
	}
}

func TestLRSchedule(t *testing.T) {
	c := Config{LR: 1, MinLR: 0.1, Steps: 12, Warmup: 2}
	want := map[int]float64{0: 0.5, 1: 1, 2: 1, 11: 0.1, 20: 0.1}
	for s, w := range want {
		if got := c.LRAt(s); math.Abs(got-w) > 1e-12 {
			t.Errorf("LRAt(%d) = %g, want %g", s, got, w)
		}
	}
	// halfway through the decay: the mean of LR and MinLR
	c = Config{LR: 1, MinLR: 0, Steps: 11, Warmup: 0}
	if got := c.LRAt(5); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("LRAt(5) = %g, want 0.5", got)
	}
	for s := 1; s < 11; s++ {
		if c.LRAt(s) > c.LRAt(s-1) {
			t.Errorf("LR rises after warm-up at step %d", s)
		}
	}
}

// runLosses trains a fresh tiny model for steps steps and returns the losses.
func runLosses(t *testing.T, cfg Config) ([]float64, *Run[float32]) {
	t.Helper()
	m := fullModel(t, 7)
	r, err := New[float32](m, Tokenize(byteTokenizer(t), sampleText), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r.Losses(), r
}

func TestGoldenFirstLosses(t *testing.T) {
	losses, r := runLosses(t, Config{SeqLen: 16, Batch: 2, GradAccum: 2, Steps: 5, LR: 3e-3, Warmup: 2, Seed: 1})
	// Golden values of this seeded run (float32, native amd64); other
	// platforms differ in the last bits of BLAS sums only.
	golden := []float64{5.82515, 5.76910, 5.76664, 5.62210, 5.56911}
	for i, g := range golden {
		if math.Abs(losses[i]-g) > 2e-4 {
			t.Errorf("loss[%d] = %.5f, want %.5f (all: %v)", i, losses[i], g, losses)
		}
	}
	// the first loss of an untrained model is about ln(V)
	if l0 := losses[0]; math.Abs(l0-math.Log(float64(tinyConfig().VocabSize))) > 1 {
		t.Errorf("first loss %g far from ln V", l0)
	}
	if ev := r.EvalLosses(); len(ev) == 0 || ev[len(ev)-1].Step != 5 || bad(ev[len(ev)-1].Loss) {
		t.Errorf("eval losses %v: want one at the last step", ev)
	}
}

func TestMemorise(t *testing.T) {
	text := "the cat sat on the mat. the dog sat on the log."
	m := fullModel(t, 3)
	r, err := New[float32](m, Tokenize(byteTokenizer(t), text), Config{SeqLen: 64, Batch: 1, Steps: 150,
		LR: 1e-2, MinLR: 1e-3, Warmup: 5, EvalFraction: -1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ls := r.Losses()
	if last := ls[len(ls)-1]; last >= 0.1 {
		t.Fatalf("final loss %.4f nats/token, want < 0.1 (first %.3f)", last, ls[0])
	}
}

func TestResumeGivesSameLosses(t *testing.T) {
	cfg := Config{SeqLen: 16, Stride: 8, Batch: 2, GradAccum: 2, Steps: 8, LR: 5e-3, Warmup: 2, EvalEvery: 3, Seed: 9}
	full, fr := runLosses(t, cfg)

	toks := Tokenize(byteTokenizer(t), sampleText)
	m1 := fullModel(t, 7)
	r1, err := New[float32](m1, toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := r1.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var ck bytes.Buffer
	if err := r1.Checkpoint(&ck); err != nil {
		t.Fatal(err)
	}
	m2 := fullModel(t, 7) // the base rebuilt from scratch
	r2, err := New[float32](m2, toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Restore(bytes.NewReader(ck.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := r2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := r2.Losses()
	if len(got) != len(full) {
		t.Fatalf("resumed run has %d losses, want %d", len(got), len(full))
	}
	for i := range full {
		if got[i] != full[i] {
			t.Errorf("step %d: resumed loss %v, uninterrupted %v", i+1, got[i], full[i])
		}
	}
	fe, ge := fr.EvalLosses(), r2.EvalLosses()
	if len(fe) != len(ge) {
		t.Fatalf("eval points %v vs %v", ge, fe)
	}
	for i := range fe {
		if fe[i] != ge[i] {
			t.Errorf("eval %d: resumed %v, uninterrupted %v", i, ge[i], fe[i])
		}
	}
}

func TestRestoreRefusesOtherRun(t *testing.T) {
	toks := Tokenize(byteTokenizer(t), sampleText)
	cfg := Config{SeqLen: 16, Batch: 2, Steps: 3, Seed: 1}
	r1, err := New[float32](fullModel(t, 1), toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ck bytes.Buffer
	if err := r1.Checkpoint(&ck); err != nil {
		t.Fatal(err)
	}
	for name, mk := range map[string]func() (*Run[float32], error){
		"other data":  func() (*Run[float32], error) { return New[float32](fullModel(t, 1), toks[1:], cfg) },
		"other batch": func() (*Run[float32], error) { c := cfg; c.Batch = 3; return New[float32](fullModel(t, 1), toks, c) },
		"other seed":  func() (*Run[float32], error) { c := cfg; c.Seed = 2; return New[float32](fullModel(t, 1), toks, c) },
	} {
		r, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(bytes.NewReader(ck.Bytes())); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: err %v, want ErrCheckpoint", name, err)
		}
	}
	r, _ := New[float32](fullModel(t, 1), toks, cfg)
	if err := r.Restore(bytes.NewReader([]byte("garbage"))); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("garbage: err %v, want ErrCheckpoint", err)
	}
}

// TestNonFiniteStopsAndGoesBack: a NaN loss condemns the parameters it was
// measured on, so the update that made them is undone too: after step 1 a
// poisoned embedding makes step 2 fail, and the run is back at step 0 with
// the initial parameters (the poisoned row is trainable, so restored too).
func TestNonFiniteStopsAndGoesBack(t *testing.T) {
	m := fullModel(t, 4)
	r, err := New[float32](m, Tokenize(byteTokenizer(t), sampleText), Config{SeqLen: 16, Batch: 2, Steps: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := paramValues(r)
	if _, err := r.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	// poison one embedding row that every batch uses (the BOS row)
	emb := m.TokenEmbd.Value.Data()
	C := tinyConfig().Dim
	for i := 0; i < C; i++ {
		emb[1*C+i] = float32(math.Inf(1))
	}
	_, err = r.Step(context.Background())
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err %v, want ErrNonFinite", err)
	}
	if r.StepsDone() != 0 || len(r.Losses()) != 0 {
		t.Fatalf("steps done %d, losses %v after the failed step, want 0", r.StepsDone(), r.Losses())
	}
	if step, ms := r.opt.State(); step != 0 || len(ms) != 0 {
		t.Fatalf("optimizer at step %d with %d moments, want the initial state", step, len(ms))
	}
	after := paramValues(r)
	for i := range before {
		if !sameBits(before[i], after[i]) {
			t.Fatalf("parameter %d is not back to its initial value", i)
		}
	}
}

func TestCancelLeavesRunUnchanged(t *testing.T) {
	r, err := New[float32](fullModel(t, 4), Tokenize(byteTokenizer(t), sampleText), Config{SeqLen: 16, Batch: 2, Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Step(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if r.StepsDone() != 0 {
		t.Fatal("a cancelled step counted")
	}
	var events []Progress
	r.OnProgress = func(p Progress) { events = append(events, p) }
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[2].Step != 3 || events[2].Steps != 3 || events[2].Tokens != 3*2*16 {
		t.Fatalf("events %+v", events)
	}
	if _, err := r.Step(context.Background()); !errors.Is(err, ErrDone) {
		t.Fatalf("after the end: %v, want ErrDone", err)
	}
}

func paramValues(r *Run[float32]) [][]float32 {
	var s [][]float32
	for _, p := range r.params {
		s = append(s, append([]float32(nil), p.Value.Data()...))
	}
	return s
}

func sameBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestOverflowingUpdateIsUndone: a finite loss and gradient with an absurd
// learning rate push weights to ±Inf. The step must fail with ErrNonFinite
// and leave parameters and optimizer state exactly as after the last good step.
func TestOverflowingUpdateIsUndone(t *testing.T) {
	m := fullModel(t, 4)
	r, err := New[float32](m, Tokenize(byteTokenizer(t), sampleText), Config{SeqLen: 16, Batch: 2, Steps: 5, Seed: 1, LR: 1e-3, ClipNorm: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := paramValues(r)
	optStep, optBefore := r.opt.State()
	r.cfg.LR, r.cfg.MinLR = 1e300, 1e300
	_, err = r.Step(context.Background())
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err %v, want ErrNonFinite", err)
	}
	if r.StepsDone() != 1 {
		t.Fatalf("steps done %d after the failed step, want 1", r.StepsDone())
	}
	after := paramValues(r)
	for i := range before {
		if !sameBits(before[i], after[i]) {
			t.Fatalf("parameter %d changed by the undone update", i)
		}
	}
	step, optAfter := r.opt.State()
	if step != optStep || len(optAfter) != len(optBefore) {
		t.Fatalf("optimizer state changed: step %d→%d, %d→%d entries", optStep, step, len(optBefore), len(optAfter))
	}
	for name, mv := range optBefore {
		for k := 0; k < 2; k++ {
			if !sameBits(mv[k], optAfter[name][k]) {
				t.Fatalf("moment %d of %s changed by the undone update", k, name)
			}
		}
	}
}
