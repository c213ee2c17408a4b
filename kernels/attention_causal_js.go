//go:build js && wasm

package kernels

import (
	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/wasm/simd"
)

// causalBlock is the height of the query row blocks of the causal
// attention products in the browser (a variable for tests).
var causalBlock = 64

// fastAttentionForwardOn is AttentionForward for training (Tq = Tk) in
// the browser: the per-head products run in row blocks of causalBlock
// queries that stop at the block's last key, so the masked upper triangle
// is mostly not computed (5/8 of the work at T = 256). The results equal
// the full products' up to float32 rounding of the blocked sums (with
// Tq ≤ causalBlock, one block: the same products as the full ones). Each
// block's softmax rows (and, in backward, their softmax gradient) run in one
// call of package simd's element-wise module when it is available. It
// reports false (and does nothing) where it does not apply.
func fastAttentionForwardOn[T tensor.Numeric](e tensor.Engine[T], out, att, q, k, v []T, sh Attn) bool {
	B, Tq, Tk, NH, NKV, HS := sh.B, sh.Tq, sh.Tk, sh.NH, sh.NKV, sh.HS
	if Tq != Tk || !is32[T]() || !attentionGemm(e) {
		return false
	}
	scale := T(sh.ScoreScale())
	group := NH / NKV
	qC, kvC := NH*HS, NKV*HS
	bs := causalBlock
	parallelFor(B*NKV, Tq*Tk*HS*group, func(task int) {
		b, kh := task/NKV, task%NKV
		kb, vb := k[b*Tk*kvC+kh*HS:], v[b*Tk*kvC+kh*HS:]
		for h := kh * group; h < (kh+1)*group; h++ {
			qb, ob := q[b*Tq*qC+h*HS:], out[b*Tq*qC+h*HS:]
			a := att[(b*NH+h)*Tq*Tk : (b*NH+h+1)*Tq*Tk]
			for r0 := 0; r0 < Tq; r0 += bs {
				rows := min(bs, Tq-r0)
				cols := r0 + rows
				tensor.GemmStrided(e, false, true, rows, cols, HS, scale, qb[r0*qC:], qC, kb, kvC, 0, a[r0*Tk:], Tk)
				if !simd.SoftmaxRows(asF32(a[r0*Tk:]), rows, Tk, r0+1, Tk) {
					for t := r0; t < r0+rows; t++ {
						row := a[t*Tk : (t+1)*Tk]
						maxv, _ := fastMax(row[:t+1])
						sum, _ := fastExpShiftSum(row[:t+1], maxv)
						inv := T(1 / sum)
						for t2 := 0; t2 <= t; t2++ {
							row[t2] *= inv
						}
						clear(row[t+1:])
					}
				}
				tensor.GemmStrided(e, false, false, rows, HS, cols, 1, a[r0*Tk:], Tk, vb, kvC, 0, ob[r0*qC:], qC)
			}
		}
	})
	return true
}

// fastAttentionBackwardOn is AttentionBackward in the same row blocks.
func fastAttentionBackwardOn[T tensor.Numeric](e tensor.Engine[T], dq, dk, dv, dout, q, k, v, att []T, sh Attn) bool {
	B, Tq, Tk, NH, NKV, HS := sh.B, sh.Tq, sh.Tk, sh.NH, sh.NKV, sh.HS
	if Tq != Tk || !is32[T]() || !attentionGemm(e) {
		return false
	}
	scale := T(sh.ScoreScale())
	group := NH / NKV
	qC, kvC := NH*HS, NKV*HS
	bs := causalBlock
	parallelFor(B*NKV, 2*Tq*Tk*HS*group, func(task int) {
		b, kh := task/NKV, task%NKV
		ds := make([]T, Tq*Tk)
		ko := b*Tk*kvC + kh*HS
		kb, vb, dkb, dvb := k[ko:], v[ko:], dk[ko:], dv[ko:]
		for h := kh * group; h < (kh+1)*group; h++ {
			qo := b*Tq*qC + h*HS
			qb, dqb, dob := q[qo:], dq[qo:], dout[qo:]
			a := att[(b*NH+h)*Tq*Tk : (b*NH+h+1)*Tq*Tk]
			for r0 := 0; r0 < Tq; r0 += bs {
				rows := min(bs, Tq-r0)
				cols := r0 + rows
				pa, da := a[r0*Tk:], ds[r0*Tk:]
				tensor.GemmStrided(e, false, true, rows, cols, HS, 1, dob[r0*qC:], qC, vb, kvC, 0, da, Tk)
				tensor.GemmStrided(e, true, false, cols, HS, rows, 1, pa, Tk, dob[r0*qC:], qC, 1, dvb, kvC)
				if !simd.SoftmaxBackwardRows(asF32(pa), asF32(da), rows, Tk, r0+1, cols, float32(scale)) {
					for t := r0; t < r0+rows; t++ {
						p, d := a[t*Tk:t*Tk+cols], ds[t*Tk:t*Tk+cols]
						var pdp T
						for t2 := 0; t2 <= t; t2++ {
							pdp += p[t2] * d[t2]
						}
						for t2 := 0; t2 <= t; t2++ {
							d[t2] = p[t2] * (d[t2] - pdp) * scale
						}
						clear(d[t+1:])
					}
				}
				tensor.GemmStrided(e, false, false, rows, HS, cols, 1, da, Tk, kb, kvC, 1, dqb[r0*qC:], qC)
				tensor.GemmStrided(e, true, false, cols, HS, rows, 1, da, Tk, qb[r0*qC:], qC, 1, dkb, kvC)
			}
		}
	})
	return true
}
