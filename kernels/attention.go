package kernels

import (
	"math"
	"runtime"
	"sync"

	"github.com/webtune/webtune/tensor"
)

// Attn is the shape and score scale of one causal attention call.
type Attn struct {
	B, Tq, Tk, NH, NKV, HS int
	// Scale multiplies the scores q·k; 0 means 1/√HS (llama, qwen2,
	// qwen3), rounded to T.
	Scale float64
	// Window, when positive, limits each query to the Window most recent
	// keys, its own included (gemma3's sliding-window layers, llama.cpp's
	// is_masked_swa): a query at position p sees keys p−Window < p0 ≤ p.
	Window int
}

// first returns the first key a query at position last attends to.
func (a Attn) first(last int) int {
	if a.Window <= 0 {
		return 0
	}
	return max(0, last-a.Window+1)
}

// ScoreScale returns what the scores q·k are multiplied by: Scale, or
// 1/√HS when Scale is 0.
func (a Attn) ScoreScale() float64 {
	if a.Scale != 0 {
		return a.Scale
	}
	return 1 / math.Sqrt(float64(a.HS))
}

// attentionForwardScalar is AttentionForward in scalar loops (float64 and
// engines without strided products). Work is spread over (sequence, kv
// head) pairs when GOMAXPROCS > 1.
//
//	out  [B, Tq, NH, HS]
//	att  [B, NH, Tq, Tk]  probabilities (masked entries 0)
//	q    [B, Tq, NH, HS]  already rotated
//	k, v [B, Tk, NKV, HS] k already rotated
func attentionForwardScalar[T tensor.Numeric](out, att, q, k, v []T, sh Attn) {
	B, Tq, Tk, NH, NKV, HS := sh.B, sh.Tq, sh.Tk, sh.NH, sh.NKV, sh.HS
	scale := T(sh.ScoreScale())
	group := NH / NKV
	qC, kvC := NH*HS, NKV*HS
	parallelFor(B*NKV, Tq*Tk*HS*group, func(task int) {
		b, kh := task/NKV, task%NKV
		for h := kh * group; h < (kh+1)*group; h++ {
			for t := 0; t < Tq; t++ {
				last := Tk - Tq + t
				first := sh.first(last)
				qo := (b*Tq+t)*qC + h*HS
				qv := q[qo : qo+HS]
				a := att[((b*NH+h)*Tq+t)*Tk : ((b*NH+h)*Tq+t+1)*Tk]
				maxv := T(math.Inf(-1))
				for t2 := first; t2 <= last; t2++ {
					ko := (b*Tk+t2)*kvC + kh*HS
					s := dotT(qv, k[ko:ko+HS]) * scale
					a[t2] = s
					maxv = max(maxv, s)
				}
				sum, ok := fastExpShiftSum(a[first:last+1], maxv)
				for t2 := first; !ok && t2 <= last; t2++ {
					e := T(math.Exp(float64(a[t2] - maxv)))
					a[t2] = e
					sum += float64(e)
				}
				inv := T(1 / sum)
				for t2 := first; t2 <= last; t2++ {
					a[t2] *= inv
				}
				clear(a[:first])
				clear(a[last+1:])
				o := out[qo : qo+HS]
				clear(o)
				for t2 := first; t2 <= last; t2++ {
					ko := (b*Tk+t2)*kvC + kh*HS
					axpyT(o, a[t2], v[ko:ko+HS])
				}
			}
		}
	})
}

// attentionBackwardScalar accumulates dq, dk, dv from dout through the softmax:
//
//	dp[t2]  = dout·v[t2]
//	dv[t2] += p[t2]·dout
//	ds[t2]  = p[t2]·(dp[t2] − Σ_j p[j]·dp[j])
//	dq     += scale·Σ ds[t2]·k[t2];  dk[t2] += scale·ds[t2]·q
//
// Shapes as attentionForwardScalar. Tasks are (sequence, kv head) pairs, so the
// query heads sharing a kv head accumulate into dk, dv in one goroutine.
func attentionBackwardScalar[T tensor.Numeric](dq, dk, dv, dout, q, k, v, att []T, sh Attn) {
	B, Tq, Tk, NH, NKV, HS := sh.B, sh.Tq, sh.Tk, sh.NH, sh.NKV, sh.HS
	scale := T(sh.ScoreScale())
	group := NH / NKV
	qC, kvC := NH*HS, NKV*HS
	parallelFor(B*NKV, 2*Tq*Tk*HS*group, func(task int) {
		b, kh := task/NKV, task%NKV
		dp := make([]T, Tk)
		for h := kh * group; h < (kh+1)*group; h++ {
			for t := 0; t < Tq; t++ {
				last := Tk - Tq + t
				qo := (b*Tq+t)*qC + h*HS
				qv, dqv, do := q[qo:qo+HS], dq[qo:qo+HS], dout[qo:qo+HS]
				a := att[((b*NH+h)*Tq+t)*Tk : ((b*NH+h)*Tq+t+1)*Tk]
				var pdp T
				for t2 := 0; t2 <= last; t2++ {
					ko := (b*Tk+t2)*kvC + kh*HS
					d := dotT(do, v[ko:ko+HS])
					axpyT(dv[ko:ko+HS], a[t2], do)
					dp[t2] = d
					pdp += a[t2] * d
				}
				for t2 := 0; t2 <= last; t2++ {
					ds := a[t2] * (dp[t2] - pdp) * scale
					ko := (b*Tk+t2)*kvC + kh*HS
					axpyT(dqv, ds, k[ko:ko+HS])
					axpyT(dk[ko:ko+HS], ds, qv)
				}
			}
		}
	})
}

// dotT returns Σ a_i·b_i with four partial sums.
func dotT[T tensor.Numeric](a, b []T) T {
	b = b[:len(a)]
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyT computes dst += alpha·x.
func axpyT[T tensor.Numeric](dst []T, alpha T, x []T) {
	x = x[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		dst[i] += alpha * x[i]
		dst[i+1] += alpha * x[i+1]
		dst[i+2] += alpha * x[i+2]
		dst[i+3] += alpha * x[i+3]
	}
	for ; i < len(dst); i++ {
		dst[i] += alpha * x[i]
	}
}

// parallelFor runs body(0..n-1), on up to GOMAXPROCS goroutines when the
// work per task (a rough operation count) makes that worthwhile. Tasks must
// write disjoint memory.
func parallelFor(n, workPerTask int, body func(task int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || n*workPerTask < 1<<16 {
		for i := 0; i < n; i++ {
			body(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				body(i)
			}
		}()
	}
	wg.Wait()
}
