package train

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/webtune/webtune/tokenizer"
)

// Tokenize turns a training text into one token stream as llama.cpp would
// tokenize it for inference: BOS first when the vocabulary asks for it.
func Tokenize(tok *tokenizer.Tokenizer, text string) []int {
	return tok.Encode(text, true)
}

// Document formats of TokenizeDocuments.
const (
	DocumentsNone  = "none"  // the whole text is one stream (Tokenize)
	DocumentsLines = "lines" // one document per non-empty line
	DocumentsJSONL = "jsonl" // one document per JSON line's "text" field
)

// SplitDocuments splits text into documents per format: DocumentsLines
// gives every non-empty line (a trailing "\r" dropped), DocumentsJSONL the
// "text" string of every non-blank line's JSON object (empty texts are
// skipped). A JSON line that does not parse, or has no string "text",
// is an error naming its 1-based line number.
func SplitDocuments(text, format string) ([]string, error) {
	if format != DocumentsLines && format != DocumentsJSONL {
		return nil, fmt.Errorf("%w: documents format %q (want %s, %s or %s)", ErrConfig, format, DocumentsLines, DocumentsJSONL, DocumentsNone)
	}
	var docs []string
	n := 0
	for line := range strings.SplitSeq(text, "\n") {
		n++
		d, ok, err := document(strings.TrimSuffix(line, "\r"), format, n)
		if err != nil {
			return nil, err
		}
		if ok {
			docs = append(docs, d)
		}
	}
	return docs, nil
}

// TokenizeDocuments turns a training text into a token stream of documents
// as `webtune pretrain` does: the text is split per format (see
// SplitDocuments; DocumentsNone or "" is Tokenize), and every document
// becomes BOS · tokens · EOS (a marker the vocabulary lacks is left out),
// concatenated. Training on it teaches the model to emit EOS, which ends
// generation, at a document's end.
func TokenizeDocuments(tok *tokenizer.Tokenizer, text, format string) ([]int, error) {
	if format == "" || format == DocumentsNone {
		return Tokenize(tok, text), nil
	}
	docs, err := SplitDocuments(text, format)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, d := range docs {
		if tok.BOS() >= 0 {
			out = append(out, tok.BOS())
		}
		out = append(out, tok.Encode(d, false)...)
		if tok.EOS() >= 0 {
			out = append(out, tok.EOS())
		}
	}
	return out, nil
}

// Dataset holds the token stream and its windows: training windows are
// start offsets into the training part, evaluation windows into the held-out
// tail. A window at s covers tokens[s : s+SeqLen+1].
type Dataset struct {
	tokens    tokenStore
	mask      []bool // [len(tokens)] trained targets (examples only)
	starts    []int  // [examples+1] example starts in tokens (examples only; then train and eval hold example indices)
	seqLen    int
	train     []int // [nTrain] window starts in tokens[:split]
	eval      []int // [nEval] window starts in tokens[split:]
	split     int   // first held-out token
	hash      uint64
	permSeed  uint64
	perm      []int // order of the current epoch
	permEpoch int
}

// newDataset splits tokens per c and cuts the windows. A stream too short
// for one window of c.SeqLen+1 tokens shrinks the window; c.SeqLen is
// returned as used.
func newDataset(tokens tokenStore, c Config) (*Dataset, int, error) {
	n := tokens.n
	if n < 2 {
		return nil, 0, fmt.Errorf("%w: %d tokens of data; need at least 2", ErrConfig, n)
	}
	d := &Dataset{tokens: tokens, permSeed: c.Seed, permEpoch: -1}
	split := n
	if c.EvalFraction > 0 {
		k := int(float64(n) * c.EvalFraction)
		// hold out only if both sides keep at least one full window
		if k >= c.SeqLen+1 && n-k >= c.SeqLen+1 {
			split = n - k
		}
	}
	d.split = split
	d.seqLen = min(c.SeqLen, split-1)
	d.train = windows(0, split, d.seqLen, c.Stride)
	if split < n {
		d.eval = windows(split, n, d.seqLen, d.seqLen)
		if c.EvalWindows > 0 && len(d.eval) > c.EvalWindows {
			d.eval = d.eval[:c.EvalWindows]
		}
	}
	d.hash = tokens.hash()
	return d, d.seqLen, nil
}

// windows returns the starts of windows of seqLen+1 tokens in [lo, hi)
// every stride tokens; a tail shorter than stride gets one last window
// ending at hi, so no token is left out.
func windows(lo, hi, seqLen, stride int) []int {
	var w []int
	last := hi - (seqLen + 1)
	for s := lo; s <= last; s += stride {
		w = append(w, s)
	}
	if len(w) > 0 && w[len(w)-1] < last {
		w = append(w, last)
	}
	return w
}

// TrainWindows returns the number of training windows.
func (d *Dataset) TrainWindows() int { return len(d.train) }

// EvalWindows returns the number of held-out windows evaluated.
func (d *Dataset) EvalWindows() int { return len(d.eval) }

// Tokens returns the number of tokens in the stream.
func (d *Dataset) Tokens() int { return d.tokens.n }

// order returns the permutation of the training windows for epoch e:
// seeded by (Seed, e), so it needs no RNG state in a checkpoint.
func (d *Dataset) order(e int) []int {
	if d.permEpoch != e {
		r := rand.New(rand.NewPCG(d.permSeed, uint64(e)+0x7472616e))
		d.perm = r.Perm(len(d.train))
		d.permEpoch = e
	}
	return d.perm
}

// cursor is a position in the training data: an epoch and an index into
// that epoch's permutation.
type cursor struct{ Epoch, Index int }

// batch fills tokens and targets ([B][SeqLen] each, allocated by the
// caller) with the next B windows from c and returns the advanced cursor.
func (d *Dataset) batch(c cursor, tokens, targets [][]int) cursor {
	for b := range tokens {
		if c.Index >= len(d.train) {
			c = cursor{Epoch: c.Epoch + 1}
		}
		s := d.train[d.order(c.Epoch)[c.Index]]
		if d.starts != nil {
			d.fillExample(s, tokens[b], targets[b])
			c.Index++
			continue
		}
		d.tokens.read(tokens[b], s)
		d.tokens.read(targets[b], s+1)
		c.Index++
	}
	return c
}

// evalBatch fills tokens and targets with held-out windows i, i+1, ... and
// returns how many rows it filled.
func (d *Dataset) evalBatch(i int, tokens, targets [][]int) int {
	n := 0
	for ; n < len(tokens) && i+n < len(d.eval); n++ {
		s := d.eval[i+n]
		if d.starts != nil {
			d.fillExample(s, tokens[n], targets[n])
			continue
		}
		d.tokens.read(tokens[n], s)
		d.tokens.read(targets[n], s+1)
	}
	return n
}

// matrix returns a [rows][cols] int matrix in one allocation.
func matrix(rows, cols int) [][]int {
	buf := make([]int, rows*cols)
	m := make([][]int, rows)
	for i := range m {
		m[i] = buf[i*cols : (i+1)*cols : (i+1)*cols]
	}
	return m
}
