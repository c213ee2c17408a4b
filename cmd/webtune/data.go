package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/webtune/webtune/chat"
	"github.com/webtune/webtune/data"
	"github.com/webtune/webtune/tokenizer"
	"github.com/webtune/webtune/train"
)

const dataUsage = `usage: webtune data [--model base.gguf] --data file [--format auto|text|messages|prompt-completion|alpaca]
       [--chat-template file.jinja] [--train-on assistant|all] [--seq-len 128] [--documents none|lines|jsonl] [--json]

Shows exactly what webtune train learns from a file: per example the text as
rendered with the model's chat template, its token ids, and which tokens the
loss trains. Formats (detected per file, or named with --format):
  {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
  {"prompt": "...", "completion": "..."} (or message lists in both)
  {"instruction": "...", "input": "...", "output": "..."} (Alpaca)
  {"text": "..."} and plain text (a token stream, every token trained).
Conversations train only the assistant turns, each with its end-of-turn
token (--train-on all: every token); a model without a chat template gets
ChatML. With --json: one JSON object per example and line,
{"text": "...", "tokens": [ids], "trained": [0 or 1 per token]}, where
trained[i] = 1 means token i is a target of the loss.
`

// dataFlags are the options of the training data, shared by train and data.
type dataFlags struct {
	format, chatTemplate, trainOn string
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.format, "format", data.FormatAuto, "training data format: auto, text, messages, prompt-completion or alpaca")
	fs.StringVar(&d.chatTemplate, "chat-template", "", "Jinja chat template file (default: the model's own, else ChatML)")
	fs.StringVar(&d.trainOn, "train-on", data.TrainAssistant, "tokens the loss trains in conversations: assistant or all")
}

// trainData is a training file read for a model: a token stream (text) or
// examples with their trained tokens.
type trainData struct {
	stream   *train.Tokens
	examples []data.Example
	summary  string
}

// newRun prepares a run of lm on the data.
func (d *trainData) newRun(lm *loadedModel, cfg train.Config) (*train.Run[float32], error) {
	if d.examples == nil {
		return train.NewTokens[float32](lm.Model, d.stream, cfg)
	}
	ex := make([]train.Example, len(d.examples))
	for i, e := range d.examples {
		ex[i] = train.Example{Tokens: e.Tokens, Trained: e.Trained}
	}
	return train.NewExamples[float32](lm.Model, ex, cfg)
}

