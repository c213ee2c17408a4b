package pretrain

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/train"
)

// Options configures a pretraining run; zero fields take the defaults listed.
type Options struct {
	Steps       int     // Steps is the number of optimizer steps (default one epoch).
	LR          float64 // LR is the peak learning rate (default 2e-3).
	MinLR       float64 // MinLR ends the cosine decay (default LR/10).
	Warmup      int     // Warmup is linear warm-up steps (default Steps/20, at most 100).
	Batch       int     // Batch is windows per step (default 16).
	GradAccum   int     // GradAccum is micro-batches per step (default 1).
	SeqLen      int     // SeqLen is tokens per window (default 128, at most the context length).
	Seed        uint64  // Seed drives initialisation and the window order.
	WeightDecay float64 // WeightDecay is AdamW's decoupled decay (default 0.01; negative: none).
	EvalEvery   int     // EvalEvery evaluates the held-out tail every so many steps (default Steps/20).
	EvalWindows int     // EvalWindows caps held-out windows per evaluation (default 32).

	Out             string // Out is the GGUF written at every checkpoint and at the end.
	Checkpoint      string // Checkpoint is the resume file (default Out + ".ckpt").
	CheckpointEvery int    // CheckpointEvery writes Checkpoint and Out every so many steps (default Steps/10).
	Resume          bool   // Resume continues from Checkpoint when it exists.
	// StopAt, when positive, ends this session after that many steps
	// (counted from the run's start) with the model and checkpoint saved;
	// a later Resume continues the same schedule.
	StopAt int
	// TokenizerText is extra text that the BPE vocabulary is learned from
	// (with the corpus) but that is not trained on, e.g. a fine-tuning set
	// whose words should be tokens.
	TokenizerText string
	LossLog       string // LossLog, when set, receives one CSV row per step: step,loss,eval_loss,lr,tokens,seconds.
	Log           io.Writer
}

// Result summarises a finished run.
type Result struct {
	Config       Config
	Llama        llama.Config
	Params       int64
	Steps        int
	SeqLen       int
	Batch        int
	Tokens       int64         // Tokens is training tokens processed (resumes included).
	CorpusTokens int           // CorpusTokens is the length of the tokenized corpus.
	TrainLoss    float64       // TrainLoss is the mean training loss of the last 5% of steps.
	EvalLoss     float64       // EvalLoss is the last held-out loss.
	Elapsed      time.Duration // Elapsed is the time spent training (resumes included).
	TokensPerSec float64
	FileBytes    int64
}

