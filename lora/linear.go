package lora

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// LoraLinear wraps a frozen linear layer W (dense nn.Linear, nn.NF4Linear or
// any Layer with the same shape contract) with a trainable low-rank update:
//
//	y = base(x) + s·dropout(x)·Aᵀ·Bᵀ     s = alpha/r (alpha/√r with rsLoRA)
//
// for x [..., in]. It holds scratch buffers and the last dropout mask, so it
// is not safe for concurrent use.
type LoraLinear[T tensor.Numeric] struct {
	A *nn.Parameter[T] // [r, in], named name+".lora_a"
	B *nn.Parameter[T] // [out, r], named name+".lora_b", zero at start

	name    string
	base    nn.Node[T]
	engine  tensor.Engine[T]
	in, out int
	rank    int
	alpha   float32
	rslora  bool
	scale   T

	dropout  float64
	training bool
	rng      *rand.Rand // A's initialisation
	mask     []T        // [N×in] of the last training Forward: 0 or 1/(1−p); nil without dropout
	// Dropout masks are a function of (dropSeed, dropKey, row position):
	// see SetDropoutKey.
	dropSeed uint64
	dropKey  uint64
	dropPos  int
	dropSet  bool // dropKey was set by SetDropoutKey: keep it; otherwise advance it after each training Forward

	outShape []int
	h, dh    []T // scratch [N×r]
	bt, dbt  []T // scratch [r×out]: Bᵀ and dBᵀ
	xd, dxd  []T // scratch [N×in], with dropout only
}

// NewLoraLinear wraps base, whose input and output widths are dIn and dOut
// (checked against base when it implements LinearInfo), in a LoRA layer of
// the given rank and alpha with PEFT's defaults: A ~ U(±1/√in) drawn from a
// stream seeded by the name, B = 0, scale alpha/rank, no dropout. Every
// parameter of base is frozen. The layer is named name (usually
// base.Name(), so that ReplaceLayer puts it in base's slot). With
// InjectLoRA's options, rsLoRA, other inits, dropout and seeds are available.
func NewLoraLinear[T tensor.Numeric](name string, base nn.Node[T], rank int, alpha float32, engine tensor.Engine[T], dIn, dOut int) (*LoraLinear[T], error) {
	l, err := newLoraLinear(name, base, rank, alpha, engine, dIn, dOut, config{})
	if err != nil {
		return nil, err
	}
	l.freezeBase()
	return l, nil
}

// freezeBase freezes every parameter of the base (PEFT's bias="none").
func (l *LoraLinear[T]) freezeBase() {
	for _, p := range l.base.Parameters() {
		p.SetTrainable(false)
	}
}

// freezeBases freezes the bases of the LoraLinears among ls.
func freezeBases[T tensor.Numeric](ls []Layer[T]) {
	for _, l := range ls {
		if ll, ok := l.(*LoraLinear[T]); ok {
			ll.freezeBase()
		}
	}
}

func newLoraLinear[T tensor.Numeric](name string, base nn.Node[T], rank int, alpha float32, engine tensor.Engine[T], dIn, dOut int, c config) (*LoraLinear[T], error) {
	if base == nil || engine == nil {
		return nil, configErr("layer %q: nil base or engine", name)
	}
	if err := validRankAlpha(rank, alpha); err != nil {
		return nil, fmt.Errorf("layer %q: %w", name, err)
	}
	if dIn <= 0 || dOut <= 0 {
		return nil, configErr("layer %q: dIn=%d dOut=%d", name, dIn, dOut)
	}
	if li, ok := base.(LinearInfo); ok && (li.InFeatures() != dIn || li.OutFeatures() != dOut) {
		return nil, configErr("layer %q: base is %d→%d, not %d→%d", name, li.InFeatures(), li.OutFeatures(), dIn, dOut)
	}
	if c.dropout < 0 || c.dropout >= 1 {
		return nil, configErr("layer %q: dropout %v outside [0, 1)", name, c.dropout)
	}
	l := &LoraLinear[T]{name: name, base: base, engine: engine, in: dIn, out: dOut,
		dropout: c.dropout, training: true, rng: layerRand(c.seed, name),
		dropSeed: layerRand(c.seed, name+"/dropout").Uint64()}
	l.setAlpha(rank, alpha, c.rslora)
	a := make([]T, rank*dIn)
	initA(a, c.init, rank, dIn, l.rng)
	l.A = nn.NewParameter(name+".lora_a", tensor.FromSlice(a, rank, dIn), true)
	l.B = nn.NewParameter(name+".lora_b", tensor.Zeros[T](dOut, rank), true)
	return l, nil
}

