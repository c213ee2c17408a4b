package llama

import (
	"context"
	"fmt"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Backward propagates dlogits [B, T, V] (the gradient of the loss with
// respect to the logits of the last Forward) through the model. It
// accumulates (+=) the gradients of every trainable parameter: LoRA A and B
// through the wrapped layers' Backward, and, after SetTrainable(true), the
// embeddings, norms, linear weights and head.
func (m *Model[T]) Backward(ctx context.Context, dlogits *tensor.Tensor[T]) error {
	a := m.acts
	if a == nil || a.logits == nil {
		return ErrNoForward
	}
	c := m.Config
	N := a.B * a.T
	if dlogits == nil || dlogits.Size() != N*c.VocabSize {
		return fmt.Errorf("%w: dlogits must be [%d, %d, %d]", ErrShape, a.B, a.T, c.VocabSize)
	}
	dy := dlogits.Data()
	if c.FinalSoftcap > 0 {
		if len(a.dcap) != len(dy) {
			a.dcap = make([]T, len(dy))
		}
		copy(a.dcap, dy)
		kernels.SoftcapBackward(a.dcap, a.logits.Data(), c.FinalSoftcap)
		dy = a.dcap
	}
	dlnf, err := layerBackward(ctx, m.Output, dy, a.lnf, N, c.VocabSize)
	if err != nil {
		return err
	}
	return m.backwardTrunk(ctx, dlnf)
}

// backwardTrunk propagates dlnf [N, C], the gradient at the head's input,
// through the output norm and every block down to the embeddings,
// accumulating parameter gradients.
func (m *Model[T]) backwardTrunk(ctx context.Context, dlnf []T) error {
	a, c := m.acts, m.Config
	N := a.B * a.T
	m.ensureBackwardScratch()
	clear(a.dres)
	kernels.RMSNormBackward(a.dres, gradOf(m.OutputNorm), dlnf, a.resid, m.OutputNorm.Value.Data(), a.rstdf, N, c.Dim)
	for l := len(m.Blocks) - 1; l >= 0; l-- {
		// below block 0's q/k/v there is only attn_norm and token_embd: when
		// both are frozen their input gradient is not needed
		needDX := l > 0 || gradOf(m.TokenEmbd) != nil || gradOf(m.Blocks[0].AttnNorm) != nil
		if err := m.recomputeBlock(ctx, l); err != nil {
			return err
		}
		if err := m.blockBackward(ctx, l, m.Blocks[l], &a.layers[l], a, needDX); err != nil {
			return err
		}
		if a.recompute {
			a.layers[l].dropOutputs()
		}
		report(ctx, "backward", len(m.Blocks)-l, len(m.Blocks))
	}
	if g := gradOf(m.TokenEmbd); g != nil {
		if s := m.embedScale(); s != 1 {
			for i := range a.dres {
				a.dres[i] *= s
			}
		}
		kernels.EncoderBackward(g, a.dres, a.tokens, c.Dim)
	}
	return nil
}

// ensureBackwardScratch allocates the backward buffers of the current
// activations on first use.
func (m *Model[T]) ensureBackwardScratch() {
	a, c := m.acts, m.Config
	if a.dres != nil {
		return
	}
	N := a.B * a.T
	qC, kvC := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	a.dres, a.dln = make([]T, N*c.Dim), make([]T, N*c.Dim)
	a.dgate, a.dup = make([]T, N*c.FFN), make([]T, N*c.FFN)
	a.dq, a.dqr = make([]T, N*qC), make([]T, N*qC)
	a.dk, a.dkr, a.dv = make([]T, N*kvC), make([]T, N*kvC), make([]T, N*kvC)
	if c.recipe().PostNorms {
		a.dpost = make([]T, N*c.Dim)
	}
}

// blockBackward turns a.dres = dL/d(block output) into dL/d(block input) in
// place (the residual path is the identity) and accumulates the block's
// parameter gradients (layer l). It reads like blockForward in reverse.
// Without needDX, q/k/v run in ParamsOnly mode and a.dres is left
// unfinished.
func (m *Model[T]) blockBackward(ctx context.Context, l int, blk *Block[T], la *layerActs[T], a *activations[T], needDX bool) error {
	c := m.Config
	B, Tn, NH, NKV, HS := a.B, a.T, c.Heads, c.KVHeads, c.HeadDim
	N := B * Tn
	// feed-forward: next = resid2 + [post_ffw_norm] down(act(gate)·up)
	dh, err := layerBackward(ctx, blk.Down, m.postNormBackward(blk.PostFFNNorm, la.d, la.rstdPF, a, N), la.hidden, N, c.Dim)
	if err != nil {
		return err
	}
	clear(a.dgate)
	clear(a.dup)
	if c.recipe().GELU {
		kernels.GeGLUBackward(a.dgate, a.dup, dh, la.gate.Data(), la.up.Data())
	} else {
		kernels.SwiGLUBackward(a.dgate, a.dup, dh, la.gate.Data(), la.up.Data())
	}
	if err := m.sumBackward(ctx, a.dln, la.ln2, N, []linearGrad[T]{{blk.Gate, a.dgate, c.FFN}, {blk.Up, a.dup, c.FFN}}); err != nil {
		return err
	}
	kernels.RMSNormBackward(a.dres, gradOf(blk.FFNNorm), a.dln, la.resid2, blk.FFNNorm.Value.Data(), la.rstd2, N, c.Dim)
	// attention: resid2 = resid + [post_attention_norm] o(attn(rope(q), rope(k), v))
	datty, err := layerBackward(ctx, blk.O, m.postNormBackward(blk.PostAttnNorm, la.o, la.rstdPA, a, N), la.atty, N, c.Dim)
	if err != nil {
		return err
	}
	clear(a.dq)
	clear(a.dk)
	clear(a.dv)
	kernels.AttentionBackward(m.engine, a.dq, a.dk, a.dv, datty, la.q.Data(), la.k.Data(), la.v.Data(), la.att, c.attn(l, B, Tn, Tn))
	clear(a.dqr)
	clear(a.dkr)
	mode := c.recipe().Rope
	cos, sin := m.ropeOf(l)
	kernels.RopeBackward(a.dqr, a.dq, cos, sin, B, Tn, NH, HS, 0, mode)
	kernels.RopeBackward(a.dkr, a.dk, cos, sin, B, Tn, NKV, HS, 0, mode)
	dq, dk := m.qkvExtrasBackward(blk, la, a, N)
	qkv := []linearGrad[T]{{blk.Q, dq, NH * HS}, {blk.K, dk, NKV * HS}, {blk.V, a.dv, NKV * HS}}
	if !needDX {
		for _, l := range qkv {
			if _, err := l.layer.Backward(ctx, nn.ParamsOnly, tensor.FromSlice(l.dy, N, l.out), la.ln1); err != nil {
				return fmt.Errorf("llama: %s: %w", l.layer.Name(), err)
			}
		}
		return nil
	}
	if err := m.sumBackward(ctx, a.dln, la.ln1, N, qkv); err != nil {
		return err
	}
	kernels.RMSNormBackward(a.dres, gradOf(blk.AttnNorm), a.dln, la.resid, blk.AttnNorm.Value.Data(), la.rstd1, N, c.Dim)
	return nil
}

// qkvExtrasBackward is qkvExtrasForward in reverse: from a.dqr, a.dkr (the
// gradients of the normed, unrotated q and k) and a.dv it accumulates the
// q/k norm and bias gradients and returns the gradients of the q and k
// linears' outputs (a.dq, a.dk reused under a q/k norm).
func (m *Model[T]) qkvExtrasBackward(blk *Block[T], la *layerActs[T], a *activations[T], N int) (dq, dk []T) {
	c := m.Config
	dq, dk = a.dqr, a.dkr
	if blk.QNorm != nil {
		clear(a.dq)
		clear(a.dk)
		kernels.RMSNormBackward(a.dq, gradOf(blk.QNorm), a.dqr, la.qraw.Data(), blk.QNorm.Value.Data(), la.rstdq, N*c.Heads, c.HeadDim)
		kernels.RMSNormBackward(a.dk, gradOf(blk.KNorm), a.dkr, la.kraw.Data(), blk.KNorm.Value.Data(), la.rstdk, N*c.KVHeads, c.HeadDim)
		dq, dk = a.dq, a.dk
	}
	for _, x := range []struct {
		b  *nn.Parameter[T]
		dy []T
	}{{blk.QBias, dq}, {blk.KBias, dk}, {blk.VBias, a.dv}} {
		if g := gradOf(x.b); g != nil {
			kernels.BiasBackward(g, x.dy, N, len(g))
		}
	}
	return dq, dk
}

// postNormBackward returns the gradient of the attention or feed-forward
// output y from a.dres (the gradient of what joined the residual stream):
// a.dres itself without a post-norm w, else the post-norm's input gradient
// (into a.dpost), accumulating w's gradient.
func (m *Model[T]) postNormBackward(w *nn.Parameter[T], y *tensor.Tensor[T], rstd []T, a *activations[T], N int) []T {
	if w == nil {
		return a.dres
	}
	clear(a.dpost)
	kernels.RMSNormBackward(a.dpost, gradOf(w), a.dres, y.Data(), w.Value.Data(), rstd, N, m.Config.Dim)
	return a.dpost
}

// linearGrad is one layer reading a shared input, with its output gradient.
type linearGrad[T tensor.Numeric] struct {
	layer nn.Node[T]
	dy    []T
	out   int
}

// sumBackward writes into dx the sum of the input gradients of layers that
// all read x (q/k/v from ln1; gate/up from ln2).
func (m *Model[T]) sumBackward(ctx context.Context, dx []T, x *tensor.Tensor[T], N int, ls []linearGrad[T]) error {
	clear(dx)
	for _, l := range ls {
		g, err := layerBackward(ctx, l.layer, l.dy, x, N, l.out)
		if err != nil {
			return err
		}
		for i, v := range g {
			dx[i] += v
		}
	}
	return nil
}
