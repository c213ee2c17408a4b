package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/train"
)

const trainUsage = `usage: webtune train --data file.txt --out adapter.gguf [--model base.gguf]
       [--rank 8] [--alpha 16] [--targets attn_q,attn_v] [--qlora] [--full]
       [--steps N] [--lr 1e-3] [--batch 4] [--grad-accum 1] [--seq-len 128] [--stride N]
       [--documents none|lines|jsonl] [--seed 0] [--checkpoint file] [--checkpoint-every N] [--resume file] [--stop-after N]
       [--workers N] [--recompute] [--format auto|text|messages|prompt-completion|alpaca]
       [--chat-template file.jinja] [--train-on assistant|all]

Fine-tunes a LoRA adapter (or, with --full, every weight) of a llama GGUF
model (--model; without it the built-in model, webtune-stories-1m) on a
text file and writes a llama.cpp-loadable adapter GGUF (with --full: a
whole model GGUF). Beside it goes its checkpoint, OUT.ckpt (--checkpoint
names another file): --resume OUT.ckpt continues the run. Targets: attn_q,
attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down, output, PEFT names
(q_proj, ...) or all-linear.
--documents lines makes every non-empty line a document and jsonl every
JSON line's "text" (the default for a .jsonl file; otherwise none: the file
is one stream); each document is trained as BOS tokens EOS, so the tuned
model learns to stop at a document's end.
A .jsonl file of conversations ({"messages": [{"role", "content"}, ...]}),
prompt–completion pairs or Alpaca records (--format, detected per file) is
rendered with the model's chat template (--chat-template FILE, else ChatML),
one example per window (cut at --seq-len, padded): only the assistant turns
and their end-of-turn tokens are trained (--train-on all: every token), the
loss being the mean over the trained tokens. 'webtune data' shows exactly
what is trained.
--qlora holds the frozen block weights in NF4. A checkpoint (adapter,
optimizer state, data position) is written every --checkpoint-every steps,
at the end, on Ctrl-C and after --stop-after steps; --resume continues from
one with the same flags and gives the same losses as an uninterrupted run.
--recompute keeps only each block's input during the forward pass and
recomputes the block in the backward pass: activation memory of one block
instead of all of them, for about a third more time per step. By default
(auto) it is on when the activations kept for a batch would pass 256 MB
(real model sizes at --seq-len 256 and more), off for small models.
--workers N trains data-parallel on N copies of the model (N times the
memory), each on its share of every batch, summing the gradients every
step: about N times faster on N idle cores, losses equal to one worker's
up to float rounding. No more workers train than a micro-batch has
windows (--batch 1 trains on one).
`

// trainFlags are the train command's options.
type trainFlags struct {
	model, data, out          string
	rank                      int
	alpha                     float64
	targets                   string
	qlora, full               bool
	recompute                 recomputeFlag
	cfg                       train.Config
	ckpt, resume              string
	ckptEvery, stopAfter      int
	evalFraction, clip, minLR float64
	warmup                    int
	documents                 string
	workers                   int
	dataOpts                  dataFlags
}

