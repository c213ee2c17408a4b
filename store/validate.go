package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/webtune/webtune/gguf"
)

// Validation errors; the handler maps ErrNotGGUF and ErrNotAdapter to 415 and
// ErrMalformed to 400.
var (
	// ErrNotGGUF reports bytes that are not a GGUF file (or a GGUF version/feature gguf does not read).
	ErrNotGGUF = errors.New("store: not a GGUF file")
	// ErrNotAdapter reports a GGUF file that is not a LoRA adapter (a model, or another adapter type).
	ErrNotAdapter = errors.New("store: not a LoRA adapter")
	// ErrMalformed reports a GGUF LoRA adapter that llama.cpp's loader would refuse.
	ErrMalformed = errors.New("store: malformed adapter")
)

// MaxRank is the largest LoRA rank an upload may have.
const MaxRank = 1 << 16

// Adapter metadata keys and tensor suffixes (SPECS.md §B.1, §B.2).
const (
	keyType        = "general.type"
	keyArch        = "general.architecture"
	keyAdapterType = "adapter.type"
	keyAlpha       = "adapter.lora.alpha"
	keyRank        = "webtune.lora.rank"
	suffixA        = ".lora_a"
	suffixB        = ".lora_b"
	tokenEmbd      = "token_embd.weight"
)

// adapterTypes are the tensor types llama.cpp's converter emits for adapters (SPECS.md §B.5).
var adapterTypes = []gguf.TensorType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0}

// AdapterInfo is what ValidateAdapter learns from an adapter file.
type AdapterInfo struct {
	Architecture string   // Architecture is general.architecture.
	Rank         int      // Rank is the largest rank of any pair.
	Ranks        []int    // Ranks are the distinct ranks, ascending (one entry for a uniform rank).
	Alpha        float32  // Alpha is adapter.lora.alpha (0 when absent: scale 1 in llama.cpp).
	Targets      []string // Targets are the adapted module kinds (attn_q, ffn_up, output, ...) in file order.
	Pairs        int      // Pairs is the number of lora_a/lora_b pairs.
}

// ValidateAdapter checks that data is a LoRA adapter GGUF that llama.cpp's
// adapter loader accepts (SPECS.md §B.1–B.5): a GGUF v2/v3 file that gguf.Open
// parses (every tensor's data inside the file); general.type "adapter",
// adapter.type "lora" and general.architecture non-empty, all STRING;
// adapter.lora.alpha, if present, a finite FLOAT32 >= 0; at least one pair;
// every tensor named <base>.lora_a or <base>.lora_b with both halves present,
// two dims each, of type F32, F16, BF16 or Q8_0, and consistent shapes:
// a = [n_in, r], b = [r, n_out] (token_embd.weight: a = [r, n_vocab],
// b = [r, n_embd]) with 1 <= r <= MaxRank, matching webtune.lora.rank when
// that key is present. Errors wrap ErrNotGGUF, ErrNotAdapter or ErrMalformed.
func ValidateAdapter(data []byte) (AdapterInfo, error) {
	var info AdapterInfo
	if len(data) < 4 || string(data[:4]) != "GGUF" {
		return info, fmt.Errorf("%w: no GGUF magic", ErrNotGGUF)
	}
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	switch {
	case errors.Is(err, gguf.ErrUnsupported):
		return info, fmt.Errorf("%w: %w", ErrNotGGUF, err)
	case err != nil:
		return info, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := checkAdapterKeys(f, &info); err != nil {
		return info, err
	}
	if err := checkPairs(f, &info); err != nil {
		return info, err
	}
	return info, nil
}

// checkAdapterKeys checks general.type, adapter.type, general.architecture and adapter.lora.alpha.
func checkAdapterKeys(f *gguf.File, info *AdapterInfo) error {
	for _, k := range []struct{ key, want string }{{keyType, "adapter"}, {keyAdapterType, "lora"}} {
		got, err := f.GetString(k.key)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotAdapter, err)
		}
		if got != k.want {
			return fmt.Errorf("%w: %s is %q, want %q", ErrNotAdapter, k.key, got, k.want)
		}
	}
	arch, err := f.GetString(keyArch)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if arch == "" {
		return fmt.Errorf("%w: empty %s", ErrMalformed, keyArch)
	}
	info.Architecture = arch
	if _, ok := f.Value(keyAlpha); ok {
		a, err := f.GetFloat32(keyAlpha) // llama.cpp asserts FLOAT32
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if !(a >= 0) || math.IsInf(float64(a), 0) {
			return fmt.Errorf("%w: %s = %v", ErrMalformed, keyAlpha, a)
		}
		info.Alpha = a
	}
	return nil
}

