package train

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/webtune/webtune/tensor"
)

// checkpointVersion is bumped whenever the encoded state changes meaning.
const checkpointVersion = 2

// A checkpoint is checkpointMagic, the gob-encoded state, and the CRC-32C
// (Castagnoli) of everything before it, little-endian: one flipped bit
// anywhere makes Restore refuse it (ErrCorrupt) rather than resume a run
// that quietly diverges from the one saved.
const checkpointMagic = "WTTRAIN\x00"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// state is what a checkpoint holds (gob-encoded): enough to continue the
// run exactly. The base model is not in it: a resumed run rebuilds it from
// the same base file (and LoRA injection with the same seed) and Restore
// overwrites the trainable parameters.
type state[T tensor.Numeric] struct {
	Version int
	// geometry and data: must match the resuming run
	SeqLen, Stride, Batch, GradAccum int
	Seed                             uint64
	DataHash                         uint64
	DataTokens                       int
	// progress
	Step    int
	Pos     cursor
	Tokens  int64
	Elapsed time.Duration
	Losses  []float64
	Evals   []EvalPoint
	// parameters and optimizer
	Names   []string
	Shapes  [][]int
	Values  [][]T
	OptStep int
	Moments map[string][2][]T
}

// Checkpoint writes the run's state to w: trainable parameters, AdamW step
// and moments, data position, counters and losses so far. After a step
// that went back (see Step) it holds the step the run went back to, as a
// checkpoint written right after that step would (Elapsed excepted).
func (r *Run[T]) Checkpoint(w io.Writer) error {
	c := r.cfg
	s := state[T]{Version: checkpointVersion, SeqLen: c.SeqLen, Stride: c.Stride, Batch: c.Batch,
		GradAccum: c.GradAccum, Seed: c.Seed, DataHash: r.data.hash, DataTokens: r.data.Tokens(),
		Step: r.step, Pos: r.pos, Tokens: r.tokens, Elapsed: r.elapsed, Losses: r.losses, Evals: r.evals}
	for _, p := range r.params {
		s.Names = append(s.Names, p.Name)
		s.Shapes = append(s.Shapes, p.Value.Shape())
		s.Values = append(s.Values, p.Value.Data())
	}
	s.OptStep, s.Moments = r.opt.State()
	var b bytes.Buffer
	b.WriteString(checkpointMagic)
	if err := gob.NewEncoder(&b).Encode(&s); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	b.Write(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(b.Bytes(), castagnoli)))
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	return nil
}

// readCheckpoint checks the framing and checksum of a checkpoint and
// decodes its state.
func readCheckpoint[T tensor.Numeric](rd io.Reader) (*state[T], error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	n := len(checkpointMagic)
	if len(data) < n+4 || string(data[:n]) != checkpointMagic {
		return nil, fmt.Errorf("%w: not a training checkpoint (or one from before version 2)", ErrCheckpoint)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("%w: CRC-32C %08x, want %08x", ErrCorrupt, got, sum)
	}
	var s state[T]
	if err := gob.NewDecoder(bytes.NewReader(body[n:])).Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return &s, nil
}

// Restore replaces the run's state with a checkpoint written by Checkpoint
// for the same data, geometry, seed and trainable parameters (names and
// shapes); otherwise it returns an error wrapping ErrCheckpoint (and
// ErrCorrupt when the checksum does not match) and leaves the run unchanged. Steps and the learning-rate schedule come from the
// run's own Config, so a run may be extended, or resumed with a lower
// learning rate after it diverged. A restored run cannot undo the update of
// the checkpoint's last step (the state before it is not in the checkpoint):
// if its first step measures a bad loss or gradient it stays at the
// checkpoint's step.
func (r *Run[T]) Restore(rd io.Reader) error {
	s, err := readCheckpoint[T](rd)
	if err != nil {
		return err
	}
	if err := r.check(s); err != nil {
		return err
	}
	for i, p := range r.params {
		copy(p.Value.Data(), s.Values[i])
	}
	r.opt.SetState(s.OptStep, s.Moments)
	r.step, r.pos, r.tokens, r.elapsed = s.Step, s.Pos, s.Tokens, s.Elapsed
	r.losses, r.evals = s.Losses, s.Evals
	r.session, r.sessionN, r.evalTime = 0, 0, 0
	r.canUndo = false // the state before the checkpoint's last update is not in it
	return nil
}

// check verifies that s belongs to this run.
func (r *Run[T]) check(s *state[T]) error {
	c := r.cfg
	switch {
	case s.Version != checkpointVersion:
		return fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, s.Version, checkpointVersion)
	case s.DataHash != r.data.hash || s.DataTokens != r.data.Tokens():
		return fmt.Errorf("%w: written for other data (%d tokens, this run has %d or different ones)",
			ErrCheckpoint, s.DataTokens, r.data.Tokens())
	case s.SeqLen != c.SeqLen || s.Stride != c.Stride || s.Batch != c.Batch || s.GradAccum != c.GradAccum || s.Seed != c.Seed:
		return fmt.Errorf("%w: written with seq-len %d, stride %d, batch %d, grad-accum %d, seed %d; this run has %d, %d, %d, %d, %d",
			ErrCheckpoint, s.SeqLen, s.Stride, s.Batch, s.GradAccum, s.Seed, c.SeqLen, c.Stride, c.Batch, c.GradAccum, c.Seed)
	case len(s.Names) != len(r.params) || len(s.Shapes) != len(s.Names) || len(s.Values) != len(s.Names):
		return fmt.Errorf("%w: %d trainable parameters, this run has %d", ErrCheckpoint, len(s.Names), len(r.params))
	case s.Step < 0 || s.Pos.Epoch < 0 || s.Pos.Index < 0 || s.Pos.Index > r.data.TrainWindows():
		return fmt.Errorf("%w: position step %d, epoch %d, index %d", ErrCheckpoint, s.Step, s.Pos.Epoch, s.Pos.Index)
	}
	for i, p := range r.params {
		if s.Names[i] != p.Name || !slices.Equal(s.Shapes[i], p.Value.Shape()) || len(s.Values[i]) != p.Value.Size() {
			return fmt.Errorf("%w: parameter %d is %q %v, this run has %q %v (other rank or targets?)",
				ErrCheckpoint, i, s.Names[i], s.Shapes[i], p.Name, p.Value.Shape())
		}
		if mv, ok := s.Moments[p.Name]; ok && (len(mv[0]) != p.Value.Size() || len(mv[1]) != p.Value.Size()) {
			return fmt.Errorf("%w: optimizer state of %q has the wrong size", ErrCheckpoint, p.Name)
		}
	}
	return nil
}