// initA fills a [r×in] by the chosen rule (see Init).
func initA[T tensor.Numeric](a []T, init Init, r, in int, rng *rand.Rand) {
	switch init {
	case InitKaiming:
		bound := 1 / math.Sqrt(float64(in))
		for i := range a {
			a[i] = T((2*rng.Float64() - 1) * bound)
		}
	case InitGaussian:
		for i := range a {
			a[i] = T(rng.NormFloat64() / float64(r))
		}
	default:
		for i := range a {
			a[i] = T(rng.NormFloat64())
		}
	}
}

// setAlpha sets rank, alpha and the scale s = alpha/r or alpha/√r.
func (l *LoraLinear[T]) setAlpha(rank int, alpha float32, rslora bool) {
	l.rank, l.alpha, l.rslora = rank, alpha, rslora
	d := float64(rank)
	if rslora {
		d = math.Sqrt(d)
	}
	l.scale = T(float64(alpha) / d)
}

// Alpha returns alpha.
func (l *LoraLinear[T]) Alpha() float32 { return l.alpha }

// Rank returns r.
func (l *LoraLinear[T]) Rank() int { return l.rank }

// Scale returns s: alpha/r, or alpha/√r with rsLoRA.
func (l *LoraLinear[T]) Scale() float64 { return float64(l.scale) }

// RSLoRA reports whether the scale is alpha/√r.
func (l *LoraLinear[T]) RSLoRA() bool { return l.rslora }

// Dropout returns the dropout probability on the adapter input.
func (l *LoraLinear[T]) Dropout() float64 { return l.dropout }

// Base returns the wrapped (frozen) layer.
func (l *LoraLinear[T]) Base() nn.Node[T] { return l.base }

// Engine returns the engine the adapter computes with.
func (l *LoraLinear[T]) Engine() tensor.Engine[T] { return l.engine }

// InFeatures returns in.
func (l *LoraLinear[T]) InFeatures() int { return l.in }

// OutFeatures returns out.
func (l *LoraLinear[T]) OutFeatures() int { return l.out }

// SetTraining turns dropout on (true, the initial state) or off (for
// inference). Without dropout it changes nothing.
func (l *LoraLinear[T]) SetTraining(on bool) { l.training = on }

// SetDropoutKey makes the dropout masks of the following training Forwards
// those of draw key, with the input's first row at position pos: the mask
// of row j is drawn from a stream seeded by the layer's seed, key and
// pos+j only. A training run sets the key from its step and micro-batch
// and pos from the row's place in the whole batch, so a resumed run and
// data-parallel replicas (each with its share of the rows) draw the masks
// of an uninterrupted single run, with no random state to save. Until the
// first call the key starts at 0 and advances after every training Forward.
func (l *LoraLinear[T]) SetDropoutKey(key uint64, pos int) {
	l.dropKey, l.dropPos, l.dropSet = key, pos, true
}

// Name returns the layer name.
func (l *LoraLinear[T]) Name() string { return l.name }

// SetName renames the layer (not its parameters, nor the base).
func (l *LoraLinear[T]) SetName(name string) { l.name = name }

// OpType returns "LoraLinear".
func (l *LoraLinear[T]) OpType() string { return "LoraLinear" }

// Attributes describes the adapter and its base.
func (l *LoraLinear[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"in_features": l.in, "out_features": l.out, "rank": l.rank,
		"alpha": l.alpha, "scale": float64(l.scale), "use_rslora": l.rslora,
		"dropout": l.dropout, "base_op": l.base.OpType()}
}

// Parameters returns A and B only: the base is frozen.
func (l *LoraLinear[T]) Parameters() []*nn.Parameter[T] { return []*nn.Parameter[T]{l.A, l.B} }

// OutputShape returns the shape of the last output, or [out] before any.
func (l *LoraLinear[T]) OutputShape() []int {
	if l.outShape == nil {
		return []int{l.out}
	}
	return append([]int(nil), l.outShape...)
}

