package train

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// ErrReplicaGone reports an all-reduce that cannot complete because
// another replica stopped (Local.Close).
var ErrReplicaGone = errors.New("train: another replica stopped")

// Local sums the gradients of replicas that run in goroutines of one
// process: native data-parallel training (the browser's workers use a
// SharedArrayBuffer instead, wasm/bridge/replica.go). Give replica i
// AllReduce(i) through Run.SetReplica and call every replica's Step in its
// own goroutine, in lock step. The last replica to arrive sums the
// gradients in replica order, so every replica gets the same bits.
type Local[T tensor.Numeric] struct {
	count int

	mu      sync.Mutex
	arrived int
	grads   [][]T     // per replica, its gradients flattened
	loss    []float64 // per replica
	sum     []T       // the last generation's sums
	total   float64
	done    chan struct{} // closed when the current generation completes
	err     error         // set by Close
}

// NewLocal returns the all-reduce of count replicas.
func NewLocal[T tensor.Numeric](count int) *Local[T] {
	return &Local[T]{count: count, grads: make([][]T, count), loss: make([]float64, count), done: make(chan struct{})}
}

// Close makes every waiting and later all-reduce fail with err (wrapped in
// ErrReplicaGone): call it when a replica stops for good, so that the
// others do not wait for it.
func (l *Local[T]) Close(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("%w: %w", ErrReplicaGone, err)
		close(l.done)
	}
}

// AllReduce returns replica index's AllReduce. A replica whose ctx ends
// while it waits returns ctx's error; it must then stop, since the others
// may have completed that step without it.
func (l *Local[T]) AllReduce(index int) AllReduce[T] {
	return func(ctx context.Context, loss float64, params []*nn.Parameter[T]) (float64, error) {
		l.mu.Lock()
		if l.err != nil {
			defer l.mu.Unlock()
			return 0, l.err
		}
		flat := l.grads[index][:0]
		for _, p := range params {
			flat = append(flat, p.Grad.Data()...)
		}
		l.grads[index], l.loss[index] = flat, loss
		done := l.done
		if l.arrived++; l.arrived == l.count {
			l.reduce()
		}
		l.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return 0, l.err
		}
		// l.sum stays until this replica arrives again: it cannot change
		// before every replica (this one included) has arrived once more
		off := 0
		for _, p := range params {
			off += copy(p.Grad.Data(), l.sum[off:])
		}
		return l.total, nil
	}
}

// reduce sums the deposited gradients in replica order and starts the next
// generation; l.mu is held.
func (l *Local[T]) reduce() {
	n := len(l.grads[0])
	if cap(l.sum) < n {
		l.sum = make([]T, n)
	}
	l.sum = l.sum[:n]
	copy(l.sum, l.grads[0])
	l.total = l.loss[0]
	for j := 1; j < l.count; j++ {
		for i, v := range l.grads[j][:n] {
			l.sum[i] += v
		}
		l.total += l.loss[j]
	}
	l.arrived = 0
	close(l.done)
	l.done = make(chan struct{})
}
