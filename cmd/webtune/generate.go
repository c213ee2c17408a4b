package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/webtune/webtune/data"
	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/models"
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
	"github.com/webtune/webtune/tokenizer"
)

const generateUsage = `usage: webtune generate --model base.gguf [--lora adapter.gguf[:scale]]... (--prompt TEXT | --tokens 1,2,3)
       [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]
       [--match-ggml=false] [--chat [--system TEXT] [--chat-template file.jinja]]

Runs the model on a prompt and samples a continuation (greedy with
--temperature 0). With --chat the prompt is the user's message (after an
optional --system message), rendered with the model's chat template (or
--chat-template, else ChatML) as for training, special tokens parsed, and
generation stops at the end of the assistant's turn. --prompt is tokenized as llama.cpp does (BOS added when the
vocabulary asks for it); --tokens takes ids as given. With --json it prints
{"prompt_tokens":[...],"tokens":[...],"text":"...","next_logprobs":[...]},
next_logprobs being the log-softmax over the vocabulary at the last prompt
position. Adapters apply as in llama.cpp: W·x + scale·(alpha/rank)·B·A·x.

By default (--match-ggml) the input of every layer whose weight is F16, BF16
or quantized is first rounded the way llama.cpp's CPU matmul converts it (to
F16, BF16, Q8_0, Q8_1 or Q8_K), so that log-probs agree with llama.cpp's to
~1e-3 or better on such models (Q4_1/Q5_1 weights: ~1e-2). On gemma3 models
the GELU also goes through ggml's F16 lookup table; other F32 weights are
unaffected. --match-ggml=false runs the plain float32 forward instead.
`

// errUsage reports bad command-line arguments (the usage was printed).
var errUsage = errors.New("bad arguments (see --help)")

// loadedModel is a base model ready to run: its weights, parsed file and
// tokenizer (nil when the file has none).
type loadedModel struct {
	Model *llama.Model[float32]
	File  *gguf.File
	Tok   *tokenizer.Tokenizer
	Path  string
}

// loadModel opens path (or the default model when empty) and loads it,
// quantizing the block linears to NF4 under qlora.
func loadModel(path string, qlora bool) (*loadedModel, error) {
	return loadModelOpts(path, llama.LoadOptions{QLoRA: qlora})
}

