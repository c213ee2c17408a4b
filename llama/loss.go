package llama

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// lossChunkFloats bounds the [rows × V] block of logits the loss holds at
// once (2^23 values, 32 MiB of float32): Loss and ForwardBackward run the
// head, the softmax, the loss and its backward a chunk of rows at a time
// and never hold the whole [N × V] logits. A chunk has at least
// minLossRows rows, because a quantized head decodes its weight once per
// chunk. A variable so that tests can force many chunks.
var lossChunkFloats = 1 << 23

// minLossRows is the fewest rows of a loss chunk (a variable for tests).
var minLossRows = 32

// lossRows returns the rows per chunk of the loss over N rows.
func lossRows(N, V int) int {
	return min(N, max(minLossRows, lossChunkFloats/V))
}

// Loss runs the model on tokens [B][T] and returns the mean cross-entropy
// of the next-token targets [B][T] (IgnoreIndex entries excluded; 0 when
// all are ignored). The logits are computed a chunk of rows at a time and
// not kept (Forward returns them).
func (m *Model[T]) Loss(ctx context.Context, tokens, targets [][]int) (float64, error) {
	count, err := m.lossTrunk(ctx, tokens, targets)
	if err != nil || count == 0 {
		return 0, err
	}
	sum, err := m.headLoss(ctx, 0, false)
	return sum / float64(count), err
}

// ForwardBackward computes the mean cross-entropy like Loss and runs the
// backward pass, accumulating gradScale times the gradient of that mean
// (1 for one batch, 1/k for k accumulated micro-batches). Each chunk of
// rows gets its logits, loss and dlogits, then its head backward (dx and
// the head's LoRA gradients) before the next chunk starts.
func (m *Model[T]) ForwardBackward(ctx context.Context, tokens, targets [][]int, gradScale float64) (float64, error) {
	count, err := m.lossTrunk(ctx, tokens, targets)
	if err != nil || count == 0 {
		return 0, err
	}
	sum, err := m.headLoss(ctx, T(gradScale/float64(count)), true)
	if err != nil {
		return 0, err
	}
	return sum / float64(count), m.backwardTrunk(ctx, m.acts.dlnf)
}

// lossTrunk checks targets against tokens, runs forwardTrunk, stores the
// targets in the activations and returns how many count (not ignored).
func (m *Model[T]) lossTrunk(ctx context.Context, tokens, targets [][]int) (int, error) {
	B, Tn, err := m.checkTokens("targets", targets, true)
	if err != nil {
		return 0, err
	}
	if B != len(tokens) || len(tokens[0]) != Tn {
		return 0, fmt.Errorf("%w: targets [%d][%d] do not match tokens", ErrShape, B, Tn)
	}
	if _, _, err := m.forwardTrunk(ctx, tokens); err != nil {
		return 0, err
	}
	a := m.acts
	N := B * Tn
	if len(a.targets) != N {
		a.targets, a.losses, a.lse = make([]int, N), make([]T, N), make([]T, N)
	}
	count := 0
	for b, row := range targets {
		copy(a.targets[b*Tn:], row)
		for _, t := range row {
			if t >= 0 {
				count++
			}
		}
	}
	return count, nil
}

// headLoss runs the head and the cross-entropy over a.lnf a chunk of rows
// at a time and returns the sum of the counted rows' losses. With
// backward, each chunk's dlogits = dloss·(softmax − onehot) goes back
// through the head at once, writing the chunk's rows of a.dlnf and
// accumulating the head's parameter gradients.
//
//	a.lnf      [N, C]  head input
//	logits     [rows, V] one chunk (the head's output; a.lchunk for a quantized head)
//	a.dchunk   [rows, V] its dlogits
//	a.dlnf     [N, C]
func (m *Model[T]) headLoss(ctx context.Context, dloss T, backward bool) (float64, error) {
	a, c := m.acts, m.Config
	N, C, V := a.B*a.T, c.Dim, c.VocabSize
	rows := lossRows(N, V)
	if backward && len(a.dlnf) != N*C {
		a.dlnf = make([]T, N*C)
	}
	var sum float64
	for r0 := 0; r0 < N; r0 += rows {
		rc := min(rows, N-r0)
		x := tensor.FromSlice(a.lnf.Data()[r0*C:(r0+rc)*C], rc, C)
		logits, err := m.headChunk(ctx, x, rc, V, rows)
		if err != nil {
			return 0, err
		}
		m.softcap(logits)
		losses, lse, targets := a.losses[r0:r0+rc], a.lse[r0:r0+rc], a.targets[r0:r0+rc]
		kernels.CrossEntropyForward(losses, lse, logits, targets, rc, V)
		for _, l := range losses {
			sum += float64(l)
		}
		if !backward {
			continue
		}
		if len(a.dchunk) < rows*V {
			a.dchunk = make([]T, rows*V)
		}
		d := a.dchunk[:rc*V]
		clear(d)
		kernels.CrossEntropyBackward(d, logits, lse, targets, rc, V, dloss)
		if sc := c.FinalSoftcap; sc > 0 {
			kernels.SoftcapBackward(d, logits, sc)
		}
		dx, err := layerBackward(ctx, m.Output, d, x, rc, V)
		if err != nil {
			return 0, err
		}
		copy(a.dlnf[r0*C:(r0+rc)*C], dx)
	}
	return sum, nil
}

// headChunk returns the logits [rc, V] of head input x [rc, C]. A
// quantized head without bias writes them into a.lchunk, reused from chunk
// to chunk and step to step; any other head runs through its Forward.
func (m *Model[T]) headChunk(ctx context.Context, x *tensor.Tensor[T], rc, V, rows int) ([]T, error) {
	a := m.acts
	if q, ok := m.Output.(*nn.QuantLinear[T]); ok && q.Bias() == nil && m.actTypes == nil {
		if len(a.lchunk) < rows*V {
			a.lchunk = make([]T, rows*V)
		}
		y := a.lchunk[:rc*V]
		quant.MatMulXWt(q.Engine(), q.Matrix(), y, x.Data(), rc)
		return y, nil
	}
	logits, err := m.layerForward(ctx, m.Output, x, rc, V)
	if err != nil {
		return nil, err
	}
	return logits.Data(), nil
}
