package llama

import (
	"fmt"
	"io"
	"unsafe"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/kernels"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tensor"
)

// Weights kept as they come: with LoadOptions.Dequantize unset, a float32
// model holds every F16, BF16 or quantized weight of the file in its GGUF
// type (package quant): the block linears and an untied head become
// nn.QuantLinear, the token embedding a quant.Matrix whose looked-up rows
// alone are decoded, and a tied head the QuantLinear over that same
// matrix. F32 tensors, norms and rope factors become float as before, so
// the base costs about the file's tensor bytes.

// keepQuantized reports whether the tensor ti stays in its type in a
// Model[T] loaded with opt: only for float32 T (float64 models exist for
// gradient checks) and a type quant has fused products for.
func keepQuantized[T tensor.Numeric](opt LoadOptions, ti *gguf.TensorInfo) bool {
	var zero T
	return !opt.Dequantize && unsafe.Sizeof(zero) == 4 && ti != nil && quant.Supported(ti.Type)
}

// readMatrix reads tensor name ([rows, cols] row-major, ggml dims [cols,
// rows]) as its raw blocks.
func readMatrix(f *gguf.File, name string, rows, cols int) (*quant.Matrix, error) {
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%w: tensor %q not found", ErrShape, name)
	}
	sr, err := f.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	data := make([]byte, ti.NumBytes())
	if _, err := io.ReadFull(sr, data); err != nil {
		return nil, fmt.Errorf("llama: reading %q: %w", name, err)
	}
	w, err := quant.NewMatrix(ti.Type, rows, cols, data)
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %q: %w", name, err)
	}
	return w, nil
}

// quantLinear returns the frozen QuantLinear of weight tensor name [out,
// in] (layer name: name without ".weight").
func (m *Model[T]) quantLinear(f *gguf.File, name, layer string, in, out int) (nn.Node[T], error) {
	w, err := readMatrix(f, name, out, in)
	if err != nil {
		return nil, err
	}
	return nn.NewQuantLinear[T](layer, w, nil, m.engine)
}

// loadTokenEmbd reads token_embd.weight [V, C]: as a quant.Matrix when it
// stays in its type (TokenEmbd is then nil), else as the float parameter
// TokenEmbd. A tied head then becomes the QuantLinear over the matrix or
// the Linear over TokenEmbd.
func (m *Model[T]) loadTokenEmbd(f *gguf.File, opt LoadOptions, param func(name string, shape ...int) (*nn.Parameter[T], error)) error {
	c := m.Config
	const name = "token_embd.weight"
	ti, _ := f.Tensor(name)
	if !keepQuantized[T](opt, ti) {
		var err error
		if m.TokenEmbd, err = param(name, c.VocabSize, c.Dim); err != nil {
			return err
		}
		if c.TiedOutput {
			return m.tieHead()
		}
		return nil
	}
	w, err := readMatrix(f, name, c.VocabSize, c.Dim)
	if err != nil {
		return err
	}
	m.tokenEmbdQ = w
	if c.TiedOutput {
		if m.Output, err = nn.NewQuantLinear[T]("output", w, nil, m.engine); err != nil {
			return err
		}
	}
	return nil
}

// embedTokens writes the embedding rows of tokens into out [N, C].
func (m *Model[T]) embedTokens(out []T, tokens []int) {
	if m.tokenEmbdQ != nil {
		quant.GatherRows(m.tokenEmbdQ, out, tokens)
		return
	}
	kernels.EncoderForward(out, tokens, m.TokenEmbd.Value.Data(), m.Config.Dim)
}

// QuantMatrices returns the weights held in their GGUF type outside the
// layers (the token embedding, when quantized), so that parameter counts
// include them.
func (m *Model[T]) QuantMatrices() []*quant.Matrix {
	if m.tokenEmbdQ == nil {
		return nil
	}
	return []*quant.Matrix{m.tokenEmbdQ}
}

// TokenEmbdMatrix returns the token embedding [V, C] when it is held in
// its GGUF type, else nil (then TokenEmbd holds it).
func (m *Model[T]) TokenEmbdMatrix() *quant.Matrix { return m.tokenEmbdQ }

// tokenEmbdF32 returns the token embedding as float32 [V·C] (a full copy
// when it is quantized: for saving only).
func (m *Model[T]) tokenEmbdF32() []float32 {
	if w := m.tokenEmbdQ; w != nil {
		d := make([]float32, w.Rows()*w.Cols())
		w.Dequantize(d)
		return d
	}
	return toF32(m.TokenEmbd.Value.Data())
}
