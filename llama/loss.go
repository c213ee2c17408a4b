package llama

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/tensor"
)

// Loss runs Forward on tokens [B][T] and returns the mean cross-entropy of
// the next-token targets [B][T] (IgnoreIndex entries excluded; 0 when all
// are ignored).
func (m *Model[T]) Loss(ctx context.Context, tokens, targets [][]int) (float64, error) {
	loss, _, err := m.loss(ctx, tokens, targets)
	return loss, err
}

// ForwardBackward runs Forward, computes the mean cross-entropy like Loss,
// and runs Backward, accumulating gradScale times the gradient of that mean
// (1 for one batch, 1/k for k accumulated micro-batches).
func (m *Model[T]) ForwardBackward(ctx context.Context, tokens, targets [][]int, gradScale float64) (float64, error) {
	loss, count, err := m.loss(ctx, tokens, targets)
	if err != nil || count == 0 {
		return loss, err
	}
	a := m.acts
	N, V := a.B*a.T, m.Config.VocabSize
	if a.dlogits == nil {
		a.dlogits = tensor.Zeros[T](a.B, a.T, V)
	}
	clear(a.dlogits.Data())
	kernels.CrossEntropyBackward(a.dlogits.Data(), a.logits.Data(), a.lse, a.targets, N, V, T(gradScale/float64(count)))
	return loss, m.Backward(ctx, a.dlogits)
}

func (m *Model[T]) loss(ctx context.Context, tokens, targets [][]int) (float64, int, error) {
	B, Tn, err := m.checkTokens("targets", targets, true)
	if err != nil {
		return 0, 0, err
	}
	if B != len(tokens) || len(tokens[0]) != Tn {
		return 0, 0, fmt.Errorf("%w: targets [%d][%d] do not match tokens", ErrShape, B, Tn)
	}
	logits, err := m.Forward(ctx, tokens)
	if err != nil {
		return 0, 0, err
	}
	a := m.acts
	N, V := B*Tn, m.Config.VocabSize
	if len(a.targets) != N {
		a.targets, a.losses, a.lse = make([]int, N), make([]T, N), make([]T, N)
	}
	for b, row := range targets {
		copy(a.targets[b*Tn:], row)
	}
	count := kernels.CrossEntropyForward(a.losses, a.lse, logits.Data(), a.targets, N, V)
	if count == 0 {
		return 0, 0, nil
	}
	var sum float64
	for _, l := range a.losses {
		sum += float64(l)
	}
	return sum / float64(count), count, nil
}
