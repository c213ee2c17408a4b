package lora

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// LoadAdapter reads the adapter file at path into m (see ReadAdapter).
func LoadAdapter[T tensor.Numeric](path string, m Model[T]) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("lora: load adapter: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("lora: load adapter: %w", err)
	}
	return ReadAdapter(f, st.Size(), m)
}

// pair is one adapted layer of a file.
type pair struct {
	layer  string
	a, b   *gguf.TensorInfo
	legacy bool // lora.<layer>.weight_a/_b names
}

// ReadAdapter reads a LoRA adapter GGUF of size bytes from r into m. Tensors
// named <base>.lora_a/_b (llama.cpp; <base> = BaseTensorName of a layer) and
// lora.<layer>.weight_a/_b (the published API) are accepted, in any type
// gguf decodes (F32, F16, BF16, Q8_0, ...); *_norm.weight tensors are
// skipped as llama.cpp does. Scale: webtune.lora.alpha and
// webtune.lora.use_rslora when present, else lora.alpha, else llama.cpp's
// adapter.lora.alpha (absent or 0 means scale 1, read as alpha = r).
//
// If m has no LoRA layers, the file's layers are wrapped (the file's rank
// per pair and its alpha, the base's engine, B and A from the file): this is
// how a trained adapter is applied to a freshly loaded base. If m has LoRA
// layers, the file must cover exactly those layers with the same ranks;
// their A and B are overwritten and alpha/rsLoRA taken from the file
// (gradients are not touched).
//
// It refuses, with errors wrapping: ErrFormat a non-adapter or malformed
// file; ErrArchitecture a general.architecture other than
// ModelArchitecture(m) (a missing one, too, unless every tensor has the
// published names); ErrUnknownLayer a tensor for a layer m lacks;
// ErrMissingPair half a pair, or an injected layer the file lacks;
// ErrShape dims that do not fit the layer; ErrRank a rank other than the
// injected one or the file's rank keys; ErrNotInjected a file layer that is
// not wrapped in a model where others are. Everything is validated and read
// before m is changed, so on error m is unchanged.
func ReadAdapter[T tensor.Numeric](r io.ReaderAt, size int64, m Model[T]) error {
	if m == nil || r == nil {
		return configErr("nil model or reader")
	}
	f, err := gguf.Open(r, size)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err := checkHeader(f, m); err != nil {
		return err
	}
	layers := linearLayers(m)
	pairs, err := classify(f, m, layers)
	if err != nil {
		return err
	}
	meta, err := readMeta(f)
	if err != nil {
		return err
	}
	if err := checkPairs(pairs, layers, meta); err != nil {
		return err
	}
	if err := checkCoverage(m, pairs, layers); err != nil {
		return err
	}
	loaded := make([]loadedPair[T], len(pairs))
	for i, p := range pairs {
		if loaded[i], err = readPair[T](f, p, meta); err != nil {
			return err
		}
	}
	return apply(m, layers, loaded)
}

// linearLayers maps the names of m's linear layers to the layers.
func linearLayers[T tensor.Numeric](m Model[T]) map[string]Layer[T] {
	out := map[string]Layer[T]{}
	for _, l := range m.Layers() {
		if _, ok := l.(LinearInfo); ok {
			out[l.Name()] = l
		}
	}
	return out
}

