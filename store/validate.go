package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
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
const MaxRank = lora.MaxRank

// AdapterInfo is what ValidateAdapter learns from an adapter file.
type AdapterInfo struct {
	Architecture string   // Architecture is general.architecture.
	Rank         int      // Rank is the largest rank of any pair.
	Ranks        []int    // Ranks are the distinct ranks, ascending (one entry for a uniform rank).
	Alpha        float32  // Alpha is adapter.lora.alpha (0 when absent: scale 1 in llama.cpp).
	Targets      []string // Targets are the adapted module kinds (attn_q, ffn_up, output, ...) in file order.
	Pairs        int      // Pairs is the number of lora_a/lora_b pairs.
}

// MaxDistinctRanks is the most distinct LoRA ranks one upload may have
// (real adapters have one or a few), so that its stored metadata stays
// within MaxMetaBytes by construction.
const MaxDistinctRanks = 64

// ValidateAdapter checks that data is a LoRA adapter GGUF that llama.cpp's
// adapter loader accepts and webtune loads, with lora.CheckAdapter, the one
// model-free validator every reader of adapter files shares: parsed under
// lora.AdapterLimits (bounded keys, arrays, strings, metadata bytes and
// tensors, so memory stays a small constant plus the tensor table and time
// linear in the size), InspectAdapter's rules (docs/llamacpp-lora.md: general.type,
// adapter.type, general.architecture, alpha and rank keys, every tensor half
// of a <base>.lora_a / <base>.lora_b pair with base an adaptable
// llama-family weight such as blk.N.attn_q.weight, types F32, F16, BF16 or
// Q8_0, consistent dims, ranks 1..MaxRank) and every weight finite. Stricter
// than llama.cpp: no *_norm.weight tensors, which llama.cpp skips (an upload
// holds pairs only), and at most MaxDistinctRanks distinct ranks. Errors
// wrap ErrNotGGUF, ErrNotAdapter (lora.ErrNotAdapter) or ErrMalformed (any
// other refusal), and lora's and gguf's sentinels.
func ValidateAdapter(data []byte) (AdapterInfo, error) {
	var info AdapterInfo
	if len(data) < 4 || string(data[:4]) != "GGUF" {
		return info, fmt.Errorf("%w: no GGUF magic", ErrNotGGUF)
	}
	_, af, err := lora.CheckAdapter(bytes.NewReader(data), int64(len(data)))
	switch {
	case errors.Is(err, gguf.ErrUnsupported):
		return info, fmt.Errorf("%w: %w", ErrNotGGUF, err)
	case errors.Is(err, lora.ErrNotAdapter):
		return info, fmt.Errorf("%w: %w", ErrNotAdapter, err)
	case err != nil:
		return info, fmt.Errorf("%w: %w", ErrMalformed, err)
	case len(af.Skipped) > 0:
		return info, fmt.Errorf("%w: tensor %q is not half of a LoRA pair (llama.cpp skips it; an upload holds pairs only)", ErrMalformed, af.Skipped[0])
	}
	info = AdapterInfo{Architecture: af.Architecture, Ranks: af.Ranks(), Alpha: af.FileAlpha, Pairs: len(af.Pairs)}
	if len(info.Ranks) > MaxDistinctRanks {
		return AdapterInfo{}, fmt.Errorf("%w: %d distinct ranks (at most %d)", ErrMalformed, len(info.Ranks), MaxDistinctRanks)
	}
	info.Rank = info.Ranks[len(info.Ranks)-1]
	for _, p := range af.Pairs {
		if t := targetOf(p.Name); !slices.Contains(info.Targets, t) { // at most a handful of targets
			info.Targets = append(info.Targets, t)
		}
	}
	return info, nil
}

// targetOf names the module kind of an adaptable base tensor (lora.TargetOf):
// blk.3.attn_q.weight → attn_q, output.weight → output.
func targetOf(base string) string {
	t, _ := lora.TargetOf(base)
	return t
}
