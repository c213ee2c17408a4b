package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/webtune/webtune/gguf"
)

// The merge command: llama.cpp's export-lora. Every base tensor W that an
// adapter pairs with <W>.lora_a / <W>.lora_b becomes
//
//	W + Σ_adapters s·B·A,   s = scale·alpha/rank (scale when alpha is 0)
//
// (SPECS §B.4), stored as F32 when W is F32 and F16 otherwise; every other
// tensor and all metadata are copied unchanged.

const mergeUsage = `usage: webtune merge --model base.gguf --lora adapter.gguf[:scale] [--lora ...] --out merged.gguf

Folds LoRA adapters into the base weights as llama.cpp's export-lora does:
adapted tensors become W + scale·(alpha/rank)·B·A, written as F32 for an F32
base tensor and F16 otherwise; everything else is copied unchanged.
`

// loraArg is one --lora flag value: a path and a user scale (default 1).
type loraArg struct {
	Path  string
	Scale float64
}

// loraFlags collects repeated --lora path[:scale] flags.
type loraFlags []loraArg

func (l *loraFlags) String() string {
	var s []string
	for _, a := range *l {
		s = append(s, fmt.Sprintf("%s:%g", a.Path, a.Scale))
	}
	return strings.Join(s, ",")
}

// Set parses "path" or "path:scale"; a suffix that is not a number is part
// of the path.
func (l *loraFlags) Set(v string) error {
	a := loraArg{Path: v, Scale: 1}
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if s, err := strconv.ParseFloat(v[i+1:], 64); err == nil {
			a = loraArg{Path: v[:i], Scale: s}
		}
	}
	if a.Path == "" {
		return errors.New("empty adapter path")
	}
	*l = append(*l, a)
	return nil
}

// adapterPair is one adapted base tensor of an adapter file.
type adapterPair struct {
	Base     string    // base tensor name (blk.0.attn_q.weight)
	A        []float32 // [r, in] row-major (ne [in, r])
	B        []float32 // [out, r] row-major (ne [r, out])
	Rank     int
	In, Out  int
	EffScale float64 // user scale · alpha/rank, or the user scale when alpha is 0
}

// adapterFile is a parsed llama.cpp LoRA adapter.
type adapterFile struct {
	Arch  string
	Alpha float32
	Pairs []adapterPair
}

