package core

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/webtune/webtune/wasm/gpu"
	"io"
	"strings"
	"sync"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tokenizer"
)

// MaxMemory is the memory a model may need once loaded (weights, the file
// bytes while loading, LoRA state): a wasm32 instance addresses 4 GiB and
// browsers often grant less, so 2 GiB is the budget.
const MaxMemory = 2 << 30

// MaxFileBytes bounds the GGUF file accepted from a page.
const MaxFileBytes = 1536 << 20

// ErrTooLarge reports a model that will not fit in the browser's memory.
var ErrTooLarge = errors.New("webtune: model too large for the browser")

// ErrNoTokenizer reports a model file without tokenizer metadata: it can be
// trained from tensors, not from text.
var ErrNoTokenizer = errors.New("webtune: the model file has no tokenizer")

// ErrBusy reports a call that needs the model while a run is training it
// (injecting LoRA, loading an adapter, starting another run).
var ErrBusy = errors.New("webtune: a training run is in progress")

// ErrWorkerLost reports a data-parallel run stopped because another
// training worker ended (its engine died, most likely out of memory).
var ErrWorkerLost = errors.New("webtune: a training worker stopped")

// LoadOptions configure LoadModel.
type LoadOptions struct {
	Name  string `js:"name" json:"name"`   // Name names the model in adapter file names ("builtin", the file's base name).
	QLoRA bool   `js:"qlora" json:"qlora"` // QLoRA holds the block weights in NF4.
}

// Model is a loaded base model, its tokenizer and its LoRA state. Its
// methods may be called from several goroutines.
type Model struct {
	mu        sync.Mutex
	name      string
	qlora     bool
	fileBytes int64
	baseBytes int64 // memory of the weights as loaded (NF4 counted packed)
	m         *llama.Model[float32]
	tok       *tokenizer.Tokenizer
	lora      *LoRAOptions // nil until InjectLoRA
	run       *Run         // the current or last run
	// chatTemplate is the model's tokenizer.chat_template ("" when none).
	chatTemplate string
	texts        textCache // the last plain text tokenized
	// gpu is the whole-step GPU trainer of the last run (nil when it trains
	// on the CPU); gpuReason says why the GPU does not train it ("" when it
	// does, or when no GPU engine was opened for training).
	gpu       *gpu.StepModel
	gpuReason string
}

// LoadModel parses a GGUF of a family package llama runs (llama, qwen2,
// qwen3, ...) held in data. The size and the
// architecture are checked before any weight is decoded.
func LoadModel(data []byte, opt LoadOptions) (*Model, error) {
	return LoadModelFrom(bytes.NewReader(data), int64(len(data)), opt)
}

// LoadModelFrom is LoadModel reading the file of size bytes through r: the
// bridge reads the page's Uint8Array in place, so the wasm memory holds the
// weights and never a second, whole copy of the file.
func LoadModelFrom(r io.ReaderAt, size int64, opt LoadOptions) (*Model, error) {
	if size > MaxFileBytes {
		return nil, fmt.Errorf("%w: the file is %s; the page accepts at most %s", ErrTooLarge, human(size), human(MaxFileBytes))
	}
	f, err := gguf.Open(r, size)
	if err != nil {
		return nil, err
	}
	cfg, err := llama.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if need := estimateMemory(cfg, f, opt.QLoRA); need > MaxMemory {
		hint := ""
		if !opt.QLoRA {
			hint = " (QLoRA would need less)"
		}
		return nil, fmt.Errorf("%w: it needs about %s of memory, the browser gives a page about %s%s",
			ErrTooLarge, human(need), human(MaxMemory), hint)
	}
	m, f, err := llama.Load[float32](r, size, llama.LoadOptions{QLoRA: opt.QLoRA, Engine: Engine()})
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		if _, ok := f.Value("tokenizer.ggml.model"); ok {
			return nil, err
		}
		tok = nil
	}
	name := opt.Name
	if name == "" {
		name = "model"
	}
	mod := &Model{name: name, qlora: opt.QLoRA, fileBytes: size, m: m, tok: tok}
	mod.baseBytes = layerBytes(m)
	mod.chatTemplate, _ = f.GetString("tokenizer.chat_template")
	return mod, nil
}