func parseTrainFlags(args []string, stderr io.Writer) (*trainFlags, error) {
	f := &trainFlags{}
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	// The whole usage only for --help; a mistake gets one line naming it.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.model, "model", "", "base model GGUF (default: the built-in model)")
	fs.StringVar(&f.data, "data", "", "training text file (UTF-8)")
	fs.StringVar(&f.out, "out", "", "adapter GGUF to write (a model GGUF with --full)")
	fs.IntVar(&f.rank, "rank", 8, "LoRA rank r")
	fs.Float64Var(&f.alpha, "alpha", 16, "LoRA alpha (scale alpha/r)")
	fs.StringVar(&f.targets, "targets", "attn_q,attn_v", "comma-separated layers to adapt")
	fs.BoolVar(&f.qlora, "qlora", false, "QLoRA: hold the frozen block weights in NF4")
	fs.BoolVar(&f.full, "full", false, "full fine-tuning: train every weight, write the whole model")
	f.recompute = "auto"
	fs.Var(&f.recompute, "recompute", "keep only each block's input and recompute its activations in the backward pass (far less memory, about a third more time): auto (when the kept activations would pass 256 MB), on or off")
	fs.IntVar(&f.cfg.Steps, "steps", 0, "optimizer steps (0: one epoch)")
	fs.Float64Var(&f.cfg.LR, "lr", 1e-3, "peak learning rate")
	fs.Float64Var(&f.minLR, "min-lr", 0, "final learning rate of the cosine decay (0: lr/10)")
	fs.IntVar(&f.warmup, "warmup", 0, "warm-up steps (0: steps/20, at most 100; -1: none)")
	fs.IntVar(&f.cfg.Batch, "batch", 4, "windows per micro-batch")
	fs.IntVar(&f.cfg.GradAccum, "grad-accum", 1, "micro-batches per optimizer step")
	fs.IntVar(&f.cfg.SeqLen, "seq-len", 128, "tokens per window")
	fs.IntVar(&f.cfg.Stride, "stride", 0, "tokens between window starts (0: seq-len)")
	fs.Float64Var(&f.cfg.WeightDecay, "weight-decay", 0, "AdamW weight decay")
	fs.Float64Var(&f.clip, "clip", 1, "gradient global-norm bound (-1: none)")
	fs.Float64Var(&f.evalFraction, "eval-fraction", 0.1, "held-out share of the data (-1: none)")
	fs.IntVar(&f.cfg.EvalEvery, "eval-every", 0, "evaluate every N steps (0: a schedule costing at most ~10% of training)")
	fs.StringVar(&f.documents, "documents", "", "documents of the data: none (one stream), lines or jsonl (default: jsonl for .jsonl, else none)")
	fs.Uint64Var(&f.cfg.Seed, "seed", 0, "seed of the LoRA init and the data order")
	fs.StringVar(&f.ckpt, "checkpoint", "", "checkpoint file to write (default OUT.ckpt)")
	fs.IntVar(&f.ckptEvery, "checkpoint-every", 100, "steps between checkpoints (0: only at the end)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint to resume from")
	fs.IntVar(&f.stopAfter, "stop-after", 0, "stop after N steps of this session, writing the checkpoint (0: run to the end)")
	fs.IntVar(&f.workers, "workers", 1, "data-parallel replicas of the model, one goroutine each")
	f.dataOpts.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprint(stderr, trainUsage)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, flagError(err.Error())
	}
	switch {
	case f.data == "":
		return nil, flagError("--data is missing: the text file to train on, as in webtune train --data file.txt --out adapter.gguf")
	case f.out == "":
		return nil, flagError("--out is missing: the adapter file to write, as in webtune train --data file.txt --out adapter.gguf")
	case fs.NArg() > 0:
		return nil, flagError(fmt.Sprintf("unexpected argument %q: every input is a flag (--data FILE)", fs.Arg(0)))
	}
	f.cfg.MinLR, f.cfg.Warmup, f.cfg.ClipNorm, f.cfg.EvalFraction = f.minLR, f.warmup, f.clip, f.evalFraction
	if f.workers < 1 || f.workers > 64 {
		return nil, flagError(fmt.Sprintf("--workers %d: want 1 to 64", f.workers))
	}
	if f.qlora && f.full {
		return nil, flagError("--qlora and --full exclude each other (NF4 base weights are frozen)")
	}
	switch f.documents {
	case "":
		f.documents = train.DocumentsNone
		if strings.EqualFold(filepath.Ext(f.data), ".jsonl") {
			f.documents = train.DocumentsJSONL
		}
	case train.DocumentsNone, train.DocumentsLines, train.DocumentsJSONL:
	default:
		return nil, flagError(fmt.Sprintf("--documents %q: want none, lines or jsonl", f.documents))
	}
	if f.ckpt == "" {
		f.ckpt = f.out + ".ckpt"
	}
	return f, nil
}

// flagError is a command-line mistake said in one line (with a pointer to
// --help); errors.Is(err, errUsage) holds.
type flagError string

func (e flagError) Error() string { return string(e) + " (--help lists every flag)" }
func (e flagError) Unwrap() error { return errUsage }

