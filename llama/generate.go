package llama

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/tensor"
)

// Session evaluates a growing token sequence incrementally with a KV cache
// (one sequence, positions 0, 1, ...). The cache grows on demand up to the
// session's limit. It shares the model's layers, so a model must not be
// trained while a session is in use.
type Session[T tensor.Numeric] struct {
	m      *Model[T]
	kc, vc [][]T // per layer [cap, NKV·HS] rotated keys and values
	pos    int   // tokens evaluated so far
	limit  int   // most positions
}

// NewSession returns a session holding up to maxTokens positions (≤ 0: the
// model's context length).
func (m *Model[T]) NewSession(maxTokens int) *Session[T] {
	if maxTokens <= 0 {
		maxTokens = m.Config.ContextLength
	}
	return &Session[T]{m: m, limit: maxTokens, kc: make([][]T, m.Config.Layers), vc: make([][]T, m.Config.Layers)}
}

// Pos returns the number of tokens evaluated so far.
func (s *Session[T]) Pos() int { return s.pos }

// Reset forgets the evaluated tokens.
func (s *Session[T]) Reset() { s.pos = 0 }

// grow makes room for need positions, doubling the cache (within limit).
func (s *Session[T]) grow(need int) {
	kv := s.m.Config.KVHeads * s.m.Config.HeadDim
	if len(s.kc[0]) >= need*kv {
		return
	}
	n := min(max(need, 2*len(s.kc[0])/kv, 64), s.limit)
	for l := range s.kc {
		s.kc[l] = append(make([]T, 0, n*kv), s.kc[l]...)[:n*kv]
		s.vc[l] = append(make([]T, 0, n*kv), s.vc[l]...)[:n*kv]
	}
}

// Eval appends tokens at positions Pos()… and returns their logits
// [len(tokens), V]; row i predicts the token after tokens[i].
func (s *Session[T]) Eval(ctx context.Context, tokens []int) (*tensor.Tensor[T], error) {
	m := s.m
	if _, _, err := m.checkTokens("tokens", [][]int{tokens}, false); err != nil {
		return nil, err
	}
	Tq := len(tokens)
	if s.pos+Tq > s.limit {
		return nil, fmt.Errorf("%w: %d tokens after %d exceed the session's %d positions", ErrShape, Tq, s.pos, s.limit)
	}
	s.grow(s.pos + Tq)
	m.ensureRope(s.pos + Tq)
	a := newActivations[T](m.Config, 1, Tq, s.pos+Tq)
	copy(a.tokens, tokens)
	m.embed(a.layers[0].resid, a.tokens)
	for l, blk := range m.Blocks {
		next := a.resid
		if l+1 < len(a.layers) {
			next = a.layers[l+1].resid
		}
		if err := m.blockForward(ctx, l, blk, &a.layers[l], next, 1, Tq, s.pos, s.kc[l], s.vc[l]); err != nil {
			return nil, err
		}
	}
	logits, err := m.headForward(ctx, a, Tq)
	if err != nil {
		return nil, err
	}
	s.pos += Tq
	return logits.Reshape(Tq, m.Config.VocabSize)
}

// LogSoftmax returns log softmax(logits) in float64 (llama.cpp's
// next-token log-probabilities).
func LogSoftmax[T tensor.Numeric](logits []T) []float64 {
	x := make([]float64, len(logits))
	tensor.Convert(x, logits)
	kernels.LogSoftmaxForward(x, x)
	return x
}

// SampleOptions configure sampling. The zero value is greedy decoding.
type SampleOptions struct {
	MaxTokens   int     // MaxTokens bounds the generated tokens (≤ 0: up to the context length).
	Temperature float64 // Temperature ≤ 0 is greedy (argmax); else logits/Temperature.
	TopK        int     // TopK keeps the K most likely tokens (≤ 0: all).
	TopP        float64 // TopP keeps the smallest set with probability ≥ TopP (≤ 0 or ≥ 1: all).
	Seed        uint64  // Seed drives the PCG generator of the draws.
	Stop        []int   // Stop ends generation at any of these ids (EOS); the stop id is not returned.
}

