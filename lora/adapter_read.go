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
	layer string
	AdapterPair
}

// ReadAdapter reads a LoRA adapter GGUF of size bytes from r into m. Tensors
// named <base>.lora_a/_b (llama.cpp; <base> = BaseTensorName of a layer) and
// lora.<layer>.weight_a/_b (the published API) are accepted, in the types
// llama.cpp adapters use (F32, F16, BF16, Q8_0); *_norm.weight tensors are
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
// The file is parsed under AdapterLimits and must pass InspectAdapter's
// checks (published-API files may omit general.type, adapter.type and
// general.architecture; tensor names are checked against m instead of the
// llama-family list), with its errors.
// Against m it refuses, with errors wrapping: ErrUnknownLayer a tensor for a
// layer m lacks (checked first: the likeliest cause is another base model);
// ErrArchitecture a general.architecture other than ModelArchitecture(m);
// ErrFormat a layer adapted under both naming conventions or a NaN or Inf
// value; ErrShape dims that do not fit the layer; ErrRank a rank other than
// the injected one; ErrMissingPair an injected layer the file lacks;
// ErrNotInjected a file layer that is not wrapped in a model where others
// are. Everything is validated and read before m is changed, so on error m
// is unchanged.
func ReadAdapter[T tensor.Numeric](r io.ReaderAt, size int64, m Model[T]) error {
	if m == nil || r == nil {
		return configErr("nil model or reader")
	}
	f, err := OpenAdapter(r, size)
	if err != nil {
		return err
	}
	layers := linearLayers(m)
	byBase := map[string]string{}
	for name := range layers {
		byBase[BaseTensorName(m, name)] = name
	}
	if err := checkKnown(f, byBase, layers); err != nil {
		return err
	}
	af, err := inspect(f, true)
	if err != nil {
		return err
	}
	if want := ModelArchitecture(m); af.Architecture != "" && af.Architecture != want {
		return fmt.Errorf("%w: file is %q, model is %q", ErrArchitecture, af.Architecture, want)
	}
	pairs, err := layerPairs(af, byBase, layers)
	if err != nil {
		return err
	}
	if err := checkPairs(pairs, layers); err != nil {
		return err
	}
	if err := checkCoverage(m, pairs, layers); err != nil {
		return err
	}
	loaded := make([]loadedPair[T], len(pairs))
	for i, p := range pairs {
		if loaded[i], err = readPair[T](f, p, af); err != nil {
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

// layerOf returns the layer of the model a pair name adapts ("" if none):
// byBase maps base tensor names to layers, a legacy name is the layer.
func layerOf[T tensor.Numeric](name string, legacy bool, byBase map[string]string, layers map[string]Layer[T]) string {
	if !legacy {
		return byBase[name]
	}
	if _, ok := layers[name]; ok {
		return name
	}
	return ""
}

// checkKnown refuses a LoRA-named tensor for a layer the model lacks.
func checkKnown[T tensor.Numeric](f *gguf.File, byBase map[string]string, layers map[string]Layer[T]) error {
	for _, ti := range f.Tensors {
		name, _, legacy, ok := splitTensorName(ti.Name, true)
		if ok && layerOf(name, legacy, byBase, layers) == "" {
			return fmt.Errorf("%w: tensor %q: the model has no such linear layer (maybe another base model?)", ErrUnknownLayer, ti.Name)
		}
	}
	return nil
}

// layerPairs gives each of the file's pairs its layer; a layer adapted
// twice (by both naming conventions) is ErrFormat.
func layerPairs[T tensor.Numeric](af *AdapterFile, byBase map[string]string, layers map[string]Layer[T]) ([]pair, error) {
	pairs := make([]pair, len(af.Pairs))
	seen := map[string]bool{}
	for i, p := range af.Pairs {
		l := layerOf(p.Name, p.legacy, byBase, layers)
		if seen[l] {
			return nil, fmt.Errorf("%w: layer %q has tensors under both naming conventions", ErrFormat, l)
		}
		seen[l] = true
		pairs[i] = pair{layer: l, AdapterPair: p}
	}
	return pairs, nil
}

// checkPairs checks every pair's dims against its layer, and its rank
// against the layer's when the layer is LoRA-wrapped.
func checkPairs[T tensor.Numeric](pairs []pair, layers map[string]Layer[T]) error {
	for _, p := range pairs {
		li := layers[p.layer].(LinearInfo)
		a, b := p.A.Dims, p.B.Dims
		if a[0] != uint64(li.InFeatures()) || b[1] != uint64(li.OutFeatures()) {
			return fmt.Errorf("%w: layer %q is %d→%d, lora_a dims %v, lora_b dims %v (want [%d, r], [r, %d])",
				ErrShape, p.layer, li.InFeatures(), li.OutFeatures(), a, b, li.InFeatures(), li.OutFeatures())
		}
		if ll, ok := layers[p.layer].(*LoraLinear[T]); ok && ll.rank != p.Rank {
			return fmt.Errorf("%w: layer %q has rank %d in the model, %d in the file", ErrRank, p.layer, ll.rank, p.Rank)
		}
	}
	return nil
}

// checkCoverage requires, in a model with LoRA layers, that the file's
// layers are exactly the LoRA layers.
func checkCoverage[T tensor.Numeric](m Model[T], pairs []pair, layers map[string]Layer[T]) error {
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
func readPair[T tensor.Numeric](f *gguf.File, p pair, af *AdapterFile) (loadedPair[T], error) {
	lp := loadedPair[T]{layer: p.layer, rank: p.Rank, alpha: float32(af.Alpha), rslora: af.RSLoRA}
	if af.Alpha == 0 {
		lp.alpha = float32(lp.rank) // llama.cpp: no alpha → scale 1
	}
	for _, t := range []struct {
		info *gguf.TensorInfo
		dst  *[]T
	}{{p.A, &lp.a}, {p.B, &lp.b}} {
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