// runTrain is the train command.
// loadOptions returns how the model loads for this run: NF4 block linears
// under --qlora; every weight decoded to float32 under --full (only dense
// layers train); otherwise weights stay in their GGUF type.
func (f *trainFlags) loadOptions() llama.LoadOptions {
	return llama.LoadOptions{QLoRA: f.qlora, Dequantize: f.full}
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseTrainFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := prepareOutputs(f, stderr); err != nil {
		return err
	}
	setTrainingGC()
	lm, err := loadModelOpts(f.model, f.loadOptions())
	if err != nil {
		return err
	}
	td, err := readTrainData(lm, f.data, f.dataOpts, f.documents, f.cfg.SeqLen, stderr)
	if err != nil {
		return err
	}
	if err := prepareTrainable(lm, f); err != nil {
		return err
	}
	var ckpt []byte
	if f.resume != "" {
		if ckpt, err = os.ReadFile(f.resume); err != nil {
			return err
		}
	}
	newRun := func(lm *loadedModel) (*train.Run[float32], error) {
		run, err := td.newRun(lm, f.cfg)
		if err != nil {
			return nil, err
		}
		if ckpt != nil {
			if err := run.Restore(bytes.NewReader(ckpt)); err != nil {
				return nil, fmt.Errorf("%s: %w", f.resume, err)
			}
		}
		return run, nil
	}
	run, err := newRun(lm)
	if err != nil {
		return err
	}
	var replicas []*train.Run[float32]
	if b := run.Config().Batch; f.workers > b {
		// a worker without a window of its own would only add a copy of
		// the model and a gradient exchange every step: fewer workers
		fmt.Fprintf(stderr, "--workers %d: a micro-batch has %d window(s), so %d worker(s) train\n", f.workers, b, b)
		f.workers = b
	}
	if f.workers > 1 {
		if replicas, err = newReplicas(run, lm, f, newRun); err != nil {
			return err
		}
	}
	c := run.Config()
	fmt.Fprintf(stderr, "%s: %s; %s; %d training windows of %d, %d held out; %d steps\n",
		lm.Path, paramSummary(lm.Model), td.summary, run.Data().TrainWindows(), c.SeqLen,
		run.Data().EvalWindows(), c.Steps)
	if len(replicas) > 0 {
		share := fmt.Sprint(c.Batch / f.workers)
		if c.Batch%f.workers != 0 {
			share += fmt.Sprintf(" or %d", c.Batch/f.workers+1)
		}
		fmt.Fprintf(stderr, "data-parallel on %d workers: each trains %s of the %d windows of a micro-batch\n", f.workers, share, c.Batch)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	rep := newReporter(stderr)
	run.OnProgress = rep.report
	runErr := trainLoop(ctx, run, replicas, f)
	rep.done()
	// Whatever happened, the parameters are those of the last good step
	// (a diverged step takes the run back to one): save them, and a
	// checkpoint to resume from.
	// A path that fails now (checked writable before training) gets the file
	// written somewhere that works instead, named on stderr: never lose the run.
	beforeSave()
	var saveErr error
	if run.StepsDone() > 0 || runErr == nil {
		out, err := saveOrRescue("result", f.out, resultWriter(lm, f), rescueDirs(f), stderr)
		if out != "" {
			fmt.Fprintf(stderr, "wrote %s after %d steps\n", out, run.StepsDone())
		}
		saveErr = err
	}
	ckptPath, err := saveOrRescue("checkpoint", f.ckpt, run.Checkpoint, rescueDirs(f), stderr)
	if ckptPath == "" {
		return errors.Join(runErr, saveErr, err)
	}
	f.ckpt, saveErr = ckptPath, errors.Join(saveErr, err)
	lower := "--lr or --alpha"
	if f.full {
		lower = "--lr"
	}
	switch {
	case diverged(runErr) && run.StepsDone() > 0:
		fmt.Fprintf(stderr, "training diverged; %s holds step %d, the last good one: resume with --resume %s and a lower --lr, or start again with a lower %s\n",
			f.ckpt, run.StepsDone(), f.ckpt, lower)
	case diverged(runErr):
		fmt.Fprintf(stderr, "training diverged with no good step to keep: start again with a lower %s\n", lower)
	case runErr != nil || !run.Done():
		fmt.Fprintf(stderr, "stopped; resume with --resume %s\n", f.ckpt)
	}
	return errors.Join(runErr, saveErr)
}

// beforeSave runs between training and saving (a test hook: tests make the
// output directory vanish there).
var beforeSave = func() {}

// diverged reports whether err ended a run because training diverged (a
// non-finite loss, gradient or update, or an all-zero gradient).
func diverged(err error) bool {
	return errors.Is(err, train.ErrNonFinite) || errors.Is(err, train.ErrDiverged)
}

// prepareTrainable makes the trainable parameters: LoRA on the targets, or
// every weight with --full.
func prepareTrainable(lm *loadedModel, f *trainFlags) error {
	m := lm.Model
	m.SetRecompute(f.recompute.on(m.Config, f.cfg))
	if f.full {
		return m.SetTrainable(true)
	}
	targets := strings.Split(f.targets, ",")
	if m.Config.TiedOutput {
		for _, t := range targets {
			if t == "output" || t == "lm_head" {
				return fmt.Errorf("--targets %s: the model's output head is tied to token_embd; llama.cpp cannot load an adapter on it", t)
			}
		}
	}
	return lora.InjectLoRA[float32](m, f.rank, float32(f.alpha), targets, m.Engine(), lora.WithSeed(int64(f.cfg.Seed)))
}

// newReplicas makes run replica 0 of f.workers: the others train copies
// of the model (loaded again, made trainable alike) in their own goroutines
// and sum gradients with it every step (train.Local).
func newReplicas(run *train.Run[float32], lm *loadedModel, f *trainFlags, newRun func(*loadedModel) (*train.Run[float32], error)) ([]*train.Run[float32], error) {
	local := train.NewLocal[float32](f.workers)
	if err := run.SetReplica(0, f.workers, local.AllReduce(0)); err != nil {
		return nil, err
	}
	var replicas []*train.Run[float32]
	for i := 1; i < f.workers; i++ {
		m, err := loadModelOpts(lm.Path, f.loadOptions())
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		if err := prepareTrainable(m, f); err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		r, err := newRun(m)
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		if err := r.SetReplica(i, f.workers, local.AllReduce(i)); err != nil {
			return nil, err
		}
		replicas = append(replicas, r)
	}
	return replicas, nil
}

// stepAll does one step of run and its replicas, each in its own
// goroutine; every replica decides alike (they see the same sums), so
// run's result is the step's. A replica that fails on its own (not through
// the all-reduce) stops the others.
func stepAll(ctx context.Context, run *train.Run[float32], replicas []*train.Run[float32]) error {
	if len(replicas) == 0 {
		_, err := run.Step(ctx)
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() {
			if _, errs[i] = r.Step(ctx); errs[i] != nil {
				cancel(fmt.Errorf("worker %d: %w", i+1, errs[i]))
			}
		})
	}
	_, err := run.Step(ctx)
	if err != nil {
		cancel(err)
	}
	wg.Wait()
	if err == nil {
		err = errors.Join(errs...)
	} else if cause := context.Cause(ctx); errors.Is(err, context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return err
}

// trainLoop steps until the end (or f.stopAfter steps), checkpointing
// every f.ckptEvery steps.
func trainLoop(ctx context.Context, run *train.Run[float32], replicas []*train.Run[float32], f *trainFlags) error {
	for n := 0; !run.Done() && (f.stopAfter <= 0 || n < f.stopAfter); n++ {
		if err := stepAll(ctx, run, replicas); err != nil {
			return err
		}
		if f.ckptEvery > 0 && run.StepsDone()%f.ckptEvery == 0 && !run.Done() {
			if err := saveCheckpoint(run, f.ckpt); err != nil {
				return err
			}
		}
	}
	return nil
}

// resultWriter writes the adapter (or with --full the model).
func resultWriter(lm *loadedModel, f *trainFlags) func(io.Writer) error {
	if !f.full {
		return func(w io.Writer) error { return lora.WriteAdapter[float32](w, lm.Model) }
	}
	var vocab []gguf.KV
	for _, kv := range lm.File.KVs {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			vocab = append(vocab, kv)
		}
	}
	return func(w io.Writer) error { return llama.Save(w, lm.Model, vocab...) }
}