// Forward computes y = base(x) + s·dropout(x)·Aᵀ·Bᵀ for x [..., in]; y is
// [..., out]. The base's output tensor is reused for y.
func (l *LoraLinear[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, n, err := l.input(inputs)
	if err != nil {
		return nil, err
	}
	y, err := l.base.Forward(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("lora: layer %q: base: %w", l.name, err)
	}
	if y == nil || y.Dims() == 0 || y.Size() != n*l.out || y.Dim(-1) != l.out {
		return nil, fmt.Errorf("%w: layer %q: base output %v, want [..., %d]", ErrShape, l.name, shapeOf(y), l.out)
	}
	xd := x.Data()
	l.mask = l.mask[:0]
	if l.dropout > 0 && l.training {
		l.mask = grow(l.mask, n*l.in)
		l.xd = grow(l.xd, n*l.in)
		dropoutForward(l.xd, l.mask, xd, l.in, l.dropout, l.dropSeed^mix64(l.dropKey), l.dropPos)
		if !l.dropSet {
			l.dropKey++
		}
		xd = l.xd
	}
	l.h, l.bt = grow(l.h, n*l.rank), grow(l.bt, l.rank*l.out)
	transpose(l.bt, l.B.Value.Data(), l.out, l.rank)
	loraForward(l.engine, y.Data(), l.h, xd, l.A.Value.Data(), l.bt, l.scale, n, l.in, l.rank, l.out)
	l.outShape = y.Shape()
	return y, nil
}

// Backward accumulates dA and dB (each when trainable) and returns dx
// through the base and the adapter (nil in ParamsOnly mode, where the base
// is not called at all: it has no trainable parameters). With dropout it
// must follow the training Forward of an input of the same size.
func (l *LoraLinear[T]) Backward(ctx context.Context, mode nn.BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, n, err := l.input(inputs)
	if err != nil {
		return nil, err
	}
	if dy == nil || dy.Dims() == 0 || dy.Size() != n*l.out || dy.Dim(-1) != l.out {
		return nil, fmt.Errorf("%w: layer %q: output gradient %v for input %v", ErrShape, l.name, shapeOf(dy), x.Shape())
	}
	xd, mask, err := l.droppedInput(x.Data())
	if err != nil {
		return nil, err
	}
	var dx *tensor.Tensor[T]
	var dxd []T
	if mode != nn.ParamsOnly {
		g, err := l.base.Backward(ctx, mode, dy, x)
		if err != nil {
			return nil, fmt.Errorf("lora: layer %q: base: %w", l.name, err)
		}
		if len(g) == 0 || g[0] == nil || g[0].Size() != x.Size() {
			return nil, fmt.Errorf("%w: layer %q: base returned no input gradient", ErrShape, l.name)
		}
		dx, dxd = g[0], g[0].Data()
		if mask != nil {
			l.dxd = grow(l.dxd, n*l.in)
		}
	}
	var dA, dB []T
	if l.A.Trainable && l.A.Grad != nil {
		dA = l.A.Grad.Data()
	}
	if l.B.Trainable && l.B.Grad != nil {
		dB = l.B.Grad.Data()
	}
	l.h, l.dh = grow(l.h, n*l.rank), grow(l.dh, n*l.rank)
	l.bt, l.dbt = grow(l.bt, l.rank*l.out), grow(l.dbt, l.rank*l.out)
	transpose(l.bt, l.B.Value.Data(), l.out, l.rank)
	loraBackward(l.engine, dxd, l.dxd, mask, dA, dB, l.h, l.dh, l.dbt, dy.Data(), xd,
		l.A.Value.Data(), l.bt, l.scale, n, l.in, l.rank, l.out)
	return []*tensor.Tensor[T]{dx}, nil
}

// droppedInput returns the adapter's input of the last Forward, x ⊙ mask,
// and the mask (x itself and nil without dropout).
func (l *LoraLinear[T]) droppedInput(x []T) (xd, mask []T, err error) {
	if l.dropout == 0 || !l.training {
		return x, nil, nil
	}
	if len(l.mask) != len(x) {
		return nil, nil, fmt.Errorf("%w: layer %q: dropout mask is for %d values, input has %d", ErrState, l.name, len(l.mask), len(x))
	}
	l.xd = grow(l.xd, len(x))
	tensor.MulTo(l.xd, x, l.mask)
	return l.xd, l.mask, nil
}

// input checks the single input [..., in] and returns it with N.
func (l *LoraLinear[T]) input(inputs []*tensor.Tensor[T]) (*tensor.Tensor[T], int, error) {
	if len(inputs) != 1 || inputs[0] == nil {
		return nil, 0, fmt.Errorf("%w: layer %q takes 1 input, got %d", ErrShape, l.name, len(inputs))
	}
	x := inputs[0]
	if x.Dims() == 0 || x.Dim(-1) != l.in {
		return nil, 0, fmt.Errorf("%w: layer %q: input %v, want [..., %d]", ErrShape, l.name, x.Shape(), l.in)
	}
	return x, x.Size() / l.in, nil
}

// DeltaWeight returns s·B·A [out, in], the update Merge adds to W.
func (l *LoraLinear[T]) DeltaWeight() *tensor.Tensor[T] {
	d := tensor.Zeros[T](l.out, l.in)
	l.engine.Gemm(false, false, l.out, l.in, l.rank, l.scale, l.B.Value.Data(), l.A.Value.Data(), 0, d.Data())
	return d
}

// loraForward adds the adapter to y[N×out] (which holds base(x)). B is
// passed transposed, bt = Bᵀ [r×out], so that both products run along the
// long dimension (in or out) rather than along r:
//
//	h[N×r]   = xd[N×in]·A[r×in]ᵀ
//	y[N×out] += s·h·bt
func loraForward[T tensor.Numeric](e tensor.Engine[T], y, h, xd, a, bt []T, s T, n, in, r, out int) {
	e.Gemm(false, true, n, r, in, 1, xd, a, 0, h)
	e.Gemm(false, false, n, out, r, s, h, bt, 1, y)
}

// loraBackward is loraForward in reverse. h is recomputed from xd (the
// dropped-out input) rather than kept, since it costs N·in·r; dB is formed
// transposed in dbt [r×out] and added into dB [out×r]:
//
//	h[N×r]     = xd·Aᵀ
//	dbt[r×out] = s·hᵀ·dy[N×out];  dB += dbtᵀ      (when dB != nil)
//	dh[N×r]    = s·dy·btᵀ
//	dA[r×in]  += dhᵀ·xd                          (when dA != nil)
//	dx[N×in]  += (dh·A) ⊙ mask                   (when dx != nil; mask nil = 1)
//
// dxd [N×in] is scratch for the masked case.
func loraBackward[T tensor.Numeric](e tensor.Engine[T], dx, dxd, mask, dA, dB, h, dh, dbt, dy, xd, a, bt []T, s T, n, in, r, out int) {
	if dB != nil {
		e.Gemm(false, true, n, r, in, 1, xd, a, 0, h)
		e.Gemm(true, false, r, out, n, s, h, dy, 0, dbt)
		addTransposed(dB, dbt, r, out)
	}
	if dA == nil && dx == nil {
		return
	}
	e.Gemm(false, true, n, r, out, s, dy, bt, 0, dh)
	if dA != nil {
		e.Gemm(true, false, r, in, n, 1, dh, xd, 1, dA)
	}
	switch {
	case dx == nil:
	case mask == nil:
		e.Gemm(false, false, n, in, r, 1, dh, a, 1, dx)
	default:
		e.Gemm(false, false, n, in, r, 1, dh, a, 0, dxd)
		tensor.AddMul(dx, dxd, mask)
	}
}

// transpose writes dst[C×R] = src[R×C]ᵀ.
func transpose[T tensor.Numeric](dst, src []T, rows, cols int) {
	for i := range rows {
		row := src[i*cols : (i+1)*cols]
		for j, v := range row {
			dst[j*rows+i] = v
		}
	}
}

// addTransposed accumulates dst[C×R] += src[R×C]ᵀ.
func addTransposed[T tensor.Numeric](dst, src []T, rows, cols int) {
	for i := range rows {
		row := src[i*cols : (i+1)*cols]
		for j, v := range row {
			dst[j*rows+i] += v
		}
	}
}

// dropoutForward draws mask[i] ∈ {0, 1/(1−p)} (keep with probability 1−p)
// and writes xd[i] = x[i]·mask[i] (inverted dropout, as torch.nn.Dropout)
// for x [N×in]. Row j's mask is drawn from a PCG stream seeded by (seed,
// mix64(pos+j)): it depends on the row's position only, not on which
// other rows share the call.
func dropoutForward[T tensor.Numeric](xd, mask, x []T, in int, p float64, seed uint64, pos int) {
	keep := T(1 / (1 - p))
	below := uint64(p * (1 << 53)) // a 53-bit uniform below this is a drop
	var g rand.PCG
	for j := 0; j*in < len(x); j++ {
		g.Seed(seed, mix64(uint64(pos+j)))
		for i := j * in; i < (j+1)*in; i++ {
			if g.Uint64()>>11 < below {
				mask[i], xd[i] = 0, 0
				continue
			}
			mask[i], xd[i] = keep, x[i]*keep
		}
	}
}

// mix64 is SplitMix64's finaliser: nearby inputs give unrelated outputs.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// grow returns s resized to n, reallocating only when its capacity is short.
func grow[T tensor.Numeric](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func shapeOf[T tensor.Numeric](t *tensor.Tensor[T]) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}
