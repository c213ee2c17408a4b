package data

import (
	"fmt"
	"strings"

	"github.com/webtune/webtune/chat"
	"github.com/webtune/webtune/tokenizer"
)

// What the loss trains (TrainOn).
const (
	TrainAssistant = "assistant" // TrainAssistant trains assistant turns (or the completion) only.
	TrainAll       = "all"       // TrainAll trains every token.
)

// Options configure Build.
type Options struct {
	// TrainOn is TrainAssistant (default) or TrainAll.
	TrainOn string
	// SeqLen cuts an example to SeqLen+1 tokens (SeqLen predictions); 0
	// keeps every token.
	SeqLen int
}

// Example is one rendered, tokenized record.
type Example struct {
	Line    int    // Line is the record's line in the file.
	Text    string // Text is the rendered text.
	Tokens  []int  // Tokens are its ids, as llama.cpp tokenizes Text with special tokens parsed.
	Trained []bool // Trained[i] is whether token i is a target of the loss (the prediction at i−1).
	Turns   int    // Turns is the number of messages (2 for a prompt–completion of strings).
	Cut     int    // Cut is how many tokens were cut at the sequence length.
}

// TrainedCount returns how many tokens of e are trained.
func (e *Example) TrainedCount() int {
	n := 0
	for _, t := range e.Trained {
		if t {
			n++
		}
	}
	return n
}

// Summary counts what Build read.
type Summary struct {
	Format    string // Format is the file's format.
	Template  string // Template says which chat template rendered conversations.
	Examples  int    // Examples is the number of examples.
	Turns     int    // Turns is the number of messages over all examples.
	Tokens    int    // Tokens is the number of tokens kept.
	Trained   int    // Trained is the number of tokens the loss trains.
	Cut       int    // Cut is the number of examples cut at the sequence length.
	CutTokens int    // CutTokens is the number of tokens cut.
}

// String is the summary as one line for a person.
func (s Summary) String() string {
	msg := fmt.Sprintf("%d %s examples, %d turns, %d tokens of which %d trained", s.Examples, s.Format, s.Turns, s.Tokens, s.Trained)
	if s.Cut > 0 {
		msg += fmt.Sprintf("; %d examples cut at the sequence length (%d tokens dropped)", s.Cut, s.CutTokens)
	}
	if s.Template != "" {
		msg += "; chat template: " + s.Template
	}
	return msg
}

// endMarkers are the texts of the model's end-of-generation tokens (as
// llama.cpp collects them: EOS, EOT, EOM and the known end-of-turn texts)
// and of the end-of-turn tokens of the families webtune knows: the trained
// span of an assistant turn ends after the first of them.
func endMarkers(tok *tokenizer.Tokenizer) []string {
	ends := []string{"<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<|endoftext|>"}
	for _, id := range append(tok.EOG(), tok.EOS()) {
		if id >= 0 {
			ends = append(ends, tok.Piece(id, true))
		}
	}
	return ends
}

// EndTokens returns the ids of the end-of-generation tokens (tok.EOG())
// and of the family end-of-turn markers the vocabulary has as single
// special tokens: generation of a chat answer stops at any of them.
func EndTokens(tok *tokenizer.Tokenizer) []int {
	ids := tok.EOG()
	for _, m := range endMarkers(tok) {
		if t := tok.Tokenize(m, false, true); len(t) == 1 && tok.Piece(t[0], false) == "" {
			ids = append(ids, t[0])
		}
	}
	return ids
}

// Build renders (with tmpl) and tokenizes every record of a conversational
// or prompt–completion file. A text file has no examples: use the token
// stream (train.TokenizeDocuments).
func Build(f *File, tok *tokenizer.Tokenizer, tmpl *chat.Template, o Options) ([]Example, Summary, error) {
	s := Summary{Format: f.Format}
	if f.Format == FormatText {
		return nil, s, fmt.Errorf("%w: a text file is a token stream, not examples", ErrData)
	}
	switch o.TrainOn {
	case "":
		o.TrainOn = TrainAssistant
	case TrainAssistant, TrainAll:
	default:
		return nil, s, fmt.Errorf("%w: train on %q (want %s or %s)", ErrData, o.TrainOn, TrainAssistant, TrainAll)
	}
	ends := endMarkers(tok)
	out := make([]Example, 0, len(f.Records))
	for _, r := range f.Records {
		e, err := build(r, tok, tmpl, ends, o)
		if err != nil {
			return nil, s, fmt.Errorf("%w: line %d: %v", ErrData, r.Line, err)
		}
		s.Examples++
		s.Turns += e.Turns
		s.Tokens += len(e.Tokens)
		s.Trained += e.TrainedCount()
		if e.Cut > 0 {
			s.Cut++
			s.CutTokens += e.Cut
		}
		out = append(out, e)
	}
	if s.Trained == 0 {
		return nil, s, fmt.Errorf("%w: no token is trained (every assistant turn was cut at the sequence length, or is empty)", ErrData)
	}
	return out, s, nil
}

