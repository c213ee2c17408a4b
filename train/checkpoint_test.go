package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

// ckptRun returns a LoRA run of the tiny model after steps steps.
func ckptRun(t testing.TB, steps int) *Run[float32] {
	t.Helper()
	r, err := New[float32](loraModel(t, false), Tokenize(byteTokenizer(t), sampleText),
		Config{SeqLen: 16, Batch: 2, Steps: 6, LR: 1e-2, EvalEvery: 1, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range steps {
		if _, err := r.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestCorruptCheckpointRefused flips one bit at offsets through a
// checkpoint (framing, gob state, parameter values, the checksum itself):
// every one is refused with ErrCorrupt and leaves the run as it was.
func TestCorruptCheckpointRefused(t *testing.T) {
	good := checkpointBytes(t, ckptRun(t, 2))
	r := ckptRun(t, 0)
	before := checkpointBytes(t, r)
	offsets := []int{0, 3, len(checkpointMagic), len(checkpointMagic) + 1, len(good) / 3, len(good) / 2,
		len(good) - 200, len(good) - 5, len(good) - 4, len(good) - 1}
	for _, off := range offsets {
		for _, bit := range []byte{0, 5} {
			bad := bytes.Clone(good)
			bad[off] ^= 1 << bit
			err := r.Restore(bytes.NewReader(bad))
			if off < len(checkpointMagic) {
				// a damaged magic is not a checkpoint at all
				if !errors.Is(err, ErrCheckpoint) {
					t.Fatalf("bit %d of byte %d flipped: err %v, want ErrCheckpoint", bit, off, err)
				}
			} else if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("bit %d of byte %d (of %d) flipped: err %v, want ErrCorrupt", bit, off, len(good), err)
			}
			if after := checkpointBytes(t, r); !sameState(t, after, before) {
				t.Fatalf("bit %d of byte %d flipped: the refused checkpoint changed the run", bit, off)
			}
		}
	}
	for _, n := range []int{0, 4, len(checkpointMagic) + 3, len(good) - 1} {
		if err := r.Restore(bytes.NewReader(good[:n])); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("truncated to %d bytes: err %v, want ErrCheckpoint", n, err)
		}
	}
	if err := r.Restore(bytes.NewReader(good)); err != nil {
		t.Fatalf("the intact checkpoint: %v", err)
	}
}

// sameState reports whether two checkpoints hold the same state, Elapsed
// aside (compared as printed: map order fixed, NaN equal to NaN).
func sameState(t testing.TB, a, b []byte) bool {
	return fmt.Sprint(decodeState(t, a)) == fmt.Sprint(decodeState(t, b))
}

// seal appends the CRC-32C of b.
func seal(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// FuzzRestore feeds Restore arbitrary state bytes behind a valid magic and
// checksum (so the fuzzer reaches the decoder and the checks), and raw
// bytes. It must never panic; an error wraps ErrCheckpoint and leaves the
// run as it was. Seeds: checkpoints of steps 0 and 2.
func FuzzRestore(f *testing.F) {
	for _, steps := range []int{0, 2} {
		b := checkpointBytes(f, ckptRun(f, steps))
		f.Add(b[len(checkpointMagic):len(b)-4], true)
		f.Add(b, false)
	}
	r := ckptRun(f, 1)
	f.Fuzz(func(t *testing.T, data []byte, framed bool) {
		if framed {
			data = seal(append([]byte(checkpointMagic), data...))
		}
		before := checkpointBytes(t, r)
		err := r.Restore(bytes.NewReader(data))
		if err == nil {
			return
		}
		if !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("err %v does not wrap ErrCheckpoint", err)
		}
		if after := checkpointBytes(t, r); !sameState(t, before, after) {
			t.Fatal("a refused checkpoint changed the run")
		}
	})
}

// TestRestoreEveryField: a run restored from a checkpoint holds every field
// of the run it was written from — step, data position, token count,
// elapsed time, losses, evaluations, parameters, AdamW step and moments —
// checked one by one against the writer, and then behaves exactly like it:
// the next steps report the same progress (step, tokens, epoch, learning
// rate from the schedule, loss, gradient norm) and leave the same state.
func TestRestoreEveryField(t *testing.T) {
	ctx := context.Background()
	toks := Tokenize(byteTokenizer(t), sampleText)
	// stride < seq-len, accumulation, warm-up and eval points make every
	// field differ from its zero value by step 3
	cfg := Config{SeqLen: 16, Stride: 8, Batch: 2, GradAccum: 2, Steps: 8, LR: 1e-2, Warmup: 2, EvalEvery: 2, Seed: 6}
	r1, err := New[float32](dropoutModel(t, 0.1), toks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r1.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ck := checkpointBytes(t, r1)
	r2, _ := New[float32](dropoutModel(t, 0.1), toks, cfg)
	if err := r2.Restore(bytes.NewReader(ck)); err != nil {
		t.Fatal(err)
	}
	if r2.step != 3 || r2.pos != r1.pos || r2.pos == (cursor{}) || r2.tokens != 3*2*2*16 || r2.elapsed != r1.elapsed || r2.elapsed == 0 {
		t.Fatalf("restored step %d pos %+v tokens %d elapsed %v; written step %d pos %+v tokens %d elapsed %v",
			r2.step, r2.pos, r2.tokens, r2.elapsed, r1.step, r1.pos, r1.tokens, r1.elapsed)
	}
	sameLosses(t, "restored losses", r2.Losses(), r1.Losses())
	if fmt.Sprint(r2.EvalLosses()) != fmt.Sprint(r1.EvalLosses()) || len(r1.EvalLosses()) != 1 {
		t.Fatalf("restored evals %v, written %v", r2.EvalLosses(), r1.EvalLosses())
	}
	for i, p := range r2.params {
		if !sameBits(p.Value.Data(), r1.params[i].Value.Data()) {
			t.Fatalf("restored %s differs", p.Name)
		}
	}
	s1, m1 := r1.opt.State()
	s2, m2 := r2.opt.State()
	if s1 != 3 || s2 != s1 || len(m2) != len(m1) || len(m1) != len(r1.params) {
		t.Fatalf("restored AdamW step %d with %d moments, written %d with %d", s2, len(m2), s1, len(m1))
	}
	for name, mv := range m1 {
		if !sameBits(mv[0], m2[name][0]) || !sameBits(mv[1], m2[name][1]) {
			t.Fatalf("restored moments of %s differ", name)
		}
	}
	// the checkpoint of the restored run is the one it was restored from
	if a, b := readState(t, ck), readState(t, checkpointBytes(t, r2)); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the restored run writes another checkpoint")
	}
	// and both go on alike
	atCheckpoint := r1.elapsed
	for range 2 {
		p1, err1 := r1.Step(ctx)
		p2, err2 := r2.Step(ctx)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if p1.Step != p2.Step || p1.Tokens != p2.Tokens || p1.Epoch != p2.Epoch || p1.LR != p2.LR || p1.Loss != p2.Loss ||
			p1.GradNorm != p2.GradNorm || fmt.Sprint(p1.EvalLoss) != fmt.Sprint(p2.EvalLoss) || p2.Elapsed <= atCheckpoint {
			t.Fatalf("after the restore: %+v, uninterrupted %+v", p2, p1)
		}
	}
	if !sameState(t, checkpointBytes(t, r1), checkpointBytes(t, r2)) {
		t.Fatal("two steps after the restore the runs differ")
	}
}

// readState decodes a checkpoint with its Elapsed kept.
func readState(t testing.TB, b []byte) *state[float32] {
	t.Helper()
	s, err := readCheckpoint[float32](bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
