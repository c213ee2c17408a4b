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
	"github.com/webtune/webtune/lora"
)

// The merge command: llama.cpp's export-lora. Every base tensor W that an
// adapter pairs with <W>.lora_a / <W>.lora_b becomes
//
//	W + Σ_adapters s·B·A,   s = scale·alpha/rank (scale when alpha is 0)
//
// (docs/llamacpp-lora.md), stored as F32 when W is F32 and F16 otherwise; every other
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
	Alpha float32 // adapter.lora.alpha, what export-lora scales by
	Pairs []adapterPair
}

// readAdapterFile reads a llama.cpp-convention adapter (docs/llamacpp-lora.md):
// lora.InspectAdapter checks the file itself, then, as llama.cpp's loader
// does, the adapter is checked against base (the base model's parsed GGUF):
// the same architecture (lora.ErrArchitecture), every adapted tensor in the
// base (lora.ErrUnknownLayer) with dims [in, out] that fit A [in, r] and
// B [r, out] (lora.ErrShape). Norm tensors are skipped, as export-lora does.
func readAdapterFile(path string, scale float64, base *gguf.File) (*adapterFile, error) {
	f, fh, err := openGGUF(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	defer fh.Close()
	info, err := lora.InspectAdapter(f)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", path, err)
	}
	if baseArch, _ := base.GetString("general.architecture"); info.Architecture != baseArch {
		return nil, fmt.Errorf("adapter %s: %w: adapter is %q, base model is %q", path, lora.ErrArchitecture, info.Architecture, baseArch)
	}
	af := &adapterFile{Arch: info.Architecture, Alpha: info.FileAlpha}
	for _, lp := range info.Pairs {
		p, err := readPair(f, base, lp, af.Alpha, scale)
		if err != nil {
			return nil, fmt.Errorf("adapter %s: %w", path, err)
		}
		af.Pairs = append(af.Pairs, p)
	}
	return af, nil
}

// readPair checks an inspected pair against its base tensor and reads it.
func readPair(f, base *gguf.File, lp lora.AdapterPair, alpha float32, scale float64) (adapterPair, error) {
	name := lp.Name
	wi, ok := base.Tensor(name)
	if !ok {
		return adapterPair{}, fmt.Errorf("%w: LoRA tensor %q does not exist in base model (maybe wrong base model?)", lora.ErrUnknownLayer, name)
	}
	if name == "token_embd.weight" {
		return adapterPair{}, fmt.Errorf("LoRA on token_embd.weight is not supported here")
	}
	if len(wi.Dims) != 2 || wi.Dims[0] != lp.A.Dims[0] || wi.Dims[1] != lp.B.Dims[1] {
		return adapterPair{}, fmt.Errorf("%w: tensor %q has incorrect shape: W %v, A %v, B %v", lora.ErrShape, name, wi.Dims, lp.A.Dims, lp.B.Dims)
	}
	a, err := f.ReadTensorF32(lp.A.Name)
	if err != nil {
		return adapterPair{}, err
	}
	b, err := f.ReadTensorF32(lp.B.Name)
	if err != nil {
		return adapterPair{}, err
	}
	p := adapterPair{Base: name, A: a, B: b, Rank: lp.Rank, In: int(wi.Dims[0]), Out: int(wi.Dims[1]), EffScale: scale}
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
