package llama

import (
	"context"
	"fmt"
	"math"

	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// IgnoreIndex is the target id that contributes no loss.
const IgnoreIndex = -1

// layerActs holds what one block's forward keeps for its backward.
type layerActs[T tensor.Numeric] struct {
	resid []T               // [N, C] block input (residual stream)
	ln1   *tensor.Tensor[T] // [N, C] rms(resid)·attn_norm
	rstd1 []T               // [N]
	q     *tensor.Tensor[T] // [N, NH·HS] rotated (after bias and q norm)
	k, v  *tensor.Tensor[T] // [N, NKV·HS] (k rotated)
	// with a q/k norm (Recipe.QKNorm): the norms' inputs (linear output
	// plus bias) and 1/rms per head; q and k then point to qn and kn
	qraw, kraw   *tensor.Tensor[T] // [N, NH·HS], [N, NKV·HS]
	qn, kn       *tensor.Tensor[T] // [N, NH·HS], [N, NKV·HS] owned buffers
	rstdq, rstdk []T               // [N·NH], [N·NKV]
	att          []T               // [B, NH, Tq, Tk] attention probabilities
	atty         *tensor.Tensor[T] // [N, NH·HS] attention output
	resid2       []T               // [N, C] resid + attn_output
	ln2          *tensor.Tensor[T] // [N, C] rms(resid2)·ffn_norm
	rstd2        []T               // [N]
	gate         *tensor.Tensor[T] // [N, F]
	up           *tensor.Tensor[T] // [N, F]
	hidden       *tensor.Tensor[T] // [N, F] silu(gate)·up (gelu under Recipe.GELU)
	// with post-norms (Recipe.PostNorms): the attn_output and ffn_down
	// outputs, their normed values and 1/rms
	o, d           *tensor.Tensor[T] // [N, C]
	po, pf         []T               // [N, C] rms(o)·post_attention_norm, rms(d)·post_ffw_norm
	rstdPA, rstdPF []T               // [N]
}

// activations are the forward state of one (B, T) batch plus backward
// scratch, allocated once per shape.
type activations[T tensor.Numeric] struct {
	B, T    int
	tokens  []int // [N]
	layers  []layerActs[T]
	resid   []T               // [N, C] output of the last block
	lnf     *tensor.Tensor[T] // [N, C] rms(resid)·output_norm
	rstdf   []T               // [N]
	logits  *tensor.Tensor[T] // [B, T, V]
	targets []int             // [N] of the last Loss
	losses  []T               // [N]
	lse     []T               // [N] log-sum-exp of each row of logits
	dchunk  []T               // [rows, V] dlogits of one chunk of the loss (loss.go)
	lchunk  []T               // [rows, V] logits of one chunk under a quantized head
	dlnf    []T               // [N, C] gradient at the head's input

	// recompute: the layers share one set of buffers (recompute.go); next
	// [N, C] takes a recomputed block's output
	recompute bool
	next      []T

	// backward scratch, allocated on first use
	dres, dln   []T // [N, C]
	dgate, dup  []T // [N, F]
	dq, dqr     []T // [N, NH·HS]
	dk, dkr, dv []T // [N, NKV·HS]
	dpost       []T // [N, C] gradient of a post-norm's input (Recipe.PostNorms)
	dcap        []T // [N, V] Backward's gradient of the logits before the final softcap
}

func newActivations[T tensor.Numeric](c Config, B, Tq, Tk int) *activations[T] {
	N, C, F := B*Tq, c.Dim, c.FFN
	a := &activations[T]{B: B, T: Tq, tokens: make([]int, N), layers: make([]layerActs[T], c.Layers),
		resid: make([]T, N*C), lnf: tensor.Zeros[T](N, C), rstdf: make([]T, N)}
	for l := range a.layers {
		a.layers[l] = layerActs[T]{
			resid: make([]T, N*C), ln1: tensor.Zeros[T](N, C), rstd1: make([]T, N),
			att: make([]T, B*c.Heads*Tq*Tk), atty: tensor.Zeros[T](N, c.Heads*c.HeadDim),
			resid2: make([]T, N*C), ln2: tensor.Zeros[T](N, C), rstd2: make([]T, N),
			hidden: tensor.Zeros[T](N, F),
		}
		la := &a.layers[l]
		if c.recipe().QKNorm {
			la.qn, la.kn = tensor.Zeros[T](N, c.Heads*c.HeadDim), tensor.Zeros[T](N, c.KVHeads*c.HeadDim)
			la.rstdq, la.rstdk = make([]T, N*c.Heads), make([]T, N*c.KVHeads)
		}
		if c.recipe().PostNorms {
			la.po, la.pf, la.rstdPA, la.rstdPF = make([]T, N*C), make([]T, N*C), make([]T, N), make([]T, N)
		}
	}
	return a
}

// checkTokens validates a [B][T] batch of ids and returns B and T.
func (m *Model[T]) checkTokens(what string, tokens [][]int, allowIgnore bool) (int, int, error) {
	if len(tokens) == 0 || len(tokens[0]) == 0 {
		return 0, 0, fmt.Errorf("%w: empty %s batch", ErrShape, what)
	}
	Tn := len(tokens[0])
	for b, row := range tokens {
		if len(row) != Tn {
			return 0, 0, fmt.Errorf("%w: %s row %d has %d ids, row 0 has %d", ErrShape, what, b, len(row), Tn)
		}
		for t, id := range row {
			if (id < 0 || id >= m.Config.VocabSize) && !(allowIgnore && id == IgnoreIndex) {
				return 0, 0, fmt.Errorf("%w: %s[%d][%d] = %d outside [0, %d)", ErrShape, what, b, t, id, m.Config.VocabSize)
			}
		}
	}
	return len(tokens), Tn, nil
}

// Forward computes the logits [B, T, V] of tokens [B][T] (positions 0..T−1)
// and keeps the activations for Backward.
func (m *Model[T]) Forward(ctx context.Context, tokens [][]int) (*tensor.Tensor[T], error) {
	B, Tn, err := m.forwardTrunk(ctx, tokens)
	if err != nil {
		return nil, err
	}
	a := m.acts
	logits, err := m.layerForward(ctx, m.Output, a.lnf, B*Tn, m.Config.VocabSize)
	if err != nil {
		return nil, err
	}
	m.softcap(logits.Data())
	a.logits, err = logits.Reshape(B, Tn, m.Config.VocabSize)
	return a.logits, err
}

// forwardTrunk embeds tokens [B][T] (positions 0..T−1), runs every block
// and the output norm, keeping the activations: a.lnf [N, C] is then the
// head's input. It returns B and T.
func (m *Model[T]) forwardTrunk(ctx context.Context, tokens [][]int) (int, int, error) {
	B, Tn, err := m.checkTokens("tokens", tokens, false)
	if err != nil {
		return 0, 0, err
	}
	a := m.acts
	if a == nil || a.B != B || a.T != Tn || a.recompute != m.recompute {
		a = m.newTrainActivations(B, Tn)
		m.acts = a
	}
	a.logits = nil
	for b, row := range tokens {
		copy(a.tokens[b*Tn:], row)
	}
	m.ensureRope(Tn)
	m.embed(a.layers[0].resid, a.tokens)
	for l, blk := range m.Blocks {
		next := a.resid
		if l+1 < len(a.layers) {
			next = a.layers[l+1].resid
		}
		if err := m.blockForward(ctx, l, blk, &a.layers[l], next, B, Tn, 0, nil, nil); err != nil {
			return 0, 0, err
		}
		if a.recompute {
			a.layers[l].dropOutputs()
		}
		report(ctx, "forward", l+1, len(m.Blocks))
	}
	c := m.Config
	kernels.RMSNormForward(a.lnf.Data(), a.rstdf, a.resid, m.OutputNorm.Value.Data(), B*Tn, c.Dim, c.Eps)
	return B, Tn, nil
}

// headForward applies the output norm and the head to a.resid.
func (m *Model[T]) headForward(ctx context.Context, a *activations[T], N int) (*tensor.Tensor[T], error) {
	c := m.Config
	kernels.RMSNormForward(a.lnf.Data(), a.rstdf, a.resid, m.OutputNorm.Value.Data(), N, c.Dim, c.Eps)
	logits, err := m.layerForward(ctx, m.Output, a.lnf, N, c.VocabSize)
	if err == nil {
		m.softcap(logits.Data())
	}
	return logits, err
}

// softcap caps logits in place under a final softcap (Config.FinalSoftcap).
func (m *Model[T]) softcap(logits []T) {
	if c := m.Config.FinalSoftcap; c > 0 {
		kernels.SoftcapForward(logits, c)
	}
}

// embed writes the embeddings of tokens to out [N, C], times √C (in
// float32, as ggml_scale with sqrtf(n_embd)) under Recipe.EmbedScale.
func (m *Model[T]) embed(out []T, tokens []int) {
	m.embedTokens(out, tokens)
	if s := m.embedScale(); s != 1 {
		for i := range out {
			out[i] *= s
		}
	}
}

// embedScale is √C under Recipe.EmbedScale, else 1.
func (m *Model[T]) embedScale() T {
	if !m.Config.recipe().EmbedScale {
		return 1
	}
	return T(float32(math.Sqrt(float64(m.Config.Dim))))
}

// blockForward runs block blk (layer l) on la.resid (B×Tq new tokens at
// positions pos0…) and writes the block output to next. With a KV cache
// (kc, vc [P, NKV·HS], B = 1) the rotated keys and values are stored at
// pos0 and the queries attend to the cache's first pos0+Tq entries (the
// last SlidingWindow of them on a local layer).
func (m *Model[T]) blockForward(ctx context.Context, l int, blk *Block[T], la *layerActs[T], next []T, B, Tq, pos0 int, kc, vc []T) error {
	c := m.Config
	N, NH, NKV, HS := B*Tq, c.Heads, c.KVHeads, c.HeadDim
	var err error
	kernels.RMSNormForward(la.ln1.Data(), la.rstd1, la.resid, blk.AttnNorm.Value.Data(), N, c.Dim, c.Eps)
	if la.q, err = m.layerForward(ctx, blk.Q, la.ln1, N, NH*HS); err != nil {
		return err
	}
	if la.k, err = m.layerForward(ctx, blk.K, la.ln1, N, NKV*HS); err != nil {
		return err
	}
	if la.v, err = m.layerForward(ctx, blk.V, la.ln1, N, NKV*HS); err != nil {
		return err
	}
	m.qkvExtrasForward(blk, la, N)
	mode := c.recipe().Rope
	cos, sin := m.ropeOf(l)
	kernels.RopeForward(la.q.Data(), la.q.Data(), cos, sin, B, Tq, NH, HS, pos0, mode)
	kernels.RopeForward(la.k.Data(), la.k.Data(), cos, sin, B, Tq, NKV, HS, pos0, mode)
	k, v, Tk := la.k.Data(), la.v.Data(), Tq
	if kc != nil {
		Tk = pos0 + Tq
		copy(kc[pos0*NKV*HS:], k)
		copy(vc[pos0*NKV*HS:], v)
		k, v = kc[:Tk*NKV*HS], vc[:Tk*NKV*HS]
	}
	kernels.AttentionForward(m.engine, la.atty.Data(), la.att, la.q.Data(), k, v, c.attn(l, B, Tq, Tk))
	o, err := m.layerForward(ctx, blk.O, la.atty, N, c.Dim)
	if err != nil {
		return err
	}
	kernels.ResidualForward(la.resid2, la.resid, m.postNormForward(blk.PostAttnNorm, o, &la.o, la.po, la.rstdPA, N))
	kernels.RMSNormForward(la.ln2.Data(), la.rstd2, la.resid2, blk.FFNNorm.Value.Data(), N, c.Dim, c.Eps)
	if la.gate, err = m.layerForward(ctx, blk.Gate, la.ln2, N, c.FFN); err != nil {
		return err
	}
	if la.up, err = m.layerForward(ctx, blk.Up, la.ln2, N, c.FFN); err != nil {
		return err
	}
	switch {
	case !c.recipe().GELU:
		kernels.SwiGLUForward(la.hidden.Data(), la.gate.Data(), la.up.Data())
	case m.geluGGML:
		gegluForwardGGML(la.hidden.Data(), la.gate.Data(), la.up.Data())
	default:
		kernels.GeGLUForward(la.hidden.Data(), la.gate.Data(), la.up.Data())
	}
	d, err := m.layerForward(ctx, blk.Down, la.hidden, N, c.Dim)
	if err != nil {
		return err
	}
	kernels.ResidualForward(next, la.resid2, m.postNormForward(blk.PostFFNNorm, d, &la.d, la.pf, la.rstdPF, N))
	return nil
}

// postNormForward returns what joins the residual stream from a block's
// attention or feed-forward output y [N, C]: y itself, or with a post-norm
// w (Recipe.PostNorms) rms(y)·w written to out, keeping y in *keep and
// 1/rms in rstd for the backward pass.
func (m *Model[T]) postNormForward(w *nn.Parameter[T], y *tensor.Tensor[T], keep **tensor.Tensor[T], out, rstd []T, N int) []T {
	if w == nil {
		return y.Data()
	}
	*keep = y
	kernels.RMSNormForward(out, rstd, y.Data(), w.Value.Data(), N, m.Config.Dim, m.Config.Eps)
	return out
}

// qkvExtrasForward applies the block's optional steps between the q/k/v
// linears and rope: the biases (in place), then the per-head q and k
// norms (into la.qn, la.kn, which become la.q and la.k).
func (m *Model[T]) qkvExtrasForward(blk *Block[T], la *layerActs[T], N int) {
	c := m.Config
	for _, x := range []struct {
		b   *nn.Parameter[T]
		out *tensor.Tensor[T]
	}{{blk.QBias, la.q}, {blk.KBias, la.k}, {blk.VBias, la.v}} {
		if x.b != nil {
			kernels.BiasForward(x.out.Data(), x.b.Value.Data(), N, x.b.Value.Size())
		}
	}
	if blk.QNorm == nil {
		return
	}
	la.qraw, la.kraw = la.q, la.k
	kernels.RMSNormForward(la.qn.Data(), la.rstdq, la.qraw.Data(), blk.QNorm.Value.Data(), N*c.Heads, c.HeadDim, c.Eps)
	kernels.RMSNormForward(la.kn.Data(), la.rstdk, la.kraw.Data(), blk.KNorm.Value.Data(), N*c.KVHeads, c.HeadDim, c.Eps)
	la.q, la.k = la.qn, la.kn
}

// layerForward runs a linear slot on x [N, in] (rounded first as ggml
// does when MatchGGML asked for it) and checks that it returned N·out
// values.
func (m *Model[T]) layerForward(ctx context.Context, l nn.Node[T], x *tensor.Tensor[T], N, out int) (*tensor.Tensor[T], error) {
	if typ, ok := m.actTypes[l.Name()]; ok {
		xr := tensor.Zeros[T](x.Shape()...)
		roundActivations(xr.Data(), x.Data(), typ, x.Dim(-1))
		x = xr
	}
	y, err := l.Forward(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", l.Name(), err)
	}
	if y.Size() != N*out {
		return nil, fmt.Errorf("%w: layer %s returned %v, want [%d, %d]", ErrShape, l.Name(), y.Shape(), N, out)
	}
	return y, nil
}

// layerBackward runs a slot's Backward for dy [N, out] and input x and
// returns dx's data.
func layerBackward[T tensor.Numeric](ctx context.Context, l nn.Node[T], dy []T, x *tensor.Tensor[T], N, out int) ([]T, error) {
	g, err := l.Backward(ctx, nn.FullBackprop, tensor.FromSlice(dy, N, out), x)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", l.Name(), err)
	}
	if len(g) != 1 || g[0] == nil || g[0].Size() != x.Size() {
		return nil, fmt.Errorf("%w: layer %s returned no input gradient of shape %v", ErrShape, l.Name(), x.Shape())
	}
	return g[0].Data(), nil
}

// gradOf returns p's gradient data, or nil when p is frozen.
func gradOf[T tensor.Numeric](p *nn.Parameter[T]) []T {
	if p == nil || !p.Trainable || p.Grad == nil {
		return nil
	}
	return p.Grad.Data()
}