// readAdapterFile parses a llama.cpp-convention adapter (SPECS §B.1-§B.4),
// checking it as llama.cpp's loader does against base (the base model's
// parsed GGUF): metadata, pairing, base tensors and shapes.
func readAdapterFile(path string, scale float64, base *gguf.File) (*adapterFile, error) {
	f, fh, err := openGGUF(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	defer fh.Close()
	for key, want := range map[string]string{"general.type": "adapter", "adapter.type": "lora"} {
		if got, err := f.GetString(key); err != nil || got != want {
			return nil, fmt.Errorf("adapter %s: expect %s to be %q, got %q (%v)", path, key, want, got, err)
		}
	}
	af := &adapterFile{}
	af.Arch, _ = f.GetString("general.architecture")
	if baseArch, _ := base.GetString("general.architecture"); af.Arch != baseArch {
		return nil, fmt.Errorf("adapter %s: architecture %q, base model is %q", path, af.Arch, baseArch)
	}
	if _, ok := f.Value("adapter.lora.alpha"); ok {
		if af.Alpha, err = f.GetFloat32("adapter.lora.alpha"); err != nil {
			return nil, fmt.Errorf("adapter %s: %w", path, err)
		}
	}
	for _, ti := range f.Tensors {
		switch {
		case strings.HasSuffix(ti.Name, ".lora_a"):
			p, err := readPair(f, base, strings.TrimSuffix(ti.Name, ".lora_a"), af.Alpha, scale)
			if err != nil {
				return nil, fmt.Errorf("adapter %s: %w", path, err)
			}
			af.Pairs = append(af.Pairs, p)
		case strings.HasSuffix(ti.Name, ".lora_b"):
			if _, ok := f.Tensor(strings.TrimSuffix(ti.Name, ".lora_b") + ".lora_a"); !ok {
				return nil, fmt.Errorf("adapter %s: LoRA tensor pair for %q is missing lora_a", path, ti.Name)
			}
		case strings.HasSuffix(ti.Name, "_norm.weight"):
			// skipped by llama.cpp too
		default:
			return nil, fmt.Errorf("adapter %s: LoRA tensor %q has unexpected suffix", path, ti.Name)
		}
	}
	return af, nil
}

// readPair reads <name>.lora_a and .lora_b and checks them against the base
// tensor name.
func readPair(f, base *gguf.File, name string, alpha float32, scale float64) (adapterPair, error) {
	ai, _ := f.Tensor(name + ".lora_a")
	bi, ok := f.Tensor(name + ".lora_b")
	if !ok {
		return adapterPair{}, fmt.Errorf("LoRA tensor pair for %q is missing lora_b", name)
	}
	wi, ok := base.Tensor(name)
	if !ok {
		return adapterPair{}, fmt.Errorf("LoRA tensor %q does not exist in base model", name)
	}
	if name == "token_embd.weight" {
		return adapterPair{}, fmt.Errorf("LoRA on token_embd.weight is not supported here")
	}
	if len(wi.Dims) != 2 || len(ai.Dims) != 2 || len(bi.Dims) != 2 ||
		wi.Dims[0] != ai.Dims[0] || wi.Dims[1] != bi.Dims[1] || ai.Dims[1] != bi.Dims[0] {
		return adapterPair{}, fmt.Errorf("tensor %q has incorrect shape: W %v, A %v, B %v", name, wi.Dims, ai.Dims, bi.Dims)
	}
	a, err := f.ReadTensorF32(ai.Name)
	if err != nil {
		return adapterPair{}, err
	}
	b, err := f.ReadTensorF32(bi.Name)
	if err != nil {
		return adapterPair{}, err
	}
	p := adapterPair{Base: name, A: a, B: b, Rank: int(bi.Dims[0]), In: int(wi.Dims[0]), Out: int(wi.Dims[1]), EffScale: scale}
	if alpha != 0 {
		p.EffScale = scale * float64(alpha) / float64(p.Rank)
	}
	return p, nil
}

// addDelta adds p.EffScale·B·A to w ([Out, In] row-major), accumulating in
// float32 as ggml does.
func (p *adapterPair) addDelta(w []float32) {
	s := float32(p.EffScale)
	row := make([]float32, p.In)
	for o := 0; o < p.Out; o++ {
		clear(row)
		for k := 0; k < p.Rank; k++ {
			bk := p.B[o*p.Rank+k]
			if bk == 0 {
				continue
			}
			a := p.A[k*p.In : (k+1)*p.In]
			for i, av := range a {
				row[i] += bk * av
			}
		}
		wr := w[o*p.In : (o+1)*p.In]
		for i, d := range row {
			wr[i] += s * d
		}
	}
}

// runMerge is the merge command.
func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, mergeUsage); fs.PrintDefaults() }
	model := fs.String("model", "", "base model GGUF")
	out := fs.String("out", "", "merged model GGUF to write")
	var loras loraFlags
	fs.Var(&loras, "lora", "adapter GGUF, optionally :scale (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *out == "" || len(loras) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	return mergeFiles(*model, loras, *out)
}

// mergeFiles writes base + adapters to out atomically.
func mergeFiles(model string, loras []loraArg, out string) error {
	base, fh, err := openGGUF(model)
	if err != nil {
		return err
	}
	defer fh.Close()
	deltas := map[string][]*adapterPair{}
	for _, l := range loras {
		af, err := readAdapterFile(l.Path, l.Scale, base)
		if err != nil {
			return err
		}
		for i := range af.Pairs {
			p := &af.Pairs[i]
			deltas[p.Base] = append(deltas[p.Base], p)
		}
	}
	w := gguf.NewWriter()
	for _, kv := range base.KVs {
		if kv.Key == "general.alignment" {
			continue // export-lora pads with the default 32
		}
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	for _, ti := range base.Tensors {
		if err := mergeTensor(w, base, ti, deltas[ti.Name]); err != nil {
			return fmt.Errorf("merge %s: %w", ti.Name, err)
		}
	}
	return writeAtomic(out, func(wr io.Writer) error { _, err := w.WriteTo(wr); return err })
}

// mergeTensor adds ti to w: unchanged raw bytes when no adapter touches it,
// else W + Σ deltas as F32 (F32 base) or F16.
func mergeTensor(w *gguf.Writer, base *gguf.File, ti gguf.TensorInfo, ds []*adapterPair) error {
	if len(ds) == 0 {
		sr, err := base.TensorData(ti.Name)
		if err != nil {
			return err
		}
		b := make([]byte, sr.Size())
		if _, err := io.ReadFull(sr, b); err != nil {
			return err
		}
		return w.AddTensor(ti.Name, ti.Type, ti.Dims, b)
	}
	wf, err := base.ReadTensorF32(ti.Name)
	if err != nil {
		return err
	}
	for _, d := range ds {
		d.addDelta(wf)
	}
	typ := gguf.TypeF16
	if ti.Type == gguf.TypeF32 {
		typ = gguf.TypeF32
	}
	return w.AddTensorF32(ti.Name, ti.Dims, wf, typ)
}

// writeAtomic writes path through a temporary file in the same directory
// and renames it into place, so a crash never leaves a half-written file.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