func (o Options) withDefaults() Options {
	if o.LR == 0 {
		o.LR = 2e-3
	}
	if o.Batch == 0 {
		o.Batch = 16
	}
	if o.SeqLen == 0 {
		o.SeqLen = 128
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 0.01
	}
	o.WeightDecay = max(o.WeightDecay, 0)
	if o.Checkpoint == "" && o.Out != "" {
		o.Checkpoint = o.Out + ".ckpt"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// NewModel returns a freshly initialised, trainable model (see the package
// doc for the initialisation).
func NewModel(cfg llama.Config, seed uint64) (*llama.Model[float32], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := llama.NewRandom[float32](cfg, seed)
	if !cfg.TiedOutput {
		// NewRandom draws untied embeddings N(0, 1); 0.02 is GPT-2's.
		r := rand.New(rand.NewPCG(seed, 0x656d62))
		for i, e := 0, m.TokenEmbd.Value.Data(); i < len(e); i++ {
			e[i] = float32(0.02 * r.NormFloat64())
		}
	}
	ones := func(d []float32) {
		for i := range d {
			d[i] = 1
		}
	}
	ones(m.OutputNorm.Value.Data())
	resid := float32(1 / math.Sqrt(2*float64(cfg.Layers)))
	for _, b := range m.Blocks {
		ones(b.AttnNorm.Value.Data())
		ones(b.FFNNorm.Value.Data())
		for _, p := range append(b.O.Parameters(), b.Down.Parameters()...) {
			for i, d := 0, p.Value.Data(); i < len(d); i++ {
				d[i] *= resid
			}
		}
	}
	if err := m.SetTrainable(true); err != nil {
		return nil, err
	}
	return m, nil
}

// Run trains a model of cfg from scratch on text and writes it to opt.Out.
func Run(ctx context.Context, cfg Config, text string, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Out == "" {
		return nil, fmt.Errorf("%w: no output path", ErrConfig)
	}
	t0 := time.Now()
	vocabText := text
	if opt.TokenizerText != "" {
		vocabText = text + "\n" + opt.TokenizerText
	}
	tok, err := cfg.BuildTokenizer(vocabText)
	if err != nil {
		return nil, err
	}
	stream := Documents(tok, text)
	lc := cfg.Llama(tok.VocabSize())
	fmt.Fprintf(opt.Log, "pretrain: tokenizer %s (%s), %d tokens; corpus %d bytes -> %d tokens (%.2f bytes/token) in %v\n",
		cfg.Tokenizer, tok.Model(), tok.VocabSize(), len(text), len(stream), float64(len(text))/float64(max(1, len(stream))),
		time.Since(t0).Round(time.Millisecond))
	m, err := NewModel(lc, opt.Seed)
	if err != nil {
		return nil, err
	}
	seqLen := min(opt.SeqLen, lc.ContextLength)
	if opt.EvalEvery == 0 && opt.Steps > 0 {
		opt.EvalEvery = max(1, opt.Steps/20)
	}
	run, err := train.New[float32](m, stream, train.Config{SeqLen: seqLen, Batch: opt.Batch, GradAccum: opt.GradAccum,
		Steps: opt.Steps, LR: opt.LR, MinLR: opt.MinLR, Warmup: opt.Warmup, WeightDecay: opt.WeightDecay,
		EvalEvery: opt.EvalEvery, EvalWindows: opt.EvalWindows, Seed: opt.Seed})
	if err != nil {
		return nil, err
	}
	tc := run.Config()
	fmt.Fprintf(opt.Log, "pretrain: %s: dim %d, layers %d, heads %d/%d, ffn %d, vocab %d, tied %v: %d parameters\n",
		cfg.Name, lc.Dim, lc.Layers, lc.Heads, lc.KVHeads, lc.FFN, lc.VocabSize, lc.TiedOutput, lc.ParamCount())
	fmt.Fprintf(opt.Log, "pretrain: %d steps x %d windows x %d tokens, lr %g (warm-up %d), %d train / %d eval windows\n",
		tc.Steps, tc.Batch*tc.GradAccum, tc.SeqLen, tc.LR, tc.Warmup, run.Data().TrainWindows(), run.Data().EvalWindows())
	if opt.Resume {
		if err := restore(run, opt.Checkpoint); err != nil {
			return nil, err
		}
		fmt.Fprintf(opt.Log, "pretrain: resumed at step %d from %s\n", run.StepsDone(), opt.Checkpoint)
	}
	kvs := append([]gguf.KV{{Key: "general.name", Value: gguf.String(cfg.Name)}}, tok.GGUFKVs()...)
	save := func() error {
		if err := writeAtomic(opt.Out, func(w io.Writer) error { return llama.SaveAs(w, m, cfg.weightType(), kvs...) }); err != nil {
			return err
		}
		if opt.Checkpoint == "" {
			return nil
		}
		return writeAtomic(opt.Checkpoint, run.Checkpoint)
	}
	every := opt.CheckpointEvery
	if every == 0 {
		every = max(1, tc.Steps/10)
	}
	last, err := loop(ctx, run, opt, every, save)
	if err != nil {
		if ctx.Err() != nil && run.StepsDone() > 0 {
			// interrupted: keep what was learned so --resume can continue
			if serr := save(); serr != nil {
				return nil, errors.Join(err, serr)
			}
			fmt.Fprintf(opt.Log, "pretrain: interrupted at step %d; saved %s and %s\n", run.StepsDone(), opt.Out, opt.Checkpoint)
		}
		return nil, err
	}
	if err := save(); err != nil {
		return nil, err
	}
	res := result(cfg, lc, run, opt.Out, len(stream))
	res.Elapsed, res.TokensPerSec = last.Elapsed, last.TokensPerSec
	return res, nil
}

// loop runs the steps, logging, appending to the loss log and saving every
// `every` steps.
func loop(ctx context.Context, run *train.Run[float32], opt Options, every int, save func() error) (last train.Progress, err error) {
	var csv *bufio.Writer
	if opt.LossLog != "" {
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if opt.Resume && run.StepsDone() > 0 {
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(opt.LossLog, flags, 0o644)
		if err != nil {
			return last, fmt.Errorf("pretrain: %w", err)
		}
		defer f.Close()
		csv = bufio.NewWriter(f)
		defer csv.Flush()
		if flags&os.O_TRUNC != 0 {
			fmt.Fprintln(csv, "step,loss,eval_loss,lr,tokens,seconds")
		}
	}
	for !run.Done() && (opt.StopAt <= 0 || run.StepsDone() < opt.StopAt) {
		p, err := run.Step(ctx)
		if err != nil {
			return last, err
		}
		last = p
		if csv != nil {
			ev := ""
			if !math.IsNaN(p.EvalLoss) {
				ev = fmt.Sprintf("%.5f", p.EvalLoss)
			}
			fmt.Fprintf(csv, "%d,%.5f,%s,%.6g,%d,%.1f\n", p.Step, p.Loss, ev, p.LR, p.Tokens, p.Elapsed.Seconds())
		}
		if p.Step%10 == 0 || p.Step == 1 || !math.IsNaN(p.EvalLoss) || run.Done() {
			ev := ""
			if !math.IsNaN(p.EvalLoss) {
				ev = fmt.Sprintf(" eval %.4f", p.EvalLoss)
			}
			fmt.Fprintf(opt.Log, "step %5d/%d loss %.4f%s lr %.2e |g| %.2f %.0f tok/s elapsed %v eta %v\n",
				p.Step, p.Steps, p.Loss, ev, p.LR, p.GradNorm, p.TokensPerSec,
				p.Elapsed.Round(time.Second), p.ETA.Round(time.Second))
		}
		if p.Step%every == 0 && !run.Done() {
			if csv != nil {
				csv.Flush()
			}
			if err := save(); err != nil {
				return last, err
			}
		}
	}
	return last, nil
}

// restore loads the checkpoint at path into run; a missing file starts from
// scratch.
func restore(run *train.Run[float32], path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pretrain: resume: %w", err)
	}
	defer f.Close()
	return run.Restore(bufio.NewReader(f))
}

// result builds the summary of a finished run.
func result(cfg Config, lc llama.Config, run *train.Run[float32], out string, corpus int) *Result {
	tc := run.Config()
	ls := run.Losses()
	k := max(1, len(ls)/20)
	var sum float64
	for _, l := range ls[len(ls)-k:] {
		sum += l
	}
	res := &Result{Config: cfg, Llama: lc, Params: lc.ParamCount(), Steps: run.StepsDone(), SeqLen: tc.SeqLen,
		Batch: tc.Batch * tc.GradAccum, CorpusTokens: corpus, TrainLoss: sum / float64(k), EvalLoss: math.NaN()}
	if ev := run.EvalLosses(); len(ev) > 0 {
		res.EvalLoss = ev[len(ev)-1].Loss
	}
	res.Tokens = int64(res.Steps) * int64(res.Batch) * int64(res.SeqLen)
	if st, err := os.Stat(out); err == nil {
		res.FileBytes = st.Size()
	}
	return res
}

// writeAtomic writes path through a temporary file in the same directory
// and renames it into place, so a crash never leaves a half-written file.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".pretrain-*")
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("pretrain: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	return nil
}
