package train

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// AllReduce replaces every replica's gradients (the Grad of each of params,
// in order) by their sum over the replicas, and returns the sum of the
// replicas' losses. Every replica must get bit-identical sums (sum in the
// same order everywhere), so that all of them apply the same update. It
// returns an error when the other replicas are gone; the step then fails
// and leaves the run as it was.
type AllReduce[T tensor.Numeric] func(ctx context.Context, loss float64, params []*nn.Parameter[T]) (float64, error)

// SetReplica makes r replica index of count data-parallel replicas (Web
// Workers in the browser, each with its own copy of the model): every
// step, each replica runs forward and backward on its share of the batch
// (rows index·Batch/count up to (index+1)·Batch/count of each
// micro-batch), weighted by its share, then calls allReduce, so that
// clipping, the update and the reported loss see the whole batch's
// gradient and loss. Every replica must be built alike (model, adapter,
// text, Config) and call Step in lock step; evaluation runs on every
// replica. Results equal a single run's up to float rounding, LoRA
// dropout included (masks are drawn per row position; see Dropout).
// SetReplica(0, 1, nil) makes r train alone again.
func (r *Run[T]) SetReplica(index, count int, allReduce AllReduce[T]) error {
	switch {
	case count == 1 && index == 0:
		r.replica, r.replicas, r.allReduce = 0, 1, nil
		return nil
	case count < 1 || index < 0 || index >= count:
		return fmt.Errorf("%w: replica %d of %d", ErrConfig, index, count)
	case allReduce == nil:
		return fmt.Errorf("%w: replica %d of %d without an all-reduce", ErrConfig, index, count)
	}
	r.replica, r.replicas, r.allReduce = index, count, allReduce
	return nil
}

// TrainableFloats is the number of trainable values, the gradient floats a
// replica exchanges every step.
func (r *Run[T]) TrainableFloats() int {
	n := 0
	for _, p := range r.params {
		n += p.Value.Size()
	}
	return n
}

// shard returns this replica's rows of a micro-batch, the index of the
// first and their share of the micro-batch.
func (r *Run[T]) shard(in, tg [][]int) ([][]int, [][]int, int, float64) {
	if r.replicas <= 1 {
		return in, tg, 0, 1
	}
	b := len(in)
	lo, hi := r.replica*b/r.replicas, (r.replica+1)*b/r.replicas
	return in[lo:hi], tg[lo:hi], lo, float64(hi-lo) / float64(b)
}