// loadModelOpts is loadModel with every llama.LoadOptions.
func loadModelOpts(path string, opt llama.LoadOptions) (*loadedModel, error) {
	if path == "" {
		p, err := models.Path() // the built-in model (webtune-stories-1m)
		if err != nil {
			return nil, err
		}
		path = p
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	m, f, err := llama.Load[float32](fh, st.Size(), opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lm := &loadedModel{Model: m, File: f, Path: path}
	if tok, err := tokenizer.FromGGUF(f); err == nil {
		lm.Tok = tok
	} else if _, ok := f.Value("tokenizer.ggml.model"); ok {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lm, nil
}

// parseTokens parses "1,2,3".
func parseTokens(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--tokens: %q is not a token id", f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("--tokens: no ids")
	}
	return ids, nil
}

// generateResult is the --json output; field order is the documented one.
type generateResult struct {
	PromptTokens []int     `json:"prompt_tokens"`
	Tokens       []int     `json:"tokens"`
	Text         string    `json:"text"`
	NextLogprobs []float64 `json:"next_logprobs"`
}

// runGenerate is the generate command.
func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, generateUsage); fs.PrintDefaults() }
	model := fs.String("model", "", "base model GGUF")
	var loras loraFlags
	fs.Var(&loras, "lora", "adapter GGUF, optionally :scale (repeatable)")
	prompt := fs.String("prompt", "", "prompt text")
	tokens := fs.String("tokens", "", "prompt token ids, comma-separated (no BOS added)")
	maxTokens := fs.Int("max-tokens", 64, "tokens to generate at most (0: none, only next_logprobs)")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 40, "keep the K most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0.95, "keep the smallest set with this probability (1: all)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	asJSON := fs.Bool("json", false, "print one JSON object")
	chatMode := fs.Bool("chat", false, "the prompt is a user message: render it with the chat template, stop at the end of the turn")
	system := fs.String("system", "", "system message of --chat")
	chatTemplate := fs.String("chat-template", "", "Jinja chat template file for --chat (default: the model's own, else ChatML)")
	matchGGML := fs.Bool("match-ggml", true, "round layer inputs as llama.cpp does for F16/BF16/quantized weights (false: plain float32 forward)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	promptSet := false
	fs.Visit(func(f *flag.Flag) { promptSet = promptSet || f.Name == "prompt" })
	if promptSet == (*tokens != "") || fs.NArg() > 0 || *maxTokens < 0 || (*chatMode && !promptSet) || (*system != "" && !*chatMode) {
		fs.Usage()
		return errUsage
	}
	lm, err := loadModelOpts(*model, llama.LoadOptions{MatchGGML: *matchGGML})
	if err != nil {
		return err
	}
	if err := applyAdapters(lm, loras); err != nil {
		return err
	}
	var ids []int
	if promptSet {
		if lm.Tok == nil {
			return fmt.Errorf("%s has no tokenizer: use --tokens", lm.Path)
		}
		ids = lm.Tok.Encode(*prompt, true)
	} else if ids, err = parseTokens(*tokens); err != nil {
		return err
	}
	opt := llama.SampleOptions{MaxTokens: *maxTokens, Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed}
	if lm.Tok != nil {
		opt.Stop = lm.Tok.EOG() // EOS, end-of-turn and the other tokens llama.cpp stops at
	}
	if *chatMode {
		if ids, err = chatPrompt(lm, *chatTemplate, *system, *prompt); err != nil {
			return err
		}
		opt.Stop = append(opt.Stop, data.EndTokens(lm.Tok)...)
	}
	if *maxTokens == 0 {
		opt.MaxTokens = -1
	}
	out, logprobs, err := generate(ctx, lm.Model, ids, opt)
	if err != nil {
		return err
	}
	text := ""
	if lm.Tok != nil {
		text = lm.Tok.Decode(out)
	}
	if !*asJSON {
		_, err := fmt.Fprintln(stdout, text)
		return err
	}
	for i, v := range logprobs {
		if math.IsInf(v, -1) {
			logprobs[i] = -math.MaxFloat64 // JSON has no -Inf
		}
	}
	res := generateResult{PromptTokens: ids, Tokens: out, Text: text, NextLogprobs: logprobs}
	if res.Tokens == nil {
		res.Tokens = []int{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// generate runs Generate; MaxTokens < 0 means only the next-token
// log-probs (no sampling).
func generate(ctx context.Context, m *llama.Model[float32], ids []int, opt llama.SampleOptions) ([]int, []float64, error) {
	if opt.MaxTokens >= 0 {
		return m.Generate(ctx, ids, opt)
	}
	s := m.NewSession(len(ids))
	logits, err := s.Eval(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	V := m.Config.VocabSize
	return []int{}, llama.LogSoftmax(logits.Data()[(len(ids)-1)*V:]), nil
}

// applyAdapters applies --lora adapters to lm.Model as llama.cpp does:
// W·x + Σ s·B·A·x, s = scale·alpha/rank. Each file is first checked by
// llama.cpp's loading rules (readAdapterFile). The first adapter is loaded
// by package lora as LoRA layers (B multiplied by the user scale), so that
// generation runs the adapter forward pass; further adapters are folded
// into the base weights under those layers.
func applyAdapters(lm *loadedModel, loras []loraArg) error {
	for i, l := range loras {
		af, err := readAdapterFile(l.Path, l.Scale, lm.File)
		if err != nil {
			return err
		}
		if i == 0 {
			if err := lora.LoadAdapter[float32](l.Path, lm.Model); err != nil {
				return fmt.Errorf("adapter %s: %w", l.Path, err)
			}
			for _, ll := range lora.Adapters[float32](lm.Model) {
				tensor.Scale(ll.B.Value.Data(), float32(l.Scale))
			}
			continue
		}
		for i := range af.Pairs {
			p := &af.Pairs[i]
			layer := lm.Model.Layer(strings.TrimSuffix(p.Base, ".weight"))
			if ll, ok := layer.(*lora.LoraLinear[float32]); ok {
				layer = ll.Base()
			}
			lin, ok := layer.(*nn.Linear[float32])
			if !ok {
				return fmt.Errorf("adapter %s: %s is not a dense layer", l.Path, p.Base)
			}
			p.addDelta(lin.Weight().Value.Data())
		}
	}
	return nil
}
