package lora

import (
	"fmt"
	"math"

	"github.com/webtune/webtune/gguf"
)

// checkHeader checks general.type, adapter.type and general.architecture
// and returns the architecture. Files with llama.cpp tensor names (strict)
// must carry all three, as llama.cpp requires; published-API files may omit
// them.
func checkHeader(f *gguf.File, strict bool) (string, error) {
	for _, kv := range []struct{ key, want string }{{keyType, "adapter"}, {keyAdapterType, "lora"}} {
		v, present, err := optString(f, kv.key)
		switch {
		case err != nil:
			return "", fmt.Errorf("%w: %w", ErrNotAdapter, err)
		case !present && strict:
			return "", fmt.Errorf("%w: no %s key (llama.cpp requires %q)", ErrNotAdapter, kv.key, kv.want)
		case present && v != kv.want:
			return "", fmt.Errorf("%w: %s is %q, want %q", ErrNotAdapter, kv.key, v, kv.want)
		}
	}
	arch, _, err := optString(f, keyArch)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrFormat, err)
	case arch == "" && strict:
		return "", fmt.Errorf("%w: %s is missing or empty (llama.cpp requires the base model's)", ErrArchitecture, keyArch)
	case arch != "" && !validArchitecture(arch):
		return "", fmt.Errorf("%w: %s %s is not an architecture name (lower-case letters, digits, '_', '-', '.'; at most %d bytes)",
			ErrFormat, keyArch, quoteName(arch), MaxArchitectureLength)
	}
	return arch, nil
}

// optString returns the STRING key and whether it is present; a present
// key of another type is an error.
func optString(f *gguf.File, key string) (string, bool, error) {
	if _, ok := f.Value(key); !ok {
		return "", false, nil
	}
	s, err := f.GetString(key)
	return s, true, err
}

// readMeta reads the rank, alpha and rsLoRA keys into af, checking their
// types and that adapter.lora.alpha agrees with webtune's keys.
func readMeta(f *gguf.File, af *AdapterFile) error {
	var err error
	if af.Rank, err = rankKeys(f); err != nil {
		return err
	}
	if _, ok := f.Value(keyRSLoRA); ok {
		if af.RSLoRA, err = f.GetBool(keyRSLoRA); err != nil {
			return fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	_, hasFileAlpha := f.Value(keyAdapterAlpha)
	if hasFileAlpha {
		if af.FileAlpha, err = f.GetFloat32(keyAdapterAlpha); err != nil { // llama.cpp asserts FLOAT32
			return fmt.Errorf("%w: %w", ErrFormat, err)
		}
		if a := float64(af.FileAlpha); !(a >= 0) || math.IsInf(a, 0) {
			return fmt.Errorf("%w: %s = %v, want a finite value ≥ 0", ErrFormat, keyAdapterAlpha, af.FileAlpha)
		}
	}
	own, ok, err := optNumber(f, keyAlpha)
	if err == nil && !ok {
		own, ok, err = optNumber(f, keyLegacyAlpha)
	}
	if err != nil {
		return err
	}
	if !ok {
		if af.RSLoRA {
			return fmt.Errorf("%w: %s set without %s", ErrFormat, keyRSLoRA, keyAlpha)
		}
		af.Alpha = float64(af.FileAlpha)
		return nil
	}
	return ownAlpha(af, own, hasFileAlpha)
}

// ownAlpha settles alpha from webtune's or the published alpha, which
// adapter.lora.alpha (if present) must agree with.
func ownAlpha(af *AdapterFile, own float64, hasFileAlpha bool) error {
	if af.RSLoRA && af.Rank == 0 {
		return fmt.Errorf("%w: rsLoRA file without a rank key", ErrFormat)
	}
	if !(own > 0) || math.IsInf(own, 0) {
		return fmt.Errorf("%w: alpha %v must be finite and > 0", ErrFormat, own)
	}
	af.Alpha = own
	if hasFileAlpha {
		want := own
		if af.RSLoRA {
			want = own * math.Sqrt(float64(af.Rank))
		}
		if math.Abs(float64(af.FileAlpha)-want) > 1e-6*want {
			return fmt.Errorf("%w: %s = %v disagrees with alpha %v (rsLoRA %t, rank %d)", ErrFormat, keyAdapterAlpha, af.FileAlpha, own, af.RSLoRA, af.Rank)
		}
	}
	return nil
}

// rankKeys returns the rank stated by webtune.lora.rank and lora.rank (0
// when neither is present): integers in [1, MaxRank] that agree.
func rankKeys(f *gguf.File) (int, error) {
	var ranks [2]float64
	for i, k := range []string{keyRank, keyLegacyRank} {
		r, ok, err := optNumber(f, k)
		if err != nil {
			return 0, err
		}
		if ok && (r < 1 || r > MaxRank || r != math.Trunc(r)) {
			return 0, fmt.Errorf("%w: %s = %v outside [1, %d]", ErrRank, k, r, MaxRank)
		}
		ranks[i] = r
	}
	if ranks[0] != 0 && ranks[1] != 0 && ranks[0] != ranks[1] {
		return 0, fmt.Errorf("%w: %s = %v but %s = %v", ErrRank, keyRank, ranks[0], keyLegacyRank, ranks[1])
	}
	return int(max(ranks[0], ranks[1])), nil
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