// estimateMemory returns the bytes a model of config c, whose GGUF header
// is f, holds once loaded: the weights as they stay in memory (their GGUF
// type; NF4 for float block linears under QLoRA), the tokenizer and the
// runtime. EstimateTraining adds what a run takes.
func estimateMemory(c llama.Config, f *gguf.File, qlora bool) int64 {
	return estimateBase + weightBytes(f, qlora) + estimatePerToken*int64(c.VocabSize)
}

// layerBytes returns the memory held by m's weights: float32 for dense
// tensors, packed codes plus absmax for NF4 layers, the file's bytes for
// weights kept in their GGUF type.
func layerBytes(m *llama.Model[float32]) int64 {
	var n int64
	seen := map[*nn.Parameter[float32]]bool{}
	for _, p := range m.AllParameters() {
		seen[p] = true
		n += 4 * int64(p.Value.Size())
	}
	seenQ := map[*quant.Matrix]bool{}
	for _, w := range m.QuantMatrices() { // a token embedding kept in its GGUF type
		seenQ[w] = true
		n += int64(len(w.Data()))
	}
	for _, l := range m.Layers() {
		switch q := l.(type) {
		case *nn.NF4Linear[float32]:
			t := q.Quantized()
			n += int64(len(t.Packed())) + 4*int64(len(t.Absmax()))
		case *nn.QuantLinear[float32]: // F16, BF16 and quantized weights kept as they come
			if w := q.Matrix(); !seenQ[w] {
				seenQ[w] = true
				n += int64(len(w.Data()))
			}
		}
	}
	return n
}

// Name returns the model's name ("builtin" or the file's base name).
func (m *Model) Name() string { return m.name }

// Info describes a loaded model.
type Info struct {
	Name            string       `js:"name" json:"name"`
	Architecture    string       `js:"architecture" json:"architecture"`
	VocabSize       int          `js:"vocabSize" json:"vocabSize"`
	Dim             int          `js:"dim" json:"dim"`
	Layers          int          `js:"layers" json:"layers"`
	Heads           int          `js:"heads" json:"heads"`
	KVHeads         int          `js:"kvHeads" json:"kvHeads"`
	FFN             int          `js:"ffn" json:"ffn"`
	ContextLength   int          `js:"contextLength" json:"contextLength"`
	TiedOutput      bool         `js:"tiedOutput" json:"tiedOutput"`
	Tokenizer       string       `js:"tokenizer" json:"tokenizer"` // "llama", "gpt2" or "" (none)
	Params          int64        `js:"params" json:"params"`       // base parameters
	TrainableParams int          `js:"trainableParams" json:"trainableParams"`
	FileBytes       int64        `js:"fileBytes" json:"fileBytes"`
	MemoryBytes     int64        `js:"memoryBytes" json:"memoryBytes"` // weights + LoRA values, gradients, AdamW moments
	QLoRA           bool         `js:"qlora" json:"qlora"`
	Targets         []string     `js:"targets" json:"targets"` // LoRA target kinds this model offers
	LoRA            *LoRAOptions `js:"lora" json:"lora"`       // the injected adapter, nil before InjectLoRA
	// ChatTemplate is whether the file carries a chat template (an instruct
	// model: the page offers a chat box and renders conversations with it).
	ChatTemplate bool `js:"chatTemplate" json:"chatTemplate"`
}

// Info returns the model's description.
func (m *Model) Info() Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.m.Config
	in := Info{Name: m.name, Architecture: m.m.Architecture(), VocabSize: c.VocabSize, Dim: c.Dim, Layers: c.Layers,
		Heads: c.Heads, KVHeads: c.KVHeads, FFN: c.FFN, ContextLength: c.ContextLength, TiedOutput: c.TiedOutput,
		Params: c.ParamCount(), FileBytes: m.fileBytes, QLoRA: m.qlora, LoRA: m.lora,
		Targets: lora.BlockTargets(), ChatTemplate: m.chatTemplate != ""}
	if !c.TiedOutput {
		in.Targets = append(in.Targets, "output")
	}
	if m.tok != nil {
		in.Tokenizer = m.tok.Model()
	}
	in.TrainableParams = lora.TrainableParamCount[float32](m.m)
	// A LoRA parameter holds its value, gradient and two AdamW moments.
	in.MemoryBytes = m.baseBytes + 16*int64(in.TrainableParams)
	return in
}

// human formats a byte count ("12.3 MB").
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ModelFileName returns name without a .gguf extension or directories, for
// adapter file names.
func ModelFileName(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gguf"), ".GGUF")
	if name == "" {
		return "model"
	}
	return name
}
