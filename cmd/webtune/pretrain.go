package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"

	"github.com/webtune/webtune/internal/pretrain"
)

const pretrainUsage = `usage: webtune pretrain --config tiny.json --data corpus.txt --out model.gguf
       [--steps N] [--lr 2e-3] [--batch 16] [--seq-len 128] [--seed 0]
       [--checkpoint file] [--checkpoint-every N] [--resume[=file]] [--stop-at N] [--loss-log losses.csv]
       [--tokenizer-data extra.txt] [--json]

Trains a llama-architecture model from scratch (every weight) on a text file,
one document per line, and writes a GGUF that llama.cpp loads. The config
(JSON) names the sizes and the tokenizer:

  {"name": "tiny", "dim": 128, "layers": 4, "heads": 4, "kv_heads": 4, "ffn": 352,
   "context_length": 256, "tied_output": true,
   "tokenizer": "bpe", "vocab_size": 1024, "pre": "llama3", "weight_type": "F32"}

tokenizer "byte" is llama.cpp's minimal SentencePiece byte vocabulary (260
tokens); "bpe" learns a byte-level BPE vocabulary of at most vocab_size tokens
from the corpus (and --tokenizer-data, e.g. a fine-tuning set whose words
should be tokens; deterministic) and stores it in the GGUF. The model file and
a checkpoint (default OUT.ckpt) are written every --checkpoint-every steps,
at the end and on Ctrl-C; --resume continues from the checkpoint with the
same data and flags and gives the losses of an uninterrupted run.
`

// resumeFlag is --resume (use the default checkpoint) or --resume=file.
type resumeFlag struct {
	on   bool
	path string
}

func (r *resumeFlag) String() string {
	if r == nil || !r.on {
		return ""
	}
	return r.path
}

func (r *resumeFlag) Set(v string) error {
	if b, err := strconv.ParseBool(v); err == nil {
		r.on, r.path = b, ""
		return nil
	}
	r.on, r.path = true, v
	return nil
}

func (r *resumeFlag) IsBoolFlag() bool { return true }

// runPretrain is the pretrain command.
func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, pretrainUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "model config JSON (sizes and tokenizer)")
	data := fs.String("data", "", "training text, one document per line (UTF-8)")
	var o pretrain.Options
	fs.StringVar(&o.Out, "out", "", "GGUF model to write")
	fs.IntVar(&o.Steps, "steps", 0, "optimizer steps (0: one epoch)")
	fs.Float64Var(&o.LR, "lr", 2e-3, "peak learning rate")
	fs.Float64Var(&o.MinLR, "min-lr", 0, "final learning rate of the cosine decay (0: lr/10)")
	fs.IntVar(&o.Warmup, "warmup", 0, "warm-up steps (0: steps/20, at most 100; -1: none)")
	fs.IntVar(&o.Batch, "batch", 16, "windows per step")
	fs.IntVar(&o.GradAccum, "grad-accum", 1, "micro-batches per step")
	fs.IntVar(&o.SeqLen, "seq-len", 128, "tokens per window (at most the context length)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the initialisation and the data order")
	fs.Float64Var(&o.WeightDecay, "weight-decay", 0.01, "AdamW weight decay (-1: none)")
	fs.IntVar(&o.EvalEvery, "eval-every", 0, "evaluate the held-out tail every N steps (0: steps/20)")
	fs.StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file (default OUT.ckpt)")
	fs.IntVar(&o.CheckpointEvery, "checkpoint-every", 0, "steps between checkpoints (0: steps/10)")
	var resume resumeFlag
	fs.Var(&resume, "resume", "continue from the checkpoint (--resume) or from a file (--resume=file)")
	fs.IntVar(&o.StopAt, "stop-at", 0, "end this session after step N, saved for --resume (0: run to the end)")
	fs.StringVar(&o.LossLog, "loss-log", "", "CSV of per-step losses to write")
	tokData := fs.String("tokenizer-data", "", "extra text the BPE vocabulary is also learned from (not trained on)")
	asJSON := fs.Bool("json", false, "print the run summary as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || *data == "" || o.Out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if resume.on {
		o.Resume = true
		if resume.path != "" {
			o.Checkpoint = resume.path
		}
	}
	raw, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	cfg, err := pretrain.ParseConfig(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	text, err := os.ReadFile(*data)
	if err != nil {
		return err
	}
	if *tokData != "" {
		extra, err := os.ReadFile(*tokData)
		if err != nil {
			return err
		}
		o.TokenizerText = string(extra)
	}
	o.Log = stderr
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	res, err := pretrain.Run(ctx, cfg, string(text), o)
	if err != nil {
		return err
	}
	return printPretrainResult(stdout, res, *asJSON)
}

// printPretrainResult prints the summary of a run.
func printPretrainResult(w io.Writer, r *pretrain.Result, asJSON bool) error {
	if asJSON {
		ev := r.EvalLoss
		if math.IsNaN(ev) {
			ev = -1
		}
		return json.NewEncoder(w).Encode(map[string]any{
			"name": r.Config.Name, "params": r.Params, "vocab_size": r.Llama.VocabSize, "steps": r.Steps,
			"batch": r.Batch, "seq_len": r.SeqLen, "tokens_seen": r.Tokens, "corpus_tokens": r.CorpusTokens,
			"train_loss": r.TrainLoss, "eval_loss": ev, "seconds": r.Elapsed.Seconds(),
			"tokens_per_sec": r.TokensPerSec, "file_bytes": r.FileBytes,
		})
	}
	_, err := fmt.Fprintf(w, "%s: %d parameters, %d steps, %d tokens seen, train loss %.4f, eval loss %.4f, %v (%.0f tokens/s), %d bytes\n",
		r.Config.Name, r.Params, r.Steps, r.Tokens, r.TrainLoss, r.EvalLoss, r.Elapsed.Round(1e9), r.TokensPerSec, r.FileBytes)
	return err
}
