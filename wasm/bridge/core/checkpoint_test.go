package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/webtune/webtune/train"
)

// stoppedAt trains smallRun on m and stops it after step.
func stoppedAt(t *testing.T, m *Model, o TrainOptions, step int) *Run {
	t.Helper()
	r, err := m.Train(withText(o))
	if err != nil {
		t.Fatal(err)
	}
	r.Loop(context.Background(), func(p Progress) {
		if p.Step == step {
			r.Stop()
		}
	}, nil)
	if r.History().Step != step {
		t.Fatalf("stopped at step %d, want %d", r.History().Step, step)
	}
	return r
}

// TestCorruptCheckpointRefused: one flipped bit anywhere in a page
// checkpoint (header, the run's state, the checksum) is refused with
// train.ErrCorrupt in plain words, and a fresh model stays as it was.
func TestCorruptCheckpointRefused(t *testing.T) {
	a := loadBuiltin(t, false)
	stoppedAt(t, a, smallRun, 2)
	ck, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	b := loadBuiltin(t, false)
	n := len(ck)
	for _, off := range []int{0, 7, 12, 20, n / 4, n / 2, 3 * n / 4, n - 40, n - 5, n - 4, n - 1} {
		bad := bytes.Clone(ck)
		bad[off] ^= 0x10
		_, err := b.Restore(bad)
		if !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("byte %d of %d flipped: err %v, want ErrCheckpoint", off, n, err)
		}
		if off >= len(checkpointMagic)+4 {
			if !errors.Is(err, train.ErrCorrupt) || !strings.Contains(Plain(err), "damaged") {
				t.Fatalf("byte %d of %d flipped: err %v (%q), want train.ErrCorrupt", off, n, err, Plain(err))
			}
		}
		if b.lora != nil || b.run != nil {
			t.Fatalf("byte %d flipped: the refused checkpoint changed the model", off)
		}
	}
	if _, err := b.Restore(ck); err != nil {
		t.Fatalf("the intact checkpoint: %v", err)
	}
}

// FuzzParseCheckpoint: the page checkpoint's framing (magic, version,
// header length, JSON header, checksum) never panics on arbitrary bytes,
// and whatever it refuses wraps ErrCheckpoint. Seeds: a run checkpoint and
// an adapter checkpoint of the built-in model.
func FuzzParseCheckpoint(f *testing.F) {
	m, err := LoadBuiltin(false)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := m.InjectLoRA(LoRAOptions{Rank: 2, Alpha: 4, Targets: []string{"attn_q"}}); err != nil {
		f.Fatal(err)
	}
	ck, err := m.Checkpoint()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ck)
	f.Add(ck[:len(ck)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		_, payload, err := parseCheckpoint(data)
		if err != nil && !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("err %v does not wrap ErrCheckpoint", err)
		}
		if err == nil && len(payload) > len(data) {
			t.Fatal("payload longer than the checkpoint")
		}
	})
}

// TestRestoreWithDropoutEveryField: a page checkpoint of a run with LoRA
// dropout, written at step 3 and restored into a fresh model, brings back
// every field — the LoRA options (dropout and seed included), the training
// options, the history (losses and evaluations), the step — and the
// resumed run gives exactly the later losses, evaluations, progress
// (tokens, learning rate, gradient norm) and adapter bytes of the
// uninterrupted run.
func TestRestoreWithDropoutEveryField(t *testing.T) {
	ctx := context.Background()
	lo := LoRAOptions{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_v", "ffn_up"}, Dropout: 0.1, Seed: 9}
	o := TrainOptions{Steps: 6, LR: 1e-2, Batch: 2, GradAccum: 2, SeqLen: 16, EvalEvery: 2, Warmup: 2, Seed: 3}
	model := func() *Model {
		m := loadBuiltin(t, false)
		if _, err := m.InjectLoRA(lo); err != nil {
			t.Fatal(err)
		}
		return m
	}
	full := model()
	var want []Progress
	r0, _ := full.Train(withText(o))
	if s, err := r0.Loop(ctx, func(p Progress) { want = append(want, p) }, nil); s != StateDone {
		t.Fatal(s, err)
	}
	wantAdapter, _ := full.SaveAdapter()

	a := model()
	ra := stoppedAt(t, a, o, 3)
	ck, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	b := loadBuiltin(t, false) // a fresh page: no LoRA yet
	res, err := b.Restore(ck)
	if err != nil {
		t.Fatal(err)
	}
	applied := *a.lora
	if res.Kind != "run" || fmt.Sprint(res.LoRA) != fmt.Sprint(applied) || fmt.Sprint(*b.lora) != fmt.Sprint(applied) || applied.Dropout != 0.1 || applied.Seed != 9 {
		t.Fatalf("restored LoRA %+v (model %+v), written %+v", res.LoRA, *b.lora, applied)
	}
	if fmt.Sprint(*res.Train) != fmt.Sprint(withText(o)) {
		t.Fatalf("restored training options %+v, written %+v", *res.Train, withText(o))
	}
	if h := ra.History(); fmt.Sprint(*res.History) != fmt.Sprint(h) || h.Step != 3 || len(h.Evals) != 1 {
		t.Fatalf("restored history %+v, written %+v", *res.History, h)
	}
	rb, err := b.Train(TrainOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []Progress
	if s, err := rb.Loop(ctx, func(p Progress) { got = append(got, p) }, nil); s != StateDone {
		t.Fatal(s, err)
	}
	if len(got) != 3 {
		t.Fatalf("%d steps after the restore, want 3", len(got))
	}
	for i, p := range got {
		w := want[3+i]
		if p.Step != w.Step || p.Tokens != w.Tokens || p.Loss != w.Loss || p.LR != w.LR || p.GradNorm != w.GradNorm ||
			p.Epoch != w.Epoch || !sameEval(p.EvalLoss, w.EvalLoss) {
			t.Fatalf("step %d after the restore: %+v, uninterrupted %+v", p.Step, p, w)
		}
	}
	if h, w := rb.History(), r0.History(); fmt.Sprint(h) != fmt.Sprint(w) {
		t.Fatalf("history after the restore %+v, uninterrupted %+v", h, w)
	}
	if got, _ := b.SaveAdapter(); !bytes.Equal(got, wantAdapter) {
		t.Fatal("the resumed run saved a different adapter")
	}
}

// sameEval reports whether two optional held-out losses are equal.
func sameEval(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
