package lora

import (
	"fmt"
	"math"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/tensor"
)

// checkHeader checks general.type, adapter.type and general.architecture.
// Files with llama.cpp tensor names must carry all three, as llama.cpp
// requires; published-API files may omit them.
func checkHeader[T tensor.Numeric](f *gguf.File, m Model[T]) error {
	strict := false
	for _, ti := range f.Tensors {
		strict = strict || strings.HasSuffix(ti.Name, suffixA) || strings.HasSuffix(ti.Name, suffixB)
	}
	for _, kv := range []struct{ key, want string }{{keyType, "adapter"}, {keyAdapterType, "lora"}} {
		v, err := optString(f, kv.key, strict)
		if err != nil {
			return err
		}
		if v != nil && *v != kv.want {
			return fmt.Errorf("%w: %s is %q, want %q", ErrFormat, kv.key, *v, kv.want)
		}
	}
	arch, err := optString(f, keyArch, false)
	if err != nil {
		return err
	}
	want := ModelArchitecture(m)
	switch {
	case arch == nil && strict:
		return fmt.Errorf("%w: file has no %s, model is %q", ErrArchitecture, keyArch, want)
	case arch != nil && *arch != want:
		return fmt.Errorf("%w: file is %q, model is %q", ErrArchitecture, *arch, want)
	}
	return nil
}

// optString returns the STRING key, nil if absent (an error if required).
func optString(f *gguf.File, key string, required bool) (*string, error) {
	if _, ok := f.Value(key); !ok {
		if required {
			return nil, fmt.Errorf("%w: missing key %s", ErrFormat, key)
		}
		return nil, nil
	}
	s, err := f.GetString(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return &s, nil
}

// fileMeta is the scale and rank information of a file.
type fileMeta struct {
	rank      int     // from the rank keys; 0 when absent
	alpha     float64 // the training alpha; 0 = scale 1 (alpha = r per pair)
	rslora    bool
	fileAlpha float64 // adapter.lora.alpha, −1 when absent
}

// readMeta reads the rank and alpha keys, checking their types and that
// adapter.lora.alpha agrees with webtune's keys.
func readMeta(f *gguf.File) (fileMeta, error) {
	var m fileMeta
	var err error
	var ranks [2]float64
	for i, k := range []string{keyRank, keyLegacyRank} {
		r, ok, err := optNumber(f, k)
		if err != nil {
			return m, err
		}
		if ok && (r < 1 || r > MaxRank || r != math.Trunc(r)) {
			return m, fmt.Errorf("%w: %s = %v outside [1, %d]", ErrRank, k, r, MaxRank)
		}
		ranks[i] = r
	}
	if ranks[0] != 0 && ranks[1] != 0 && ranks[0] != ranks[1] {
		return m, fmt.Errorf("%w: %s = %v but %s = %v", ErrRank, keyRank, ranks[0], keyLegacyRank, ranks[1])
	}
	m.rank = int(max(ranks[0], ranks[1]))
	if _, ok := f.Value(keyRSLoRA); ok {
		if m.rslora, err = f.GetBool(keyRSLoRA); err != nil {
			return m, fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	if _, ok := f.Value(keyAdapterAlpha); ok {
		a, err := f.GetFloat32(keyAdapterAlpha) // llama.cpp asserts FLOAT32
		if err != nil {
			return m, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		m.fileAlpha = float64(a)
	} else {
		m.fileAlpha = -1
	}
	own, ok, err := optNumber(f, keyAlpha)
	if err == nil && !ok {
		own, ok, err = optNumber(f, keyLegacyAlpha)
	}
	if err != nil {
		return m, err
	}
	return finishMeta(m, own, ok)
}

// finishMeta settles alpha from webtune's or the published alpha (own, if
// present) or llama.cpp's adapter.lora.alpha.
func finishMeta(m fileMeta, own float64, present bool) (fileMeta, error) {
	if !present {
		if m.rslora {
			return m, fmt.Errorf("%w: %s set without %s", ErrFormat, keyRSLoRA, keyAlpha)
		}
		m.alpha = max(m.fileAlpha, 0)
		if !(m.alpha >= 0) || math.IsInf(m.alpha, 0) {
			return m, fmt.Errorf("%w: %s = %v", ErrFormat, keyAdapterAlpha, m.fileAlpha)
		}
		return m, nil
	}
	if m.rslora && m.rank == 0 {
		return m, fmt.Errorf("%w: rsLoRA file without a rank key", ErrFormat)
	}
	if !(own > 0) || math.IsInf(own, 0) {
		return m, fmt.Errorf("%w: alpha %v must be finite and > 0", ErrFormat, own)
	}
	m.alpha = own
	if m.fileAlpha != -1 {
		want := own
		if m.rslora && m.rank > 0 {
			want = own * math.Sqrt(float64(m.rank))
		}
		if math.Abs(m.fileAlpha-want) > 1e-6*want {
			return m, fmt.Errorf("%w: %s = %v disagrees with alpha %v (rsLoRA %t, rank %d)", ErrFormat, keyAdapterAlpha, m.fileAlpha, own, m.rslora, m.rank)
		}
	}
	return m, nil
}

// optNumber returns a numeric key as float64 and whether it is present; a
// non-numeric value is ErrFormat.
func optNumber(f *gguf.File, key string) (float64, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false, nil
	}
	x, err := number(v)
	if err != nil {
		return 0, false, fmt.Errorf("%w: key %s: %w", ErrFormat, key, err)
	}
	return x, true, nil
}

// number converts a scalar numeric Value to float64.
func number(v gguf.Value) (float64, error) {
	switch x := v.Any().(type) {
	case uint8:
		return float64(x), nil
	case int8:
		return float64(x), nil
	case uint16:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("a %s, not a number", v.Type())
}
