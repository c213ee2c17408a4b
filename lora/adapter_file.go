package lora

import (
	"fmt"
	"slices"
	"strings"

	"github.com/webtune/webtune/gguf"
)

// AdapterFile is what InspectAdapter learns from an adapter file's metadata
// and tensor infos, without a model and without reading tensor data.
type AdapterFile struct {
	// Architecture is general.architecture; "" only in a published-API
	// file (ReadAdapter's legacy names) that has none.
	Architecture string
	// FileAlpha is adapter.lora.alpha, the alpha llama.cpp scales by
	// (FileAlpha/r per pair); 0 when absent, which llama.cpp reads as scale 1.
	FileAlpha float32
	// Alpha is the training alpha: webtune.lora.alpha or lora.alpha when
	// present, else FileAlpha. 0 means no alpha: scale 1, read as alpha = r.
	Alpha float64
	// RSLoRA is webtune.lora.use_rslora: Alpha scales by alpha/√r, and
	// FileAlpha is then Alpha·√r.
	RSLoRA bool
	// Rank is the rank stated by webtune.lora.rank / lora.rank, 0 when
	// absent (then the pairs' ranks may differ).
	Rank int
	// Pairs are the adapted tensors, in the file order of their first half.
	Pairs []AdapterPair
	// Skipped are the *_norm.weight tensors, which llama.cpp skips.
	Skipped []string
}

// AdapterPair is one adapted base tensor: its lora_a and lora_b.
type AdapterPair struct {
	// Name is the adapted base tensor's GGUF name (blk.0.attn_q.weight);
	// for a pair in the published API's names, the layer (blk.0.attn_q).
	Name string
	// A is <Name>.lora_a, ggml dims [in, r] (token_embd.weight: [r, n_vocab]).
	// B is <Name>.lora_b, ggml dims [r, out] (token_embd.weight: [r, n_embd]).
	// Both point into the inspected gguf.File's Tensors.
	A, B *gguf.TensorInfo
	// Rank is the pair's rank r.
	Rank int

	legacy bool // named lora.<layer>.weight_a/_b (ReadAdapter only)
}

// Ranks returns the distinct ranks of the pairs, ascending (in time
// linear in the number of pairs, up to the sort).
func (af *AdapterFile) Ranks() []int {
	rs := make([]int, len(af.Pairs))
	for i, p := range af.Pairs {
		rs[i] = p.Rank
	}
	slices.Sort(rs)
	return slices.Compact(rs)
}

// tokenEmbd is the one base tensor whose lora_a is transposed (docs/llamacpp-lora.md).
const tokenEmbd = "token_embd.weight"

// adapterTypes are the tensor types llama.cpp's converter emits for adapters
// (docs/llamacpp-lora.md).
var adapterTypes = []gguf.TensorType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0}