// classify pairs the file's tensors by layer, in file order.
func classify[T tensor.Numeric](f *gguf.File, m Model[T], layers map[string]Layer[T]) ([]*pair, error) {
	byBase := map[string]string{}
	for name := range layers {
		byBase[BaseTensorName(m, name)] = name
	}
	var pairs []*pair
	index := map[string]*pair{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		layer, isA, legacy, ok := tensorLayer(ti.Name, byBase, layers)
		switch {
		case !ok && strings.HasSuffix(ti.Name, "_norm.weight"):
			continue // mergekit norm tensors; llama.cpp skips them too
		case !ok:
			return nil, fmt.Errorf("%w: tensor %q is neither <base>.lora_a/_b nor lora.<layer>.weight_a/_b", ErrFormat, ti.Name)
		case layer == "":
			return nil, fmt.Errorf("%w: tensor %q: the model has no such linear layer", ErrUnknownLayer, ti.Name)
		}
		p := index[layer]
		if p == nil {
			p = &pair{layer: layer, legacy: legacy}
			index[layer] = p
			pairs = append(pairs, p)
		}
		half := &p.b
		if isA {
			half = &p.a
		}
		if p.legacy != legacy {
			return nil, fmt.Errorf("%w: layer %q has tensors under both naming conventions", ErrFormat, layer)
		}
		if *half != nil {
			return nil, fmt.Errorf("%w: layer %q has two %s tensors", ErrFormat, layer, ti.Name[strings.LastIndexByte(ti.Name, '.')+1:])
		}
		*half = ti
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%w: no LoRA tensors", ErrFormat)
	}
	for _, p := range pairs {
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("%w: layer %q has lora_a: %t, lora_b: %t", ErrMissingPair, p.layer, p.a != nil, p.b != nil)
		}
	}
	return pairs, nil
}

// tensorLayer parses a tensor name: the layer it adapts ("" when the name
// has a LoRA form but the model has no such layer), whether it is A, whether
// it has the legacy form, and whether it has a LoRA form at all.
func tensorLayer[T tensor.Numeric](name string, byBase map[string]string, layers map[string]Layer[T]) (layer string, isA, legacy, ok bool) {
	for _, s := range []struct {
		suffix string
		isA    bool
	}{{suffixA, true}, {suffixB, false}} {
		if base, found := strings.CutSuffix(name, s.suffix); found {
			return byBase[base], s.isA, false, true
		}
	}
	rest, found := strings.CutPrefix(name, legacyPrefix)
	if !found {
		return "", false, false, false
	}
	for _, s := range []struct {
		suffix string
		isA    bool
	}{{legacySuffixA, true}, {legacySuffixB, false}} {
		if l, found := strings.CutSuffix(rest, s.suffix); found {
			if _, known := layers[l]; !known {
				l = ""
			}
			return l, s.isA, true, true
		}
	}
	return "", false, false, false
}

// checkPairs checks every pair's dims against its layer and the ranks.
func checkPairs[T tensor.Numeric](pairs []*pair, layers map[string]Layer[T], meta fileMeta) error {
	for _, p := range pairs {
		li := layers[p.layer].(LinearInfo)
		a, b := p.a.Dims, p.b.Dims
		if len(a) != 2 || len(b) != 2 {
			return fmt.Errorf("%w: layer %q: lora_a dims %v, lora_b dims %v, want 2 each", ErrShape, p.layer, a, b)
		}
		if a[0] != uint64(li.InFeatures()) || b[1] != uint64(li.OutFeatures()) {
			return fmt.Errorf("%w: layer %q is %d→%d, lora_a dims %v, lora_b dims %v (want [%d, r], [r, %d])",
				ErrShape, p.layer, li.InFeatures(), li.OutFeatures(), a, b, li.InFeatures(), li.OutFeatures())
		}
		if a[1] != b[0] {
			return fmt.Errorf("%w: layer %q: lora_a dims %v and lora_b dims %v disagree on r (is lora_a transposed?)", ErrShape, p.layer, a, b)
		}
		r := b[0]
		if r < 1 || r > MaxRank {
			return fmt.Errorf("%w: layer %q: rank %d outside [1, %d]", ErrRank, p.layer, r, MaxRank)
		}
		if meta.rank > 0 && r != uint64(meta.rank) {
			return fmt.Errorf("%w: layer %q has rank %d, the file's rank key says %d", ErrRank, p.layer, r, meta.rank)
		}
		if ll, ok := layers[p.layer].(*LoraLinear[T]); ok && uint64(ll.rank) != r {
			return fmt.Errorf("%w: layer %q has rank %d in the model, %d in the file", ErrRank, p.layer, ll.rank, r)
		}
	}
	return nil
}