// readTrainData reads path for lm: a text file becomes a stream of
// documents (documents as train's --documents), anything else examples.
// Plain text is streamed to the tokenizer (never held whole; the ids take 4
// bytes each) with a progress line on progress when it is not nil.
func readTrainData(lm *loadedModel, path string, df dataFlags, documents string, seqLen int, progress io.Writer) (*trainData, error) {
	if lm.Tok == nil {
		return nil, fmt.Errorf("%s has no tokenizer: cannot tokenize %s", lm.Path, path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	br := bufio.NewReaderSize(fh, 1<<16)
	head, err := br.Peek(1 << 16)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	whole := len(head) == 1<<16 && len(bytes.TrimLeft(head, " \t\r\n\ufeff")) == 0 // only blanks so far: JSONL or not is unknown
	if (df.format == "" || df.format == data.FormatAuto || df.format == data.FormatText) && !whole && !data.IsJSONL(path, head) {
		return streamText(lm, path, br, documents, progress)
	}
	content, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	f, err := data.Parse(path, content, df.format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Format == data.FormatText {
		toks, err := train.TokenizeReader(lm.Tok, bytes.NewReader(content), documents, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &trainData{stream: toks, summary: fmt.Sprintf("%d tokens (documents: %s)", toks.Len(), documents)}, nil
	}
	var override string
	if df.chatTemplate != "" {
		b, err := os.ReadFile(df.chatTemplate)
		if err != nil {
			return nil, err
		}
		override = string(b)
	}
	tmpl, name, err := data.Template(modelTemplate(lm), override, lm.Tok)
	if err != nil {
		return nil, err
	}
	ex, s, err := data.Build(f, lm.Tok, tmpl, data.Options{TrainOn: df.trainOn, SeqLen: seqLen})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Format != data.FormatPromptCompletion || f.Records[0].Conversational {
		s.Template = name
	}
	return &trainData{examples: ex, summary: s.String()}, nil
}

// runData is the data command.
func runData(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dataUsage); fs.PrintDefaults() }
	model := fs.String("model", "", "base model GGUF (default: the built-in model)")
	path := fs.String("data", "", "training data file")
	var df dataFlags
	df.register(fs)
	seqLen := fs.Int("seq-len", 128, "tokens per window: longer examples are cut")
	documents := fs.String("documents", train.DocumentsNone, "documents of a text file: none, lines or jsonl")
	asJSON := fs.Bool("json", false, "print one JSON object per example")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --data is required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	lm, err := loadModel(*model, false)
	if err != nil {
		return err
	}
	d, err := readTrainData(lm, *path, df, *documents, *seqLen, stderr)
	if err != nil {
		return err
	}
	examples := d.examples
	if examples == nil { // a text stream: one example, every token after the first trained
		ids := d.stream.IDs()
		e := data.Example{Tokens: ids, Trained: make([]bool, len(ids))}
		for i := 1; i < len(e.Trained); i++ {
			e.Trained[i] = true
		}
		e.Text = lm.Tok.DecodeWith(ids, tokenizer.DecodeOptions{RenderSpecial: true, Exact: true})
		examples = []data.Example{e}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, e := range examples {
			tr := make([]int, len(e.Trained))
			for i, t := range e.Trained {
				if t {
					tr[i] = 1
				}
			}
			if err := enc.Encode(struct {
				Text    string `json:"text"`
				Tokens  []int  `json:"tokens"`
				Trained []int  `json:"trained"`
			}{e.Text, e.Tokens, tr}); err != nil {
				return err
			}
		}
		fmt.Fprintln(stderr, d.summary)
		return nil
	}
	for i, e := range examples {
		fmt.Fprintf(stdout, "── example %d", i+1)
		if e.Line > 0 {
			fmt.Fprintf(stdout, " (line %d)", e.Line)
		}
		fmt.Fprintf(stdout, ": %d tokens, %d trained", len(e.Tokens), e.TrainedCount())
		if e.Cut > 0 {
			fmt.Fprintf(stdout, ", %d cut at --seq-len", e.Cut)
		}
		fmt.Fprintf(stdout, "\n%s\n", highlight(lm, e))
	}
	fmt.Fprintln(stdout, d.summary)
	fmt.Fprintln(stdout, "(trained tokens are between ⟦ and ⟧)")
	return nil
}

// highlight returns e's tokens as text with each run of trained tokens
// between ⟦ and ⟧.
func highlight(lm *loadedModel, e data.Example) string {
	var b strings.Builder
	in := false
	for i, id := range e.Tokens {
		if e.Trained[i] != in {
			if in {
				b.WriteString("⟧")
			} else {
				b.WriteString("⟦")
			}
			in = e.Trained[i]
		}
		b.WriteString(lm.Tok.Piece(id, true))
	}
	if in {
		b.WriteString("⟧")
	}
	return b.String()
}

// chatPrompt returns the ids of generate --chat's prompt: the system and
// user messages rendered with the chat template and a generation prompt,
// tokenized with special tokens parsed (as training tokenizes).
func chatPrompt(lm *loadedModel, templateFile, system, prompt string) ([]int, error) {
	if lm.Tok == nil {
		return nil, fmt.Errorf("%s has no tokenizer: --chat needs one", lm.Path)
	}
	var override string
	if templateFile != "" {
		b, err := os.ReadFile(templateFile)
		if err != nil {
			return nil, err
		}
		override = string(b)
	}
	tmpl, _, err := data.Template(modelTemplate(lm), override, lm.Tok)
	if err != nil {
		return nil, err
	}
	var msgs []chat.Message
	if system != "" {
		msgs = append(msgs, chat.Message{Role: chat.RoleSystem, Content: system})
	}
	msgs = append(msgs, chat.Message{Role: chat.RoleUser, Content: prompt})
	text, err := tmpl.Render(msgs, true)
	if err != nil {
		return nil, err
	}
	return lm.Tok.Tokenize(text, false, true), nil
}

// streamText tokenizes the plain text read from r (the file path) with a
// progress line on progress: "tokenizing path: 45 % (90 MB of 200 MB), 12 s",
// rewritten in place at most every quarter second, then a closing line
// with the token count and the time taken.
func streamText(lm *loadedModel, path string, r io.Reader, documents string, progress io.Writer) (*trainData, error) {
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	start := time.Now()
	last := start
	show := func(read int64, final bool) {
		if progress == nil || !final && time.Since(last) < 250*time.Millisecond {
			return
		}
		last = time.Now()
		el := time.Since(start).Seconds()
		if size > 0 {
			fmt.Fprintf(progress, "\rtokenizing %s: %d %% (%s of %s), %.0f s", path, read*100/size, mb(read), mb(size), el)
		} else {
			fmt.Fprintf(progress, "\rtokenizing %s: %s, %.0f s", path, mb(read), el)
		}
	}
	if os.Getenv("GOGC") == "" {
		// the ids are the live heap and every piece leaves a few MB of
		// garbage: collect often so the heap stays near 4 bytes per token
		defer debug.SetGCPercent(debug.SetGCPercent(tokenizeGCPercent))
	}
	toks, err := train.TokenizeReader(lm.Tok, data.CheckedReader(r), documents, func(read int64) { show(read, false) })
	if progress != nil && time.Since(start) >= 250*time.Millisecond {
		fmt.Fprintln(progress)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "tokenized %s: %d tokens in %.1f s\n", path, toks.Len(), time.Since(start).Seconds())
	}
	return &trainData{stream: toks, summary: fmt.Sprintf("%d tokens (documents: %s)", toks.Len(), documents)}, nil
}

// tokenizeGCPercent is the GC target while a text is tokenized: the heap
// may grow 5% past the ids held so far (the tokenizer's garbage is a few MB
// per piece and the ids hold no pointers, so a collection costs little).
const tokenizeGCPercent = 5

// mb formats a byte count in MB (10^6 bytes), or kB below one MB.
func mb(n int64) string {
	if n < 1_000_000 {
		return fmt.Sprintf("%d kB", n/1000)
	}
	return fmt.Sprintf("%d MB", n/1_000_000)
}

// modelTemplate returns the model's tokenizer.chat_template ("" when none).
func modelTemplate(lm *loadedModel) string {
	s, _ := lm.File.GetString("tokenizer.chat_template")
	return s
}
