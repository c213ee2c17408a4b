package core

import (
	"errors"
	"fmt"
	"io"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
)

// ErrNeedMore reports a read past the bytes InspectHeader was given: the
// caller fetches more of the file's start and calls again.
var ErrNeedMore = errors.New("webtune: more of the file is needed")

// HeaderInfo describes a GGUF model from its header alone (metadata and
// tensor table), so a page can show what a download holds, and refuse what
// cannot load, before the weights arrive.
type HeaderInfo struct {
	// Complete is false when the header continues past the bytes given:
	// NeedBytes (at least) of the file's start are needed; the other fields
	// are then empty.
	Complete  bool  `js:"complete" json:"complete"`
	NeedBytes int64 `js:"needBytes" json:"needBytes"`

	Name          string `js:"name" json:"name"` // general.name, "" when absent
	Architecture  string `js:"architecture" json:"architecture"`
	FileBytes     int64  `js:"fileBytes" json:"fileBytes"`
	HeaderBytes   int64  `js:"headerBytes" json:"headerBytes"` // where the tensor data starts
	Tensors       int    `js:"tensors" json:"tensors"`
	Params        int64  `js:"params" json:"params"`
	Layers        int    `js:"layers" json:"layers"`
	Dim           int    `js:"dim" json:"dim"`
	VocabSize     int    `js:"vocabSize" json:"vocabSize"`
	ContextLength int    `js:"contextLength" json:"contextLength"`
	// MemoryBytes and QLoRAMemoryBytes are the memory loading needs with
	// float32 weights and with NF4 block weights (QLoRA).
	MemoryBytes      int64 `js:"memoryBytes" json:"memoryBytes"`
	QLoRAMemoryBytes int64 `js:"qloraMemoryBytes" json:"qloraMemoryBytes"`
	// MaxMemoryBytes and MaxFileBytes are the page's limits the figures are
	// judged against.
	MaxMemoryBytes int64 `js:"maxMemoryBytes" json:"maxMemoryBytes"`
	MaxFileBytes   int64 `js:"maxFileBytes" json:"maxFileBytes"`
	// Fits says the model loads (NeedsQLoRA: only with QLoRA); Problem says
	// in plain words why it does not.
	Fits       bool   `js:"fits" json:"fits"`
	NeedsQLoRA bool   `js:"needsQLoRA" json:"needsQLoRA"`
	Problem    string `js:"problem" json:"problem"`
	// Estimate is the memory a run with the settings InspectHeaderFor was
	// given will take (nil from InspectHeader).
	Estimate *MemoryEstimate `js:"estimate" json:"estimate"`
}

// prefixReader is the first bytes of a file of a known size; a read past
// them fails with ErrNeedMore and records how far it wanted to read.
type prefixReader struct {
	b    []byte
	want int64
}

func (p *prefixReader) ReadAt(dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("webtune: negative offset")
	}
	end := off + int64(len(dst))
	if end <= int64(len(p.b)) {
		return copy(dst, p.b[off:end]), nil
	}
	p.want = max(p.want, end)
	n := 0
	if off < int64(len(p.b)) {
		n = copy(dst, p.b[off:])
	}
	return n, ErrNeedMore
}

// InspectHeader reads the GGUF header held in prefix, the first bytes of a
// file of size bytes, and says what the model is and whether the page can
// load it. A header that continues past prefix gives Complete false and the
// bytes to fetch next; a file that is not GGUF, or a model whose
// architecture cannot be loaded, gives the same errors LoadModel would.
func InspectHeader(prefix []byte, size int64) (HeaderInfo, error) {
	return inspectHeader(prefix, size, nil)
}

// InspectHeaderFor is InspectHeader with the memory estimate of a run with
// settings s (EstimateTraining).
func InspectHeaderFor(prefix []byte, size int64, s TrainSettings) (HeaderInfo, error) {
	return inspectHeader(prefix, size, &s)
}

func inspectHeader(prefix []byte, size int64, s *TrainSettings) (HeaderInfo, error) {
	if size < int64(len(prefix)) {
		return HeaderInfo{}, fmt.Errorf("%w: the file is %d bytes but %d were given", gguf.ErrFormat, size, len(prefix))
	}
	r := &prefixReader{b: prefix}
	f, err := gguf.Open(r, size)
	if errors.Is(err, ErrNeedMore) {
		// ask for at least twice what was given: headers hold long
		// vocabularies read string by string
		need := min(size, max(r.want, 2*int64(len(prefix)), 64<<10))
		return HeaderInfo{NeedBytes: need}, nil
	}
	if err != nil {
		return HeaderInfo{}, err
	}
	cfg, err := llama.ConfigFromGGUF(f)
	if err != nil {
		return HeaderInfo{}, err
	}
	in := HeaderInfo{Complete: true, Architecture: llama.Architecture, FileBytes: size, HeaderBytes: f.DataOffset,
		Tensors: len(f.Tensors), Params: cfg.ParamCount(), Layers: cfg.Layers, Dim: cfg.Dim, VocabSize: cfg.VocabSize,
		ContextLength: cfg.ContextLength, MaxMemoryBytes: MaxMemory, MaxFileBytes: MaxFileBytes,
		MemoryBytes: estimateMemory(cfg, f, false), QLoRAMemoryBytes: estimateMemory(cfg, f, true)}
	if a, err := f.GetString("general.architecture"); err == nil {
		in.Architecture = a
	}
	if n, err := f.GetString("general.name"); err == nil {
		in.Name = n
	}
	in.judge()
	if s != nil {
		e := EstimateTraining(cfg, f, *s)
		in.Estimate = &e
	}
	return in, nil
}

var _ io.ReaderAt = (*prefixReader)(nil)

// judge sets Fits, NeedsQLoRA and Problem from the sizes and the limits.
func (in *HeaderInfo) judge() {
	in.Fits, in.NeedsQLoRA, in.Problem = false, false, ""
	switch {
	case in.FileBytes > in.MaxFileBytes:
		in.Problem = fmt.Sprintf("The file is %s; the page accepts at most %s.", human(in.FileBytes), human(in.MaxFileBytes))
	case in.QLoRAMemoryBytes > in.MaxMemoryBytes:
		in.Problem = fmt.Sprintf("It needs about %s of memory even with QLoRA; a browser tab gets about %s.",
			human(in.QLoRAMemoryBytes), human(in.MaxMemoryBytes))
	case in.MemoryBytes > in.MaxMemoryBytes:
		in.Fits, in.NeedsQLoRA = true, true
	default:
		in.Fits = true
	}
}
