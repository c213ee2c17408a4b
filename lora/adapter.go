package lora

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// FormatVersion is the webtune.format_version written in adapter files.
const FormatVersion = 1

// Adapter file keys (docs/llamacpp-lora.md, docs/peft.md).
const (
	keyArch          = "general.architecture"
	keyType          = "general.type"
	keyAdapterType   = "adapter.type"
	keyAdapterAlpha  = "adapter.lora.alpha"
	keyFormatVersion = "webtune.format_version"
	keyRank          = "webtune.lora.rank"
	keyAlpha         = "webtune.lora.alpha"
	keyRSLoRA        = "webtune.lora.use_rslora"
	keyTargets       = "webtune.lora.target_modules"
	keyLegacyRank    = "lora.rank"
	keyLegacyAlpha   = "lora.alpha"
)

// Tensor name suffixes: llama.cpp's (<base tensor>.lora_a/_b) and the
// published API's legacy form (lora.<layer>.weight_a/_b).
const (
	suffixA       = ".lora_a"
	suffixB       = ".lora_b"
	legacyPrefix  = "lora."
	legacySuffixA = ".weight_a"
	legacySuffixB = ".weight_b"
)

// SaveAdapter writes m's adapter (see WriteAdapter) to path atomically: into
// a temporary file in the same directory, synced, then renamed over path, so
// a crash never leaves a half-written adapter at path.
func SaveAdapter[T tensor.Numeric](path string, m Model[T]) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("lora: save adapter: %w", err)
	}
	if err := writeSync(f, m); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("lora: save adapter: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("lora: save adapter: %w", err)
	}
	return nil
}

// writeSync writes m's adapter to f and syncs it to disk.
func writeSync[T tensor.Numeric](f *os.File, m Model[T]) error {
	if err := WriteAdapter(f, m); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("lora: save adapter: %w", err)
	}
	return nil
}

// WriteAdapter writes the LoRA layers of m to w as a llama.cpp LoRA adapter
// GGUF (docs/llamacpp-lora.md, docs/peft.md): for each LoRA layer in model order the tensors
// <base>.lora_a (ggml dims [in, r], the bytes of A [r, in]) and
// <base>.lora_b (dims [r, out], the bytes of B [out, r]) as F32, where
// <base> is BaseTensorName(m, layer); and the keys general.architecture
// (ModelArchitecture), general.type="adapter", adapter.type="lora",
// adapter.lora.alpha (FLOAT32: alpha, or alpha·√r with rsLoRA so that
// llama.cpp's alpha/r gives alpha/√r), webtune.format_version,
// webtune.lora.{rank, alpha, use_rslora, target_modules} and the published
// API's lora.rank / lora.alpha. The rank keys are written only when every
// layer has the same rank. All layers must share alpha and rsLoRA (one
// alpha per file in llama.cpp). A model without LoRA layers gives
// ErrNotInjected.
func WriteAdapter[T tensor.Numeric](w io.Writer, m Model[T]) error {
	gw, err := adapterWriter(m)
	if err != nil {
		return err
	}
	if _, err := gw.WriteTo(w); err != nil {
		return fmt.Errorf("lora: write adapter: %w", err)
	}
	return nil
}

// adapterWriter builds the GGUF writer of m's adapter.
func adapterWriter[T tensor.Numeric](m Model[T]) (*gguf.Writer, error) {
	if m == nil {
		return nil, configErr("nil model")
	}
	ls := Adapters(m)
	if len(ls) == 0 {
		return nil, fmt.Errorf("%w: model has no LoRA layers to save", ErrNotInjected)
	}
	alpha, rslora, rank := ls[0].alpha, ls[0].rslora, ls[0].rank
	var targets []string
	for _, l := range ls {
		if l.alpha != alpha || l.rslora != rslora {
			return nil, configErr("layers %q and %q differ in alpha or rsLoRA; an adapter file has one alpha", ls[0].name, l.name)
		}
		if l.rank != rank {
			rank = 0
		}
		if s := lastPart(l.name); !slices.Contains(targets, s) {
			targets = append(targets, s)
		}
	}
	if rslora && rank == 0 {
		return nil, configErr("rsLoRA with layers of different ranks cannot be written as one adapter.lora.alpha")
	}
	fileAlpha := alpha
	if rslora {
		fileAlpha = float32(float64(alpha) * math.Sqrt(float64(rank)))
	}
	kvs := []gguf.KV{
		{Key: keyArch, Value: gguf.String(ModelArchitecture(m))},
		{Key: keyType, Value: gguf.String("adapter")},
		{Key: keyAdapterType, Value: gguf.String("lora")},
		{Key: keyAdapterAlpha, Value: gguf.Float32(fileAlpha)},
		{Key: keyFormatVersion, Value: gguf.Uint32(FormatVersion)},
	}
	if rank > 0 {
		kvs = append(kvs, gguf.KV{Key: keyRank, Value: gguf.Uint32(uint32(rank))})
	}
	kvs = append(kvs,
		gguf.KV{Key: keyAlpha, Value: gguf.Float32(alpha)},
		gguf.KV{Key: keyRSLoRA, Value: gguf.Bool(rslora)},
		gguf.KV{Key: keyTargets, Value: gguf.Strings(targets)})
	if rank > 0 {
		kvs = append(kvs, gguf.KV{Key: keyLegacyRank, Value: gguf.Uint32(uint32(rank))})
	}
	kvs = append(kvs, gguf.KV{Key: keyLegacyAlpha, Value: gguf.Float32(alpha)})

	gw := gguf.NewWriter()
	for _, kv := range kvs {
		if err := gw.Add(kv.Key, kv.Value); err != nil {
			return nil, fmt.Errorf("lora: write adapter: %w", err)
		}
	}
	for _, l := range ls {
		base := BaseTensorName(m, l.name)
		if err := addF32(gw, base+suffixA, []uint64{uint64(l.in), uint64(l.rank)}, l.A.Value.Data()); err != nil {
			return nil, err
		}
		if err := addF32(gw, base+suffixB, []uint64{uint64(l.rank), uint64(l.out)}, l.B.Value.Data()); err != nil {
			return nil, err
		}
	}
	return gw, nil
}

// addF32 adds data (converted to float32) as an F32 tensor.
func addF32[T tensor.Numeric](gw *gguf.Writer, name string, dims []uint64, data []T) error {
	f := make([]float32, len(data))
	tensor.Convert(f, data)
	if err := gw.AddTensorF32(name, dims, f, gguf.TypeF32); err != nil {
		return fmt.Errorf("lora: write adapter tensor %q: %w", name, err)
	}
	return nil
}
