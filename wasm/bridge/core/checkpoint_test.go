package core

import (
	"bytes"
	"context"
	"errors"
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