// checkCoverage requires, in a model with LoRA layers, that the file's
// layers are exactly the LoRA layers.
func checkCoverage[T tensor.Numeric](m Model[T], pairs []*pair, layers map[string]Layer[T]) error {
	injected := Adapters(m)
	if len(injected) == 0 {
		return nil
	}
	inFile := map[string]bool{}
	for _, p := range pairs {
		if _, ok := layers[p.layer].(*LoraLinear[T]); !ok {
			return fmt.Errorf("%w: the file adapts %q, which the model has not wrapped (it wraps %s)",
				ErrNotInjected, p.layer, strings.Join(loraNames(m), ", "))
		}
		inFile[p.layer] = true
	}
	for _, l := range injected {
		if !inFile[l.name] {
			return fmt.Errorf("%w: the model's LoRA layer %q has no pair in the file", ErrMissingPair, l.name)
		}
	}
	return nil
}

// loadedPair is a validated pair with its data and scale.
type loadedPair[T tensor.Numeric] struct {
	layer  string
	rank   int
	alpha  float32
	rslora bool
	a, b   []T // [r×in], [out×r]
}

// readPair reads and converts both tensors, refusing non-finite values.
func readPair[T tensor.Numeric](f *gguf.File, p *pair, meta fileMeta) (loadedPair[T], error) {
	lp := loadedPair[T]{layer: p.layer, rank: int(p.b.Dims[0]), alpha: float32(meta.alpha), rslora: meta.rslora}
	if meta.alpha == 0 {
		lp.alpha = float32(lp.rank) // llama.cpp: no alpha → scale 1
	}
	for _, t := range []struct {
		info *gguf.TensorInfo
		dst  *[]T
	}{{p.a, &lp.a}, {p.b, &lp.b}} {
		v, err := f.ReadTensorF32(t.info.Name)
		if err != nil {
			return lp, fmt.Errorf("%w: tensor %q: %w", ErrFormat, t.info.Name, err)
		}
		if !tensor.AllFinite(v) {
			return lp, fmt.Errorf("%w: tensor %q holds NaN or Inf", ErrFormat, t.info.Name)
		}
		*t.dst = make([]T, len(v))
		tensor.Convert(*t.dst, v)
	}
	return lp, nil
}

// apply writes validated pairs into m: into the existing LoRA layers, or,
// when m has none, by wrapping the layers (undone on a ReplaceLayer error).
func apply[T tensor.Numeric](m Model[T], layers map[string]Layer[T], pairs []loadedPair[T]) error {
	if len(Adapters(m)) > 0 {
		for _, p := range pairs {
			l := layers[p.layer].(*LoraLinear[T])
			copy(l.A.Value.Data(), p.a)
			copy(l.B.Value.Data(), p.b)
			l.setAlpha(p.rank, p.alpha, p.rslora)
		}
		return nil
	}
	old := make([]Layer[T], len(pairs))
	wrapped := make([]Layer[T], len(pairs))
	for i, p := range pairs {
		base := layers[p.layer]
		li := base.(LinearInfo)
		l, err := newLoraLinear(p.layer, base, p.rank, p.alpha, engineOf(base), li.InFeatures(), li.OutFeatures(), config{rslora: p.rslora})
		if err != nil {
			return err
		}
		copy(l.A.Value.Data(), p.a)
		copy(l.B.Value.Data(), p.b)
		old[i], wrapped[i] = base, l
	}
	if err := replaceAll(m, old, wrapped); err != nil {
		return err
	}
	freezeBases(wrapped)
	return nil
}

// engineOf returns the engine of a layer that exposes one, else the CPU's.
func engineOf[T tensor.Numeric](l Layer[T]) tensor.Engine[T] {
	if e, ok := l.(interface{ Engine() tensor.Engine[T] }); ok && e.Engine() != nil {
		return e.Engine()
	}
	return tensor.NewCPU[T]()
}

var _ nn.Node[float32] = (*LoraLinear[float32])(nil)
