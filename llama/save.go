package llama

import (
	"fmt"
	"io"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// Save writes m as a llama.cpp-loadable GGUF with F32 tensors: the metadata
// of Config.KVs, general.file_type, then the caller's vocabulary keys
// (tokenizer.ggml.*, from the tokenizer package or the base file), then the
// tensors of §B.6 (output.weight omitted when tied).
func Save[T tensor.Numeric](w io.Writer, m *Model[T], vocab ...gguf.KV) error {
	return SaveAs(w, m, gguf.TypeF32, vocab...)
}

// fileTypes maps a weight type to llama.cpp's general.file_type
// (llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0, MOSTLY_BF16).
var fileTypes = map[gguf.TensorType]uint32{gguf.TypeF32: 0, gguf.TypeF16: 1, gguf.TypeQ4_0: 2, gguf.TypeQ8_0: 7, gguf.TypeBF16: 32}

// SaveAs is Save with the 2-D weights stored as typ: F32 or F16 (as
// llama.cpp's export-lora writes merged weights), or BF16, Q8_0, Q4_0 (the
// widths must then be multiples of 32); norms stay F32. Layers must be dense
// or NF4 (dequantized): merge a LoRA first (lora.Merge).
func SaveAs[T tensor.Numeric](w io.Writer, m *Model[T], typ gguf.TensorType, vocab ...gguf.KV) error {
	fileType, ok := fileTypes[typ]
	if !ok {
		return fmt.Errorf("%w: save as %v (F32, F16, BF16, Q8_0 or Q4_0)", ErrUnsupported, typ)
	}
	c := m.Config
	if err := c.checkDerived(); err != nil {
		return err
	}
	gw := gguf.NewWriter()
	kvs := append(c.KVs(), gguf.KV{Key: "general.file_type", Value: gguf.Uint32(fileType)})
	if typ != gguf.TypeF32 && typ != gguf.TypeF16 && typ != gguf.TypeBF16 {
		kvs = append(kvs, gguf.KV{Key: "general.quantization_version", Value: gguf.Uint32(2)})
	}
	for _, kv := range vocab {
		if kv.Key == "tokenizer.ggml.tokens" && kv.Value.Len() != c.VocabSize {
			return fmt.Errorf("%w: tokenizer.ggml.tokens has %d entries, vocab size is %d", ErrShape, kv.Value.Len(), c.VocabSize)
		}
		if strings.HasPrefix(kv.Key, c.Architecture()+".") || kv.Key == "general.architecture" || kv.Key == "general.file_type" || kv.Key == "general.quantization_version" {
			continue // ours win: they describe the model being written
		}
		kvs = append(kvs, kv)
	}
	for _, kv := range kvs {
		if err := gw.Add(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("llama: save: %w", err)
		}
	}
	for _, s := range expectedTensors(c) {
		data, err := m.tensorData(s.name)
		if err != nil {
			return err
		}
		t := typ
		if len(s.dims) == 1 {
			t = gguf.TypeF32
		}
		if err := gw.AddTensorF32(s.name, s.dims, data, t); err != nil {
			return fmt.Errorf("llama: save: %w", err)
		}
	}
	if m.RopeFreqs != nil {
		if err := gw.AddTensorF32(ropeFreqsName, []uint64{uint64(len(m.RopeFreqs))}, m.RopeFreqs, gguf.TypeF32); err != nil {
			return fmt.Errorf("llama: save: %w", err)
		}
	}
	_, err := gw.WriteTo(w)
	if err != nil {
		return fmt.Errorf("llama: save: %w", err)
	}
	return nil
}

// tensorData returns the float32 values of the GGUF tensor name.
func (m *Model[T]) tensorData(name string) ([]float32, error) {
	switch name {
	case "token_embd.weight":
		return m.tokenEmbdF32(), nil
	case "output_norm.weight":
		return toF32(m.OutputNorm.Value.Data()), nil
	}
	if i, rest, ok := blockTensor(name); ok && i < len(m.Blocks) {
		switch rest {
		case "attn_norm.weight":
			return toF32(m.Blocks[i].AttnNorm.Value.Data()), nil
		case "ffn_norm.weight":
			return toF32(m.Blocks[i].FFNNorm.Value.Data()), nil
		}
		for _, p := range m.Blocks[i].extras() {
			if p.Name == name {
				return toF32(p.Value.Data()), nil
			}
		}
	}
	l := m.Layer(strings.TrimSuffix(name, ".weight"))
	switch l := l.(type) {
	case *nn.Linear[T]:
		return toF32(l.Weight().Value.Data()), nil
	case *nn.NF4Linear[T]:
		return toF32(l.DequantizedWeight().Data()), nil
	case *nn.QuantLinear[T]:
		return toF32(l.DequantizedWeight().Data()), nil
	case nil:
		return nil, fmt.Errorf("%w: no layer for tensor %q", ErrShape, name)
	default:
		return nil, fmt.Errorf("%w: layer %q is %s; merge the adapter before saving the model", ErrUnsupported, l.Name(), l.OpType())
	}
}

// blockTensor splits "blk.N.rest" into N and rest.
func blockTensor(name string) (int, string, bool) {
	var i int
	if !strings.HasPrefix(name, "blk.") {
		return 0, "", false
	}
	parts := strings.SplitN(name[4:], ".", 2)
	if len(parts) != 2 {
		return 0, "", false
	}
	if _, err := fmt.Sscanf(parts[0], "%d", &i); err != nil {
		return 0, "", false
	}
	return i, parts[1], true
}