// paramSummary returns "trainable params: N || all params: M || trainable%: P"
// as PEFT prints it (all = base weights + adapters).
func paramSummary(m *llama.Model[float32]) string {
	var trainable int64
	for _, p := range m.Parameters() {
		trainable += int64(p.Value.Size())
	}
	all := m.Config.ParamCount()
	if len(lora.Adapters[float32](m)) > 0 {
		all += trainable
	}
	return fmt.Sprintf("trainable params: %d || all params: %d || trainable%%: %.4f", trainable, all, 100*float64(trainable)/float64(max(all, 1)))
}

func saveCheckpoint(run *train.Run[float32], path string) error {
	return writeAtomic(path, run.Checkpoint)
}

// reporter prints progress: a redrawn bar on a terminal, plain lines
// (about every 2% of the run, and evaluations) otherwise.
type reporter struct {
	w        io.Writer
	terminal bool
	last     int
	drawn    bool
}

func newReporter(w io.Writer) *reporter {
	r := &reporter{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			r.terminal = os.Getenv("TERM") != "dumb"
		}
	}
	return r
}

func (r *reporter) report(p train.Progress) {
	ev := ""
	if !math.IsNaN(p.EvalLoss) {
		ev = fmt.Sprintf(" eval %.4f", p.EvalLoss)
	}
	evalTime := ""
	if p.EvalTime > 0 {
		evalTime = fmt.Sprintf(" (+%s evaluating)", p.EvalTime.Round(time.Millisecond))
	}
	stats := fmt.Sprintf("loss %.4f%s lr %.2e %.0f tok/s training%s eta %s", p.Loss, ev, p.LR, p.TokensPerSec, evalTime, p.ETA.Round(time.Second))
	if r.terminal {
		const width = 24
		n := p.Step * width / max(p.Steps, 1)
		bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
		fmt.Fprintf(r.w, "\r\x1b[K%s %d/%d %s", bar, p.Step, p.Steps, stats)
		r.drawn = true
		if ev != "" {
			fmt.Fprintln(r.w)
			r.drawn = false
		}
		return
	}
	every := max(1, p.Steps/50)
	if p.Step == 1 || p.Step == p.Steps || p.Step-r.last >= every || ev != "" {
		fmt.Fprintf(r.w, "step %d/%d %s\n", p.Step, p.Steps, stats)
		r.last = p.Step
	}
}