// InspectAdapter checks the file-level rules of a llama.cpp LoRA adapter
// (docs/llamacpp-lora.md) on a parsed GGUF, with no model and without reading
// tensor data, and returns its metadata and pairs:
//   - general.type "adapter" and adapter.type "lora", both STRING, else
//     ErrNotAdapter (which wraps ErrFormat);
//   - general.architecture a non-empty STRING: ErrArchitecture if missing or
//     empty, ErrFormat if not a STRING or not the shape of an architecture
//     name (lower-case letters, digits, '_', '-', '.'; at most
//     MaxArchitectureLength bytes);
//   - adapter.lora.alpha, if present, a finite FLOAT32 ≥ 0 (llama.cpp
//     asserts the type); webtune.lora.alpha / lora.alpha finite numbers > 0
//     that adapter.lora.alpha agrees with (·√r with rsLoRA);
//     webtune.lora.use_rslora a BOOL; else ErrFormat;
//   - webtune.lora.rank / lora.rank, if present, equal integers in
//     [1, MaxRank], else ErrRank;
//   - every tensor named <base>.lora_a or <base>.lora_b with <base> an
//     adaptable llama-family weight (TargetOf: blk.N.attn_q.weight, ...,
//     output.weight, token_embd.weight), or a norm weight
//     (blk.N.attn_norm.weight, output_norm.weight, ...: skipped, as
//     llama.cpp does, and listed in Skipped); anything else ErrFormat; at
//     least one pair, else ErrFormat;
//     both halves of every pair, else ErrMissingPair;
//   - every half of type F32, F16, BF16 or Q8_0 (ErrFormat) with two dims
//     (ErrShape); lora_a [in, r] and lora_b [r, out] agreeing on r
//     (token_embd.weight: lora_a [r, n_vocab], lora_b [r, n_embd]), else
//     ErrShape; 1 ≤ r ≤ MaxRank and r equal to the rank keys, else ErrRank.
//
// It reads no tensor data: CheckAdapter adds the finiteness of every
// weight and the parsing limits, for bytes from an untrusted source. What
// needs the base comes on top: ReadAdapter checks the model's layers, dims
// and ranks, webtune merge the base GGUF's tensors.
func InspectAdapter(f *gguf.File) (*AdapterFile, error) { return inspect(f, false) }

// inspect is InspectAdapter; legacyOK also accepts the published API's
// lora.<layer>.weight_a/_b names, and a file with only such names may omit
// general.type, adapter.type and general.architecture.
func inspect(f *gguf.File, legacyOK bool) (*AdapterFile, error) {
	if f == nil {
		return nil, configErr("nil GGUF file")
	}
	strict := !legacyOK
	for _, ti := range f.Tensors {
		strict = strict || strings.HasSuffix(ti.Name, suffixA) || strings.HasSuffix(ti.Name, suffixB)
	}
	af := &AdapterFile{}
	var err error
	if af.Architecture, err = checkHeader(f, strict); err != nil {
		return nil, err
	}
	if err := readMeta(f, af); err != nil {
		return nil, err
	}
	if af.Pairs, af.Skipped, err = classify(f, legacyOK); err != nil {
		return nil, err
	}
	if !legacyOK {
		if err := checkNames(af); err != nil {
			return nil, err
		}
	}
	for i := range af.Pairs {
		if err := checkPair(&af.Pairs[i], af.Rank); err != nil {
			return nil, err
		}
	}
	return af, nil
}

// checkNames refuses tensor names no llama-family base model has: every
// pair must adapt a TargetOf name and every skipped tensor must be a norm
// weight's name (ReadAdapter checks names against its model instead).
func checkNames(af *AdapterFile) error {
	for _, p := range af.Pairs {
		if _, ok := TargetOf(p.Name); !ok {
			return fmt.Errorf("%w: tensor %q: %q is not an adaptable llama-family weight (blk.N.{%s}.weight, %s.weight)",
				ErrFormat, p.A.Name, p.Name, strings.Join(blockTargets, ","), strings.Join(modelTargets, ".weight, "))
		}
	}
	for _, n := range af.Skipped {
		if !normName(n) {
			return fmt.Errorf("%w: tensor %q is not a llama-family norm weight (blk.N.<x>_norm.weight or <x>_norm.weight)", ErrFormat, n)
		}
	}
	return nil
}

// splitTensorName parses a LoRA tensor name: the pair's name (the base
// tensor, or the layer for the legacy form), whether it is A, whether it has
// the legacy form (only when legacyOK), and whether it has a LoRA form at all.
func splitTensorName(name string, legacyOK bool) (pair string, isA, legacy, ok bool) {
	if base, found := strings.CutSuffix(name, suffixA); found {
		return base, true, false, true
	}
	if base, found := strings.CutSuffix(name, suffixB); found {
		return base, false, false, true
	}
	rest, found := strings.CutPrefix(name, legacyPrefix)
	if !legacyOK || !found {
		return "", false, false, false
	}
	if l, found := strings.CutSuffix(rest, legacySuffixA); found {
		return l, true, true, true
	}
	if l, found := strings.CutSuffix(rest, legacySuffixB); found {
		return l, false, true, true
	}
	return "", false, false, false
}