func build(r Record, tok *tokenizer.Tokenizer, tmpl *chat.Template, ends []string, o Options) (Example, error) {
	e := Example{Line: r.Line}
	var spans []chat.Span
	var err error
	if r.Conversational {
		if tmpl == nil {
			return e, fmt.Errorf("a conversation needs a chat template")
		}
		e.Turns = len(r.Messages)
		e.Text, spans, err = tmpl.RenderTrained(r.Messages, ends)
		if err != nil {
			return e, err
		}
	} else {
		// TRL's prompt–completion of strings: the two texts joined, EOS after
		// the completion, the completion (and EOS) trained.
		e.Turns = 2
		bos, eos := "", ""
		if tok.AddBOS() && tok.BOS() >= 0 {
			bos = tok.Piece(tok.BOS(), true)
		}
		if tok.EOS() >= 0 {
			eos = tok.Piece(tok.EOS(), true)
		}
		e.Text = bos + r.Prompt + r.Completion + eos
		spans = []chat.Span{{Start: len(bos) + len(r.Prompt), End: len(e.Text)}}
	}
	e.Tokens = tok.Tokenize(e.Text, false, true)
	starts, err := offsets(tok, e.Text, e.Tokens)
	if err != nil {
		return e, err
	}
	e.Trained = make([]bool, len(e.Tokens))
	k := 0
	for i, st := range starts {
		if o.TrainOn == TrainAll {
			e.Trained[i] = i > 0
			continue
		}
		for k < len(spans) && spans[k].End <= st {
			k++
		}
		e.Trained[i] = i > 0 && k < len(spans) && st >= spans[k].Start
	}
	if o.SeqLen > 0 && len(e.Tokens) > o.SeqLen+1 {
		e.Cut = len(e.Tokens) - (o.SeqLen + 1)
		e.Tokens, e.Trained = e.Tokens[:o.SeqLen+1], e.Trained[:o.SeqLen+1]
	}
	return e, nil
}

// offsets returns the byte offset in text where each token starts,
// matching each token's text (with special tokens' texts) to text in order;
// a SentencePiece token may carry the space the tokenizer added in front.
func offsets(tok *tokenizer.Tokenizer, text string, ids []int) ([]int, error) {
	starts := make([]int, len(ids))
	pos := 0
	for i, id := range ids {
		p := tok.Piece(id, true)
		starts[i] = pos
		switch {
		case strings.HasPrefix(text[pos:], p):
			pos += len(p)
		case strings.HasPrefix(p, " ") && strings.HasPrefix(text[pos:], p[1:]):
			pos += len(p) - 1
		default:
			return nil, fmt.Errorf("token %d (id %d, %q) does not match the text at byte %d", i, id, p, pos)
		}
	}
	if pos != len(text) {
		return nil, fmt.Errorf("the tokens cover %d of %d bytes of the text", pos, len(text))
	}
	return starts, nil
}

// Template returns the chat template to render with: override (a
// template's text, from --chat-template or the page) when not empty, else
// the model's own (its tokenizer.chat_template, "" when it has none), else
// ChatML. The name says which, for the summary.
func Template(model, override string, tok *tokenizer.Tokenizer) (*chat.Template, string, error) {
	src, name := override, "the one given"
	switch {
	case src != "":
	case strings.TrimSpace(model) != "":
		src, name = model, "the model's own"
	default:
		src, name = chat.ChatML, "ChatML (the model has no chat template)"
	}
	bos, eos := "", ""
	if tok != nil && tok.BOS() >= 0 {
		bos = tok.Piece(tok.BOS(), true)
	}
	if tok != nil && tok.EOS() >= 0 {
		eos = tok.Piece(tok.EOS(), true)
	}
	t, err := chat.New(src, bos, eos)
	if err != nil {
		return nil, "", err
	}
	return t, name, nil
}
