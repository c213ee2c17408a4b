package nn

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/webtune/webtune/tensor"
)

// Embedding maps token ids to rows of a table W [vocab, dim] (PyTorch's
// nn.Embedding, llama's token_embd). Its input holds the ids as T values
// (exact for ids below 2²⁴ in float32); ForwardIDs/BackwardIDs take []int.
type Embedding[T tensor.Numeric] struct {
	name       string
	vocab, dim int
	weight     *Parameter[T] // [vocab, dim]
	outShape   []int
}

// NewEmbedding returns an Embedding with W ~ N(0, 1) drawn from seed
// (PyTorch's default). Its parameter is named name+".weight".
func NewEmbedding[T tensor.Numeric](name string, vocab, dim int, seed int64) *Embedding[T] {
	r := rand.New(rand.NewPCG(uint64(seed), 0x6a09e667f3bcc909))
	w := tensor.Zeros[T](vocab, dim)
	for i := range w.Data() {
		w.Data()[i] = T(r.NormFloat64())
	}
	return &Embedding[T]{name: name, vocab: vocab, dim: dim, weight: NewParameter(name+".weight", w, true)}
}

// NewEmbeddingFrom returns a trainable Embedding around weight [vocab, dim]
// (used, not copied).
func NewEmbeddingFrom[T tensor.Numeric](name string, weight *tensor.Tensor[T]) (*Embedding[T], error) {
	if weight == nil || weight.Dims() != 2 {
		return nil, fmt.Errorf("%w: embedding %q: weight must be [vocab, dim]", ErrShape, name)
	}
	return &Embedding[T]{name: name, vocab: weight.Dim(0), dim: weight.Dim(1),
		weight: NewParameter(name+".weight", weight, true)}, nil
}

// Name returns the layer name.
func (e *Embedding[T]) Name() string { return e.name }

// SetName renames the layer.
func (e *Embedding[T]) SetName(name string) { e.name = name }

// OpType returns "Embedding".
func (e *Embedding[T]) OpType() string { return "Embedding" }

// Attributes returns num_embeddings and embedding_dim.
func (e *Embedding[T]) Attributes() map[string]interface{} {
	return map[string]interface{}{"num_embeddings": e.vocab, "embedding_dim": e.dim}
}

// Weight returns the table, [vocab, dim].
func (e *Embedding[T]) Weight() *Parameter[T] { return e.weight }

// Parameters returns the table.
func (e *Embedding[T]) Parameters() []*Parameter[T] { return []*Parameter[T]{e.weight} }

// OutputShape returns the last output shape, or [dim] before any.
func (e *Embedding[T]) OutputShape() []int {
	if e.outShape == nil {
		return []int{e.dim}
	}
	return append([]int(nil), e.outShape...)
}

// Forward maps ids [...] to rows [..., dim].
func (e *Embedding[T]) Forward(ctx context.Context, inputs ...*tensor.Tensor[T]) (*tensor.Tensor[T], error) {
	x, err := oneInput("embedding", e.name, inputs)
	if err != nil {
		return nil, err
	}
	ids, err := e.ids(x)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](append(x.Shape(), e.dim)...)
	embeddingForward(y.Data(), e.weight.Value.Data(), ids, e.dim)
	e.outShape = y.Shape()
	return y, nil
}

// Backward accumulates dW[id] += dy row by row. Ids are not
// differentiable: the input gradient is zero (nil in ParamsOnly mode).
func (e *Embedding[T]) Backward(ctx context.Context, mode BackwardMode, dy *tensor.Tensor[T], inputs ...*tensor.Tensor[T]) ([]*tensor.Tensor[T], error) {
	x, err := oneInput("embedding", e.name, inputs)
	if err != nil {
		return nil, err
	}
	ids, err := e.ids(x)
	if err != nil {
		return nil, err
	}
	if err := e.BackwardIDs(dy, ids); err != nil {
		return nil, err
	}
	if mode == ParamsOnly {
		return []*tensor.Tensor[T]{nil}, nil
	}
	return []*tensor.Tensor[T]{tensor.Zeros[T](x.Shape()...)}, nil
}

// ForwardIDs maps ids (len N) to rows [N, dim].
func (e *Embedding[T]) ForwardIDs(ids []int) (*tensor.Tensor[T], error) {
	if err := e.check(ids); err != nil {
		return nil, err
	}
	y := tensor.Zeros[T](len(ids), e.dim)
	embeddingForward(y.Data(), e.weight.Value.Data(), ids, e.dim)
	e.outShape = y.Shape()
	return y, nil
}

// BackwardIDs accumulates dW[ids[n]] += dy[n] for dy [..., dim] holding
// len(ids) rows. A frozen table gets nothing.
func (e *Embedding[T]) BackwardIDs(dy *tensor.Tensor[T], ids []int) error {
	if dy == nil || dy.Size() != len(ids)*e.dim || dy.Dim(-1) != e.dim {
		return fmt.Errorf("%w: embedding %q: output gradient for %d ids, want [..., %d]", ErrShape, e.name, len(ids), e.dim)
	}
	if err := e.check(ids); err != nil {
		return err
	}
	if trainable(e.weight) {
		embeddingBackward(e.weight.Grad.Data(), dy.Data(), ids, e.dim)
	}
	return nil
}

// ids converts an id tensor to ints, checking each is a whole number in
// [0, vocab).
func (e *Embedding[T]) ids(x *tensor.Tensor[T]) ([]int, error) {
	ids := make([]int, x.Size())
	for i, v := range x.Data() {
		id := int(v)
		if T(id) != v {
			return nil, fmt.Errorf("%w: embedding %q: id %v is not a whole number", ErrRange, e.name, v)
		}
		ids[i] = id
	}
	return ids, e.check(ids)
}

func (e *Embedding[T]) check(ids []int) error {
	for i, id := range ids {
		if id < 0 || id >= e.vocab {
			return fmt.Errorf("%w: embedding %q: id %d at %d outside [0, %d)", ErrRange, e.name, id, i, e.vocab)
		}
	}
	return nil
}

// embeddingForward copies rows: y[n, :] = w[ids[n], :], y [N, C], w [V, C].
func embeddingForward[T tensor.Numeric](y, w []T, ids []int, c int) {
	for n, id := range ids {
		copy(y[n*c:(n+1)*c], w[id*c:(id+1)*c])
	}
}

// embeddingBackward accumulates dw[ids[n], :] += dy[n, :].
func embeddingBackward[T tensor.Numeric](dw, dy []T, ids []int, c int) {
	for n, id := range ids {
		tensor.Add(dw[id*c:(id+1)*c], dy[n*c:(n+1)*c])
	}
}
