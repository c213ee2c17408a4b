package kernels

import (
	"math"

	"github.com/webtune/webtune/tensor"
)

// CrossEntropyForward writes the loss −log softmax(logits)[target] of every
// row into losses (0 for a target < 0, the ignore index), keeps each row's
// log-sum-exp for the backward pass, and returns the number of counted rows.
//
//	losses, lse [N]
//	logits      [N, V]
//	targets     [N]
func CrossEntropyForward[T tensor.Numeric](losses, lse, logits []T, targets []int, N, V int) int {
	if count, ok := fastCrossEntropyForward(losses, lse, logits, targets, N, V); ok {
		return count
	}
	count := 0
	for n := 0; n < N; n++ {
		if targets[n] < 0 {
			losses[n] = 0
			continue
		}
		row := logits[n*V : (n+1)*V]
		lse[n] = LogSumExp(row)
		losses[n] = lse[n] - row[targets[n]]
		count++
	}
	return count
}

// CrossEntropyBackward accumulates dlogits += dloss·(softmax(logits) −
// onehot(target)) for every counted row; dloss is the weight of each row's
// loss in the total (1/count for a mean).
func CrossEntropyBackward[T tensor.Numeric](dlogits, logits, lse []T, targets []int, N, V int, dloss T) {
	if fastCrossEntropyBackward(dlogits, logits, lse, targets, N, V, dloss) {
		return
	}
	for n := 0; n < N; n++ {
		if targets[n] < 0 {
			continue
		}
		row := logits[n*V : (n+1)*V]
		d := dlogits[n*V : (n+1)*V]
		if fastAddScaledExp(d, row, lse[n], dloss) {
			d[targets[n]] -= dloss
			continue
		}
		for i, x := range row {
			d[i] += dloss * T(math.Exp(float64(x-lse[n])))
		}
		d[targets[n]] -= dloss
	}
}

// LogSoftmaxForward writes out = logits − logsumexp(logits) for one row.
func LogSoftmaxForward[T tensor.Numeric](out, logits []T) {
	lse := LogSumExp(logits)
	for i, x := range logits {
		out[i] = x - lse
	}
}

// LogSumExp returns log Σ e^x, stably, summing in float64.
func LogSumExp[T tensor.Numeric](row []T) T {
	m, ok := fastMax(row)
	if !ok {
		m = row[0]
		for _, x := range row {
			m = max(m, x)
		}
	}
	sum, ok := fastExpSum64(row, m)
	for i := 0; !ok && i < len(row); i++ {
		sum += math.Exp(float64(row[i] - m))
	}
	return m + T(math.Log(sum))
}
