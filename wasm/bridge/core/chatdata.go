package core

import (
	"errors"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/webtune/webtune/data"
	"github.com/webtune/webtune/train"
)

// MaxText is the largest training text the page takes (500 MB): the
// text, its ids (4 bytes per token, at most one token per byte) and the
// model must fit in the 4 GB a WebAssembly tab can address.
const MaxText = 500_000_000

// textLimit is MaxText (a variable for tests).
var textLimit = MaxText

// ErrTextTooLarge refuses a training text above MaxText.
var ErrTextTooLarge = errors.New("core: training text too large")

// textCache holds the ids of the last plain text tokenized, so that the
// page's repeated counts of one text (and the run that follows) tokenize it
// once: the ids are read-only and runs share them.
type textCache struct {
	mu     sync.Mutex
	seed   maphash.Seed
	n      int    // bytes of the text
	sum    uint64 // its hash
	tokens *train.Tokens
	took   time.Duration // how long tokenizing took
}

// tokenizeText streams plain text to the tokenizer (no copy of it is made
// and the ids take 4 bytes each), or returns the ids of the last call when
// text is the same.
func (m *Model) tokenizeText(text string) (*train.Tokens, error) {
	c := &m.texts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.seed = maphash.MakeSeed()
	}
	sum := maphash.String(c.seed, text)
	if c.tokens != nil && c.n == len(text) && c.sum == sum {
		return c.tokens, nil
	}
	c.tokens = nil // let the old ids go before the new ones grow
	start := time.Now()
	// the heap may grow only 5% past the ids meanwhile (every piece leaves
	// a few MB of garbage; the ids hold no pointers, so collecting is cheap)
	old := debug.SetGCPercent(5)
	toks, err := train.TokenizeReader(m.tok, data.CheckedReader(strings.NewReader(text)), train.DocumentsNone, nil)
	debug.SetGCPercent(old)
	if err != nil {
		return nil, err
	}
	c.n, c.sum, c.tokens, c.took = len(text), sum, toks, time.Since(start)
	return toks, nil
}

// tokenizeTime returns how long tokenizing the last plain text took.
func (m *Model) tokenizeTime() time.Duration {
	m.texts.mu.Lock()
	defer m.texts.mu.Unlock()
	return m.texts.took
}

// ChatPreview is one training example as the page shows it: the rendered
// text as token pieces, each with whether the loss trains it.
type ChatPreview struct {
	Pieces  []string `js:"pieces" json:"pieces"`
	Trained []bool   `js:"trained" json:"trained"`
}

// trainingData reads the page's training text like `webtune train` reads a
// file: plain text (or JSON Lines of {"text"}) is a token stream; JSON Lines
// of conversations, prompt–completion pairs or Alpaca records are examples
// rendered with the model's chat template (o.ChatTemplate overrides it) and
// trained per o.TrainOn. For a stream, examples is nil.
func (m *Model) trainingData(text string, o TrainOptions) (stream *train.Tokens, examples []data.Example, s data.Summary, err error) {
	if len(text) > textLimit {
		return nil, nil, s, fmt.Errorf("%w: the training text is %.1f MB; a tab holds at most %.0f MB (the text, 4 bytes per token and the model share 4 GB of WebAssembly memory): use a shorter text, or webtune train for long ones",
			ErrTextTooLarge, float64(len(text))/1e6, float64(textLimit)/1e6)
	}
	head := text[:min(len(text), 1<<16)]
	if (o.Format == "" || o.Format == data.FormatAuto || o.Format == data.FormatText) && !data.IsJSONL("", []byte(head)) {
		stream, err = m.tokenizeText(text)
		if err != nil {
			return nil, nil, s, err
		}
		return stream, nil, data.Summary{Format: data.FormatText, Tokens: stream.Len()}, nil
	}
	f, err := data.Parse("", []byte(text), o.Format)
	if err != nil {
		return nil, nil, s, err
	}
	if f.Format == data.FormatText {
		format := train.DocumentsNone
		if data.IsJSONL("", []byte(text)) {
			format = train.DocumentsJSONL
		}
		stream, err = train.TokenizeReader(m.tok, strings.NewReader(text), format, nil)
		if err != nil {
			return nil, nil, s, err
		}
		return stream, nil, data.Summary{Format: data.FormatText, Tokens: stream.Len()}, nil
	}
	tmpl, name, err := data.Template(m.chatTemplate, o.ChatTemplate, m.tok)
	if err != nil {
		return nil, nil, s, err
	}
	seqLen := o.SeqLen
	if seqLen == 0 {
		seqLen = 128
	}
	examples, s, err = data.Build(f, m.tok, tmpl, data.Options{TrainOn: o.TrainOn, SeqLen: seqLen})
	if f.Records[0].Conversational {
		s.Template = name
	}
	return nil, examples, s, err
}

// newTrainRun makes the train.Run of the page's text.
func (m *Model) newTrainRun(o TrainOptions) (*train.Run[float32], error) {
	stream, examples, _, err := m.trainingData(o.Text, o)
	if err != nil {
		return nil, err
	}
	var ex []train.Example
	for _, e := range examples {
		ex = append(ex, train.Example{Tokens: e.Tokens, Trained: e.Trained})
	}
	build := func(model train.Model[float32]) (*train.Run[float32], error) {
		if examples == nil {
			return train.NewTokens(model, stream, o.config())
		}
		return train.NewExamples(model, ex, o.config())
	}
	r, err := build(m.trainModel(o))
	if err != nil || m.gpu == nil {
		return r, err
	}
	// The GPU holds this run's activations from the start, or the run
	// trains on the CPU and says why.
	c := r.Config()
	if err := m.gpu.Reserve(c.Batch, c.SeqLen); err != nil {
		m.gpu.Close()
		m.gpu, m.gpuReason = nil, err.Error()
		return build(m.m)
	}
	return r, nil
}

// chatStats fills the example counts of TextStats for conversational data,
// with a preview of the first example.
func (m *Model) chatStats(examples []data.Example, s data.Summary, o TrainOptions) TextStats {
	st := TextStats{Tokens: s.Tokens, Format: s.Format, Examples: s.Examples, Turns: s.Turns, Trained: s.Trained,
		Cut: s.Cut, Template: s.Template, Summary: s.String()}
	longest := 0
	for _, e := range examples {
		longest = max(longest, len(e.Tokens))
	}
	seqLen := o.SeqLen
	if seqLen == 0 {
		seqLen = 128
	}
	st.SeqLen = min(seqLen, longest-1)
	frac := o.EvalFraction
	if frac == 0 {
		frac = 0.1
	}
	held := 0
	if frac > 0 && len(examples) >= 2 {
		held = min(max(1, int(float64(len(examples))*frac)), len(examples)-1)
	}
	st.TrainWindows, st.EvalWindows = len(examples)-held, held
	if len(examples) > 0 {
		e := examples[0]
		p := &ChatPreview{Pieces: make([]string, len(e.Tokens)), Trained: e.Trained}
		for i, id := range e.Tokens {
			p.Pieces[i] = m.tok.Piece(id, true)
		}
		st.Preview = p
	}
	return st
}
