package core

import (
	"fmt"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
)

// WorkerBudget is the memory one training worker may grow to: a wasm32
// instance addresses 4 GiB and Chromium grants that to one instance, less
// a margin for the browser's own copies while a model loads. The bridge
// sets it as the worker's Go memory limit.
const WorkerBudget = 3 << 30

// TabBudget is the memory all the training workers of a page together may
// take: more workers than fit train on fewer, and a model that does not fit
// on one worker is refused before loading.
const TabBudget = 4 << 30

// TrainSettings are the settings a run's memory depends on.
type TrainSettings struct {
	Rank    int      `js:"rank" json:"rank"`       // LoRA rank (default 8)
	Targets []string `js:"targets" json:"targets"` // LoRA targets (default attn_q, attn_v)
	QLoRA   bool     `js:"qlora" json:"qlora"`
	SeqLen  int      `js:"seqLen" json:"seqLen"`   // tokens per window (default 128)
	Batch   int      `js:"batch" json:"batch"`     // windows per micro-batch (default 4)
	Workers int      `js:"workers" json:"workers"` // workers asked for (default 1)
}

// MemoryEstimate is what a run will take, from the file's header alone.
type MemoryEstimate struct {
	// WorkerBytes is the peak wasm memory of one training worker: the
	// weights as they stay in memory, the activations a step keeps for its
	// backward pass, one logits block, the LoRA state and the tokenizer,
	// with the garbage collector's headroom (GOGC 25).
	WorkerBytes     int64 `js:"workerBytes" json:"workerBytes"`
	WeightBytes     int64 `js:"weightBytes" json:"weightBytes"`
	ActivationBytes int64 `js:"activationBytes" json:"activationBytes"`
	// Workers is how many workers train: no more than asked, than a
	// micro-batch has windows, or than TabBudget holds.
	Workers    int   `js:"workers" json:"workers"`
	TotalBytes int64 `js:"totalBytes" json:"totalBytes"` // Workers × WorkerBytes
	// Fits is false when not even one worker fits; Problem then says why
	// in plain words (and, when fewer workers train than asked, why).
	Fits    bool   `js:"fits" json:"fits"`
	Problem string `js:"problem" json:"problem"`
}

// The estimate's constants, fitted to the wasm memory measured in Chromium
// (TestEstimateTrainingMeasured): the runtime, the wasm_exec glue and the
// worker's own buffers; per vocabulary entry the tokenizer's strings,
// tables and maps; the GC's headroom over the live heap.
const (
	estimateBase     = 48 << 20
	estimatePerToken = 160
	estimateGC       = 1.25
)

// EstimateTraining returns the memory a run with settings s needs for the
// model of config c whose GGUF is f (only its header is read).
func EstimateTraining(c llama.Config, f *gguf.File, s TrainSettings) MemoryEstimate {
	if s.Rank <= 0 {
		s.Rank = 8
	}
	if len(s.Targets) == 0 {
		s.Targets = []string{"attn_q", "attn_v"}
	}
	if s.SeqLen <= 0 {
		s.SeqLen = 128
	}
	if c.ContextLength > 0 {
		s.SeqLen = min(s.SeqLen, c.ContextLength)
	}
	if s.Batch <= 0 {
		s.Batch = 4
	}
	if s.Workers <= 0 {
		s.Workers = 1
	}
	var e MemoryEstimate
	e.WeightBytes = weightBytes(f, s.QLoRA)
	// LoRA: value, gradient and two AdamW moments per trainable float
	C, F, T := int64(c.Dim), int64(c.FFN), int64(s.SeqLen)
	Q, KV := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	var loraFloats int64
	for _, t := range s.Targets {
		in, out := C, C
		switch t {
		case "attn_q":
			out = Q
		case "attn_k", "attn_v":
			out = KV
		case "attn_output":
			in = Q
		case "ffn_gate", "ffn_up":
			out = F
		case "ffn_down":
			in = F
		default: // an alias or a wider choice: the widest case
			in, out = C, F
		}
		loraFloats += int64(s.Rank) * (in + out) * int64(c.Layers)
	}
	// one worker training rows windows of the micro-batch
	perWorker := func(rows int) (worker, acts int64) {
		// activations kept for the backward pass, per token and block
		// (llama's newActivations and the outputs each block's forward
		// keeps): residuals and norms, q/k/v before and after rope,
		// attention probabilities, the FFN's gate, up and hidden, the
		// projections; and the backward pass's scratch
		perToken := 6*C + 2 + int64(c.Heads)*T + 3*Q + 4*KV + 3*F
		N := int64(rows) * T
		acts = 4 * N * (int64(c.Layers)*perToken + 4*C + 3*F)
		// one logits block and its gradient: the loss runs on chunks of at
		// most 2^23 floats (32 MiB; llama's lossChunkFloats)
		logits := 2 * min(4*N*int64(c.VocabSize), 32<<20)
		live := e.WeightBytes + acts + logits + 16*loraFloats + estimatePerToken*int64(c.VocabSize)
		return estimateBase + int64(estimateGC*float64(live)), acts
	}
	// the most workers that fit: no more than asked or than a micro-batch
	// has windows, each within WorkerBudget, all within TabBudget
	most := min(s.Workers, s.Batch)
	for w := most; w >= 1; w-- {
		b, a := perWorker((s.Batch + w - 1) / w)
		if b <= WorkerBudget && int64(w)*b <= TabBudget {
			e.Workers, e.WorkerBytes, e.ActivationBytes = w, b, a
			break
		}
	}
	if e.Workers == 0 {
		e.WorkerBytes, e.ActivationBytes = perWorker((s.Batch + most - 1) / most)
		if e.WorkerBytes <= WorkerBudget {
			// each fits, not all of them together, and fewer would each
			// train more windows than a worker holds
			e.Problem = fmt.Sprintf("%d workers would need about %s in all; a page gets about %s. Try one worker with a batch of 1, a shorter sequence length or a smaller model.",
				most, human(int64(most)*e.WorkerBytes), human(TabBudget))
		} else {
			e.Problem = fmt.Sprintf("Training needs about %s per worker with these settings; a browser worker gets about %s. Try a shorter sequence length, a smaller batch or a smaller model.",
				human(e.WorkerBytes), human(WorkerBudget))
		}
		return e
	}
	e.Fits = true
	e.TotalBytes = int64(e.Workers) * e.WorkerBytes
	switch {
	case e.Workers < s.Workers && e.Workers == s.Batch:
		e.Problem = fmt.Sprintf("A batch of %d trains on %d worker(s).", s.Batch, e.Workers)
	case e.Workers < s.Workers:
		w := min(s.Workers, s.Batch)
		b, _ := perWorker((s.Batch + w - 1) / w)
		e.Problem = fmt.Sprintf("%d workers would need about %s; %d fit in the page's %s.",
			w, human(int64(w)*b), e.Workers, human(TabBudget))
	}
	return e
}

// weightBytes is the memory of f's weights once loaded: they stay in their
// GGUF type, and QLoRA makes NF4 (4 bits and a float32 scale per 64) of
// float block linears only.
func weightBytes(f *gguf.File, qlora bool) int64 {
	var n int64
	for _, t := range f.Tensors {
		b := int64(t.NumBytes())
		float := t.Type == gguf.TypeF32 || t.Type == gguf.TypeF16 || t.Type == gguf.TypeBF16
		if qlora && float && len(t.Dims) == 2 && strings.HasPrefix(t.Name, "blk.") {
			elems := int64(t.NumElements())
			b = elems/2 + 4*((elems+63)/64)
		}
		n += b
	}
	return n
}
