package train

import (
	"fmt"
	"hash/fnv"

	"github.com/webtune/webtune/tensor"
)

// Example is one training example of NewExamples: a conversation or
// prompt–completion rendered and tokenized (package data builds them).
type Example struct {
	Tokens []int // Tokens are the example's ids.
	// Trained[i] tells whether token i is a target of the loss (the
	// prediction made at position i−1); len(Trained) == len(Tokens).
	Trained []bool
}

// NewExamples prepares a run on examples, one example per window (TRL's
// SFT without packing): an example shorter than the sequence length is
// padded with ignored targets, a longer one is cut (package data cuts and
// counts them beforehand). The loss is the mean over the trained tokens of
// each step's batch, so an example weighs by its trained tokens, not by its
// window. Held-out examples are whole examples from the end of the list.
func NewExamples[T tensor.Numeric](m Model[T], examples []Example, cfg Config) (*Run[T], error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	d, err := newExampleDataset(examples, c.heldOut())
	if err != nil {
		return nil, err
	}
	return newRun(m, d, c)
}

// newExampleDataset lays the examples out back to back with a trained mask.
func newExampleDataset(examples []Example, c Config) (*Dataset, error) {
	if len(examples) == 0 {
		return nil, fmt.Errorf("%w: no examples", ErrConfig)
	}
	d := &Dataset{permSeed: c.Seed, permEpoch: -1, starts: make([]int, 0, len(examples)+1)}
	longest, trained := 0, 0
	for i, e := range examples {
		if len(e.Trained) != len(e.Tokens) {
			return nil, fmt.Errorf("%w: example %d has %d tokens and %d trained flags", ErrConfig, i, len(e.Tokens), len(e.Trained))
		}
		if len(e.Tokens) < 2 {
			return nil, fmt.Errorf("%w: example %d has %d tokens; need at least 2", ErrConfig, i, len(e.Tokens))
		}
		d.starts = append(d.starts, d.tokens.n)
		if err := d.tokens.add(e.Tokens...); err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
		}
		d.mask = append(d.mask, e.Trained...)
		longest = max(longest, len(e.Tokens))
		for _, t := range e.Trained[1:] {
			if t {
				trained++
			}
		}
	}
	d.starts = append(d.starts, d.tokens.n)
	if trained == 0 {
		return nil, fmt.Errorf("%w: no example has a trained token", ErrConfig)
	}
	d.seqLen = min(c.SeqLen, longest-1)
	n := len(examples)
	held := 0
	if c.EvalFraction > 0 && n >= 2 {
		held = max(1, int(float64(n)*c.EvalFraction))
		held = min(held, n-1)
		if c.EvalWindows > 0 {
			held = min(held, c.EvalWindows)
		}
	}
	for e := range n - held {
		d.train = append(d.train, e)
	}
	for e := n - held; e < n; e++ {
		d.eval = append(d.eval, e)
	}
	d.split = d.starts[n-held]
	h := fnv.New64a()
	var b [5]byte
	for i := range d.tokens.n {
		t := d.tokens.at(i)
		b[0], b[1], b[2], b[3], b[4] = byte(t), byte(t>>8), byte(t>>16), byte(t>>24), 0
		if d.mask[i] {
			b[4] = 1
		}
		h.Write(b[:])
	}
	for _, s := range d.starts {
		b[0], b[1], b[2], b[3] = byte(s), byte(s>>8), byte(s>>16), byte(s>>24)
		h.Write(b[:4])
	}
	d.hash = h.Sum64()
	return d, nil
}

// fillExample writes example e into one row of tokens and targets
// ([SeqLen] each): its first SeqLen tokens, targets the next token where
// it is trained and IgnoreIndex elsewhere, padding (token 0, ignored)
// after its end. Causal attention keeps the padding out of the example's
// own positions.
func (d *Dataset) fillExample(e int, tokens, targets []int) {
	s, end := d.starts[e], d.starts[e+1]
	n := min(end-s-1, d.seqLen) // predictions in this example
	for j := range tokens {
		if j < n {
			tokens[j] = d.tokens.at(s + j)
			targets[j] = ignore
			if d.mask[s+j+1] {
				targets[j] = d.tokens.at(s + j + 1)
			}
			continue
		}
		tokens[j], targets[j] = 0, ignore
	}
}

// ignore is the target the models skip (llama.IgnoreIndex).
const ignore = -1

// counted returns how many targets of rows are trained.
func counted(rows [][]int) int {
	n := 0
	for _, r := range rows {
		for _, t := range r {
			if t >= 0 {
				n++
			}
		}
	}
	return n
}

// trainedAhead returns how many targets the next micro micro-batches from
// c train (the denominator of the step's mean loss), without moving c.
func (d *Dataset) trainedAhead(c cursor, micro, batch int) int {
	n := 0
	for range micro * batch {
		if c.Index >= len(d.train) {
			c = cursor{Epoch: c.Epoch + 1}
		}
		e := d.train[d.order(c.Epoch)[c.Index]]
		s, end := d.starts[e], d.starts[e+1]
		for j := s + 1; j < min(end, s+d.seqLen+1); j++ {
			if d.mask[j] {
				n++
			}
		}
		c.Index++
	}
	return n
}