func (r *reporter) done() {
	if r.drawn {
		fmt.Fprintln(r.w)
	}
}

// recomputeFlag is --recompute: "auto" (default), "on" or "off"; the bare
// flag means on.
type recomputeFlag string

func (r *recomputeFlag) String() string { return string(*r) }

func (r *recomputeFlag) Set(v string) error {
	switch v {
	case "auto", "on", "off":
		*r = recomputeFlag(v)
	case "true", "1":
		*r = "on"
	case "false", "0":
		*r = "off"
	default:
		return fmt.Errorf("want auto, on or off")
	}
	return nil
}

func (r *recomputeFlag) IsBoolFlag() bool { return true }

// autoRecomputeBytes is the activation memory above which --recompute auto
// turns recomputation on.
const autoRecomputeBytes = 256 << 20

// on decides recomputation for model config c and run cfg: under auto, when
// keeping every block's activations of a micro-batch (about 12·C + 4·F
// floats per token for the norms, projections, residuals and FFN, plus two
// heads×T attention rows) would pass autoRecomputeBytes.
func (r recomputeFlag) on(c llama.Config, cfg train.Config) bool {
	switch r {
	case "on":
		return true
	case "off":
		return false
	}
	batch, seq := max(cfg.Batch, 1), max(cfg.SeqLen, 1)
	if seq > c.ContextLength && c.ContextLength > 0 {
		seq = c.ContextLength
	}
	perToken := int64(12*c.Dim+4*c.FFN) + 2*int64(c.Heads)*int64(seq)
	return int64(c.Layers)*int64(batch)*int64(seq)*perToken*4 > autoRecomputeBytes
}
