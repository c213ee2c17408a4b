package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// ValidateAdapter checks that data is a LoRA adapter GGUF that llama.cpp's
// adapter loader accepts: a GGUF v2/v3 file that gguf.Open parses (every
// tensor's data inside the file) and that passes lora.InspectAdapter
// (docs/llamacpp-lora.md: general.type, adapter.type, general.architecture,
// adapter.lora.alpha, webtune's rank and alpha keys, every tensor half of a
// <base>.lora_a / <base>.lora_b pair of type F32, F16, BF16 or Q8_0 with
// consistent dims and ranks 1..MaxRank); and, stricter than llama.cpp, no
// *_norm.weight tensors, which llama.cpp skips: an upload holds pairs only.
// Errors wrap ErrNotGGUF, ErrNotAdapter (lora.ErrNotAdapter) or ErrMalformed
// (any other refusal), and lora's sentinel when InspectAdapter refused.
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
	af, err := lora.InspectAdapter(f)
	switch {
	case errors.Is(err, lora.ErrNotAdapter):
		return info, fmt.Errorf("%w: %w", ErrNotAdapter, err)
	case err != nil:
		return info, fmt.Errorf("%w: %w", ErrMalformed, err)
	case len(af.Skipped) > 0:
		return info, fmt.Errorf("%w: tensor %q is not half of a LoRA pair (llama.cpp skips it; an upload holds pairs only)", ErrMalformed, af.Skipped[0])
	}
	info = AdapterInfo{Architecture: af.Architecture, Ranks: af.Ranks(), Alpha: af.FileAlpha, Pairs: len(af.Pairs)}
	info.Rank = info.Ranks[len(info.Ranks)-1]
	for _, p := range af.Pairs {
		if t := targetOf(p.Name); !slices.Contains(info.Targets, t) {
			info.Targets = append(info.Targets, t)
		}
	}
	return info, nil
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
