package tensor

import (
	"errors"
	"fmt"
)

// Numeric is the set of element types tensors hold: float32 for work,
// float64 for gradient checks.
type Numeric interface {
	~float32 | ~float64
}

// ErrShape reports a shape that does not fit the data or the operation.
var ErrShape = errors.New("tensor: bad shape")

// Tensor is a dense row-major array with a shape. The last dimension varies
// fastest. A Tensor may share its data with another (Reshape returns a view).
type Tensor[T Numeric] struct {
	shape []int
	data  []T
}

// New returns a tensor of the given shape backed by data (not copied).
// len(data) must equal the product of shape. A nil data allocates zeros.
func New[T Numeric](shape []int, data []T) (*Tensor[T], error) {
	n, err := numel(shape)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = make([]T, n)
	}
	if len(data) != n {
		return nil, fmt.Errorf("%w: shape %v holds %d elements, data has %d", ErrShape, shape, n, len(data))
	}
	return &Tensor[T]{shape: append([]int(nil), shape...), data: data}, nil
}

// Zeros returns a zero tensor of the given shape. It panics on a negative
// dimension (a programmer error).
func Zeros[T Numeric](shape ...int) *Tensor[T] {
	t, err := New[T](shape, nil)
	if err != nil {
		panic(err)
	}
	return t
}

// FromSlice wraps data as a tensor of the given shape, panicking when the
// sizes disagree (a programmer error). Use New for untrusted shapes.
func FromSlice[T Numeric](data []T, shape ...int) *Tensor[T] {
	t, err := New(shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

func numel(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension in %v", ErrShape, shape)
		}
		if d != 0 && n > (1<<62)/d {
			return 0, fmt.Errorf("%w: %v overflows", ErrShape, shape)
		}
		n *= d
	}
	return n, nil
}

// Shape returns the dimensions (a copy).
func (t *Tensor[T]) Shape() []int { return append([]int(nil), t.shape...) }

// Dims returns the number of dimensions.
func (t *Tensor[T]) Dims() int { return len(t.shape) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor[T]) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Data returns the backing slice (not a copy).
func (t *Tensor[T]) Data() []T { return t.data }

// Size returns the number of elements.
func (t *Tensor[T]) Size() int { return len(t.data) }

// Reshape returns a view with a new shape of the same size. One dimension may
// be -1 and is then inferred.
func (t *Tensor[T]) Reshape(shape ...int) (*Tensor[T], error) {
	s := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range s {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, fmt.Errorf("%w: cannot reshape %v to %v", ErrShape, t.shape, shape)
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || len(t.data)%known != 0 {
			return nil, fmt.Errorf("%w: cannot reshape %v to %v", ErrShape, t.shape, shape)
		}
		s[infer] = len(t.data) / known
	}
	return New(s, t.data)
}

// Clone returns a deep copy.
func (t *Tensor[T]) Clone() *Tensor[T] {
	return &Tensor[T]{shape: t.Shape(), data: append([]T(nil), t.data...)}
}

// String describes the tensor's shape (not its data).
func (t *Tensor[T]) String() string { return fmt.Sprintf("Tensor%v", t.shape) }
