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