// classify pairs the file's tensors in file order and lists the skipped
// norm tensors. A legacy lora.<L>.weight_a pairs with <L>.weight.lora_b, so
// that a layer named both ways is caught as such, not as two half pairs.
func classify(f *gguf.File, legacyOK bool) (pairs []AdapterPair, skipped []string, err error) {
	index := map[string]int{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		name, isA, legacy, ok := splitTensorName(ti.Name, legacyOK)
		switch {
		case !ok && strings.HasSuffix(ti.Name, "_norm.weight"):
			skipped = append(skipped, ti.Name) // mergekit norm tensors; llama.cpp skips them too
			continue
		case !ok:
			return nil, nil, fmt.Errorf("%w: tensor %q is not <base>%s or <base>%s (llama.cpp: unexpected suffix)", ErrFormat, ti.Name, suffixA, suffixB)
		case name == "":
			return nil, nil, fmt.Errorf("%w: tensor %q has an empty base name", ErrFormat, ti.Name)
		}
		key := name
		if legacy {
			key += ".weight"
		}
		j, seen := index[key]
		if !seen {
			j = len(pairs)
			index[key] = j
			pairs = append(pairs, AdapterPair{Name: name, legacy: legacy})
		}
		p := &pairs[j]
		if p.legacy != legacy {
			return nil, nil, fmt.Errorf("%w: %q has tensors under both naming conventions", ErrFormat, key)
		}
		half := &p.B
		if isA {
			half = &p.A
		}
		if *half != nil {
			return nil, nil, fmt.Errorf("%w: %q has two %s tensors", ErrFormat, name, ti.Name[strings.LastIndexByte(ti.Name, '.')+1:])
		}
		*half = ti
	}
	if len(pairs) == 0 {
		return nil, nil, fmt.Errorf("%w: no LoRA tensors", ErrFormat)
	}
	for _, p := range pairs {
		if p.A == nil || p.B == nil {
			return nil, nil, fmt.Errorf("%w: %q has lora_a: %t, lora_b: %t", ErrMissingPair, p.Name, p.A != nil, p.B != nil)
		}
	}
	return pairs, skipped, nil
}

// checkPair checks one pair's types, dims and rank (rankKey: the file's
// rank keys, 0 when absent) and sets p.Rank.
func checkPair(p *AdapterPair, rankKey int) error {
	for _, t := range []*gguf.TensorInfo{p.A, p.B} {
		if !slices.Contains(adapterTypes, t.Type) {
			return fmt.Errorf("%w: tensor %q is %v; llama.cpp adapters are F32, F16, BF16 or Q8_0", ErrFormat, t.Name, t.Type)
		}
		if len(t.Dims) != 2 {
			return fmt.Errorf("%w: tensor %q has dims %v, want 2 dims", ErrShape, t.Name, t.Dims)
		}
	}
	a, b := p.A.Dims, p.B.Dims
	r := a[1] // a = [in, r], b = [r, out]
	if p.Name == tokenEmbd && !p.legacy {
		r = a[0] // a = [r, n_vocab], b = [r, n_embd]
	}
	if b[0] != r {
		return fmt.Errorf("%w: %q: lora_a dims %v and lora_b dims %v disagree on the rank (is lora_a transposed?)", ErrShape, p.Name, a, b)
	}
	if r < 1 || r > MaxRank {
		return fmt.Errorf("%w: %q: rank %d outside [1, %d]", ErrRank, p.Name, r, MaxRank)
	}
	if rankKey > 0 && r != uint64(rankKey) {
		return fmt.Errorf("%w: %q has rank %d, the file's rank key says %d", ErrRank, p.Name, r, rankKey)
	}
	p.Rank = int(r)
	return nil
}
