package kernels

import (
	"math"
	"unsafe"

	"github.com/webtune/webtune/tensor"
)

// attentionGemm reports whether attention's per-head products run on e:
// for float32-layout T when e is a tensor.StridedEngine (the blocked
// native engine, the browser's SIMD engine). float64 and the gonum engine
// keep the scalar loops of attentionForwardScalar/Backward, whose results the
// exact gradient checks pin down.
func attentionGemm[T tensor.Numeric](e tensor.Engine[T]) bool {
	var zero T
	if unsafe.Sizeof(zero) != 4 || e == nil {
		return false
	}
	_, ok := e.(tensor.StridedEngine[T])
	return ok
}

// AttentionForward is causal grouped-query attention over the shape sh.
// Query t sits at position Tk−Tq+t and attends keys 0..Tk−Tq+t (only the
// last sh.Window of them when sh.Window > 0); query head
// h reads kv head h/(NH/NKV). Scores are scaled by sh.Scale (default
// 1/√HS) and normalised with a stable softmax (max subtracted, sum in
// float64 as ggml's soft_max). The probabilities are kept in att for the
// backward pass. The per-head products S = Q_h·K_hᵀ and O_h = P·V_h run on
// e when it is a float32 tensor.StridedEngine, else in scalar loops.
//
//	out  [B, Tq, NH, HS]
//	att  [B, NH, Tq, Tk]  probabilities (masked entries 0)
//	q    [B, Tq, NH, HS]  already rotated
//	k, v [B, Tk, NKV, HS] k already rotated
func AttentionForward[T tensor.Numeric](e tensor.Engine[T], out, att, q, k, v []T, sh Attn) {
	B, Tq, Tk, NH, NKV, HS := sh.B, sh.Tq, sh.Tk, sh.NH, sh.NKV, sh.HS
	if !attentionGemm(e) {
		attentionForwardScalar(out, att, q, k, v, sh)
		return
	}
	if sh.Window <= 0 && fastAttentionForwardOn(e, out, att, q, k, v, sh) {
		return
	}
	scale := T(sh.ScoreScale())
	group := NH / NKV
	qC, kvC := NH*HS, NKV*HS
	parallelFor(B*NKV, Tq*Tk*HS*group, func(task int) {
		b, kh := task/NKV, task%NKV
		kb, vb := k[b*Tk*kvC+kh*HS:], v[b*Tk*kvC+kh*HS:]
		for h := kh * group; h < (kh+1)*group; h++ {
			qb := q[b*Tq*qC+h*HS:]
			a := att[(b*NH+h)*Tq*Tk : (b*NH+h+1)*Tq*Tk]
			// S[Tq×Tk] = scale·Q_h·K_hᵀ (the masked part is computed and
			// then overwritten)
			tensor.GemmStrided(e, false, true, Tq, Tk, HS, scale, qb, qC, kb, kvC, 0, a, Tk)
			for t := 0; t < Tq; t++ {
				last := Tk - Tq + t
				first := sh.first(last)
				full := a[t*Tk : (t+1)*Tk]
				clear(full[:first])
				clear(full[last+1:])
				row := full[first : last+1]
				maxv, ok := fastMax(row)
				if !ok {
					maxv = T(math.Inf(-1))
					for _, s := range row {
						maxv = max(maxv, s)
					}
				}
				sum, ok := fastExpShiftSum(row, maxv)
				for t2 := 0; !ok && t2 < len(row); t2++ {
					ex := T(math.Exp(float64(row[t2] - maxv)))
					row[t2] = ex
					sum += float64(ex)
				}
				inv := T(1 / sum)
				for t2 := range row {
					row[t2] *= inv
				}
			}
			// O_h[Tq×HS] = P·V_h
			tensor.GemmStrided(e, false, false, Tq, HS, Tk, 1, a, Tk, vb, kvC, 0, out[b*Tq*qC+h*HS:], qC)
		}
	})
}

// AttentionBackward accumulates (+=) dq, dk, dv from dout through the
// softmax kept by AttentionForward (shapes as there), with the per-head
// products on e when attentionGemm(e):
//
//	dP   = dO_h·V_hᵀ            dV_h += Pᵀ·dO_h
//	dS   = P∘(dP − rowsum(P∘dP))·scale
//	dQ_h += dS·K_h              dK_h += dSᵀ·Q_h
//
// A window needs nothing here: the probabilities it masks are 0, so their
// dS and contributions are 0.
func AttentionBackward[T tensor.Numeric](e tensor.Engine[T], dq, dk, dv, dout, q, k, v, att []T, sh Attn) {
	B, Tq, Tk, NH, NKV, HS := sh.B, sh.Tq, sh.Tk, sh.NH, sh.NKV, sh.HS
	if !attentionGemm(e) {
		attentionBackwardScalar(dq, dk, dv, dout, q, k, v, att, sh)
		return
	}
	if fastAttentionBackwardOn(e, dq, dk, dv, dout, q, k, v, att, sh) {
		return
	}
	scale := T(sh.ScoreScale())
	group := NH / NKV
	qC, kvC := NH*HS, NKV*HS
	parallelFor(B*NKV, 2*Tq*Tk*HS*group, func(task int) {
		b, kh := task/NKV, task%NKV
		ds := make([]T, Tq*Tk)
		ko := b*Tk*kvC + kh*HS
		kb, vb, dkb, dvb := k[ko:], v[ko:], dk[ko:], dv[ko:]
		for h := kh * group; h < (kh+1)*group; h++ {
			qo := b*Tq*qC + h*HS
			qb, dqb, dob := q[qo:], dq[qo:], dout[qo:]
			a := att[(b*NH+h)*Tq*Tk : (b*NH+h+1)*Tq*Tk]
			tensor.GemmStrided(e, false, true, Tq, Tk, HS, 1, dob, qC, vb, kvC, 0, ds, Tk)
			tensor.GemmStrided(e, true, false, Tk, HS, Tq, 1, a, Tk, dob, qC, 1, dvb, kvC)
			for t := 0; t < Tq; t++ {
				last := Tk - Tq + t
				p, d := a[t*Tk:(t+1)*Tk], ds[t*Tk:(t+1)*Tk]
				var pdp T
				for t2 := 0; t2 <= last; t2++ {
					pdp += p[t2] * d[t2]
				}
				for t2 := 0; t2 <= last; t2++ {
					d[t2] = p[t2] * (d[t2] - pdp) * scale
				}
				clear(d[last+1:])
			}
			tensor.GemmStrided(e, false, false, Tq, HS, Tk, 1, ds, Tk, kb, kvC, 1, dqb, qC)
			tensor.GemmStrided(e, true, false, Tk, HS, Tq, 1, ds, Tk, qb, qC, 1, dkb, kvC)
		}
	})
}