// Sampler draws token ids from logits as llama.cpp's sampler chain: top-k,
// then top-p on the softmax of the logits, then temperature, then a seeded
// draw (math/rand/v2 PCG).
type Sampler struct {
	opt SampleOptions
	rng *rand.Rand
	idx []int
	p   []float64
}

// NewSampler returns a sampler for opt.
func NewSampler(opt SampleOptions) *Sampler {
	return &Sampler{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0x73616d706c65))}
}

// Sample returns the next token id for logits [V].
func (s *Sampler) Sample(logits []float64) int {
	if s.opt.Temperature <= 0 {
		best := 0
		for i, x := range logits {
			if x > logits[best] {
				best = i
			}
		}
		return best
	}
	s.idx = s.idx[:0]
	for i := range logits {
		s.idx = append(s.idx, i)
	}
	// most likely first; ties by id for determinism
	slices.SortStableFunc(s.idx, func(a, b int) int { return cmp.Compare(logits[b], logits[a]) })
	if k := s.opt.TopK; k > 0 && k < len(s.idx) {
		s.idx = s.idx[:k]
	}
	if p := s.opt.TopP; p > 0 && p < 1 {
		probs := s.softmax(logits, 1)
		cum, keep := 0.0, len(s.idx)
		for i, q := range probs {
			cum += q
			if cum >= p {
				keep = i + 1
				break
			}
		}
		s.idx = s.idx[:keep]
	}
	probs := s.softmax(logits, s.opt.Temperature)
	u := s.rng.Float64()
	for i, q := range probs {
		u -= q
		if u < 0 {
			return s.idx[i]
		}
	}
	return s.idx[len(s.idx)-1]
}

// softmax returns the probabilities of the kept ids at temperature temp.
func (s *Sampler) softmax(logits []float64, temp float64) []float64 {
	s.p = s.p[:0]
	m := logits[s.idx[0]]
	var sum float64
	for _, i := range s.idx {
		e := math.Exp((logits[i] - m) / temp)
		s.p = append(s.p, e)
		sum += e
	}
	for i := range s.p {
		s.p[i] /= sum
	}
	return s.p
}

// Generate evaluates prompt and samples up to opt.MaxTokens tokens, stopping
// at a stop id; it returns the generated ids (without the prompt and the
// stop id) and the log-softmax over the vocabulary at the last prompt
// position.
func (m *Model[T]) Generate(ctx context.Context, prompt []int, opt SampleOptions) ([]int, []float64, error) {
	if len(prompt) == 0 {
		return nil, nil, fmt.Errorf("%w: empty prompt", ErrShape)
	}
	maxNew := m.Config.ContextLength - len(prompt)
	if opt.MaxTokens > 0 {
		maxNew = min(maxNew, opt.MaxTokens)
	}
	s := m.NewSession(len(prompt) + max(maxNew, 0))
	logits, err := s.Eval(ctx, prompt)
	if err != nil {
		return nil, nil, err
	}
	V := m.Config.VocabSize
	last := make([]float64, V)
	tensor.Convert(last, logits.Data()[(len(prompt)-1)*V:])
	logprobs := LogSoftmax(last)
	sampler := NewSampler(opt)
	var out []int
	for len(out) < maxNew {
		if err := ctx.Err(); err != nil {
			return out, logprobs, err
		}
		next := sampler.Sample(last)
		if slices.Contains(opt.Stop, next) {
			break
		}
		out = append(out, next)
		if len(out) == maxNew {
			break
		}
		l, err := s.Eval(ctx, []int{next})
		if err != nil {
			return out, logprobs, err
		}
		tensor.Convert(last, l.Data())
	}
	return out, logprobs, nil
}