// loraPair is the two halves of one adapted base tensor.
type loraPair struct{ a, b *gguf.TensorInfo }

// checkPairs pairs the tensors by base name and checks every pair's types and shapes.
func checkPairs(f *gguf.File, info *AdapterInfo) error {
	var bases []string
	pairs := map[string]*loraPair{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		base, isA := strings.CutSuffix(t.Name, suffixA)
		if !isA {
			var isB bool
			if base, isB = strings.CutSuffix(t.Name, suffixB); !isB {
				return fmt.Errorf("%w: tensor %q is neither <base>%s nor <base>%s", ErrMalformed, t.Name, suffixA, suffixB)
			}
		}
		if base == "" {
			return fmt.Errorf("%w: tensor %q has an empty base name", ErrMalformed, t.Name)
		}
		p := pairs[base]
		if p == nil {
			p = &loraPair{}
			pairs[base] = p
			bases = append(bases, base)
		}
		if isA {
			p.a = t
		} else {
			p.b = t
		}
	}
	if len(bases) == 0 {
		return fmt.Errorf("%w: no lora_a/lora_b tensors", ErrMalformed)
	}
	wantRank := 0
	if _, ok := f.Value(keyRank); ok {
		r, err := f.GetUint32(keyRank)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		wantRank = int(r)
	}
	for _, base := range bases {
		r, err := checkPair(base, pairs[base], wantRank)
		if err != nil {
			return err
		}
		if !slices.Contains(info.Ranks, r) {
			info.Ranks = append(info.Ranks, r)
		}
		if t := targetOf(base); !slices.Contains(info.Targets, t) {
			info.Targets = append(info.Targets, t)
		}
	}
	slices.Sort(info.Ranks)
	info.Rank = info.Ranks[len(info.Ranks)-1]
	info.Pairs = len(bases)
	return nil
}

// checkPair checks one pair and returns its rank.
func checkPair(base string, p *loraPair, wantRank int) (int, error) {
	if p.a == nil || p.b == nil {
		return 0, fmt.Errorf("%w: pair for %q is missing lora_a or lora_b", ErrMalformed, base)
	}
	for _, t := range []*gguf.TensorInfo{p.a, p.b} {
		if len(t.Dims) != 2 {
			return 0, fmt.Errorf("%w: tensor %q has %d dims, want 2", ErrMalformed, t.Name, len(t.Dims))
		}
		if !slices.Contains(adapterTypes, t.Type) {
			return 0, fmt.Errorf("%w: tensor %q has type %v, want F32, F16, BF16 or Q8_0", ErrMalformed, t.Name, t.Type)
		}
	}
	a, b := p.a.Dims, p.b.Dims
	r := a[1] // a = [n_in, r], b = [r, n_out]
	if base == tokenEmbd {
		r = a[0] // a = [r, n_vocab], b = [r, n_embd]
	}
	if b[0] != r {
		return 0, fmt.Errorf("%w: %q: lora_a dims %v and lora_b dims %v disagree on the rank", ErrMalformed, base, a, b)
	}
	if r < 1 || r > MaxRank {
		return 0, fmt.Errorf("%w: %q: rank %d outside [1, %d]", ErrMalformed, base, r, MaxRank)
	}
	if wantRank != 0 && int(r) != wantRank {
		return 0, fmt.Errorf("%w: %q: rank %d but %s = %d", ErrMalformed, base, r, keyRank, wantRank)
	}
	return int(r), nil
}

// targetOf names the module kind of a base tensor: blk.3.attn_q.weight → attn_q,
// output.weight → output.
func targetOf(base string) string {
	s := strings.TrimSuffix(base, ".weight")
	if rest, ok := strings.CutPrefix(s, "blk."); ok {
		if _, after, ok := strings.Cut(rest, "."); ok {
			return after
		}
	}
	return s
}
