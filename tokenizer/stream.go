package tokenizer

import (
	"errors"
	"io"
	"slices"
	"strings"
)

// StreamChunk is the size of the pieces TokenizeReader reads and tokenizes
// at a time (a piece ends at the last safe cut in it, see TokenizeReader).
const StreamChunk = 1 << 20

// TokenizeReader tokenizes everything r yields exactly as
// Tokenize(text, addSpecial, parseSpecial) would tokenize the whole text,
// while holding only about StreamChunk bytes of it at a time. emit gets the
// ids of each piece in order (the slice is reused: copy what you keep) and
// the number of bytes of r consumed so far; an error from emit or r stops
// the stream and is returned.
//
// The text is cut only where cutting cannot change the ids: after a "\n"
// that follows two ASCII characters, the second not whitespace, and is
// followed by an ASCII letter, where no special token's text touches the
// "\n" or the letter. There every pre-tokenizer of byte-level BPE ends a
// word (no expression carries a word across "\n" into a letter: letter runs
// take at most a leading non-newline character, whitespace runs end before
// a non-space, a punctuation run's trailing [\r\n]* stops at the letter),
// UTF-8 decoding is in step (the bytes before are ASCII) and the special
// token partition splits the same way. SentencePiece merges symbols across
// a whole fragment, so a cut is exact only when no token of the vocabulary
// holds "\n" followed by another byte (no merge can then span the cut);
// for a vocabulary that has one the whole text is read and tokenized at
// once. The space prefix and BOS go only before the first piece, EOS only
// after the last. A text without such a cut is held whole until one comes.
func (t *Tokenizer) TokenizeReader(r io.Reader, addSpecial, parseSpecial bool, emit func(ids []int, read int64) error) error {
	return t.tokenizeReader(r, addSpecial, parseSpecial, StreamChunk, emit)
}

// tokenizeReader is TokenizeReader with pieces of about chunk bytes.
func (t *Tokenizer) tokenizeReader(r io.Reader, addSpecial, parseSpecial bool, chunk int, emit func(ids []int, read int64) error) error {
	var (
		s     streamer
		buf   = make([]byte, 0, chunk)
		read  int64
		eof   bool
		exact = t.model != modelSPM || t.spmCutsAtNewline()
	)
	s.t, s.parseSpecial, s.first = t, parseSpecial, true
	if addSpecial && t.v.AddBOS {
		s.out = append(s.out, t.v.BOS)
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf)) // a piece without a cut: read on
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		read += int64(n)
		if errors.Is(err, io.EOF) {
			eof = true
		} else if err != nil {
			return err
		}
		if !eof && (len(buf) < cap(buf) || !exact) {
			continue
		}
		cut := len(buf)
		if !eof {
			if cut = t.lastCut(buf); cut == 0 {
				continue
			}
		}
		s.piece(string(buf[:cut]))
		if eof && addSpecial && t.v.AddEOS {
			s.out = append(s.out, t.v.EOS)
		}
		if err := emit(s.out, read-int64(len(buf)-cut)); err != nil {
			return err
		}
		if eof {
			return nil
		}
		s.out = s.out[:0]
		buf = buf[:copy(buf, buf[cut:])]
	}
}

// streamer tokenizes the pieces of one TokenizeReader call.
type streamer struct {
	t            *Tokenizer
	parseSpecial bool
	first        bool // no piece tokenized yet (SPM: the space prefix is due)
	out          []int
	sc           scratch
}

// piece appends the ids of the next piece of text to s.out, as Tokenize
// does for a whole text but with the space prefix only on the first piece.
func (s *streamer) piece(text string) {
	t := s.t
	if text == "" {
		return
	}
	frags := t.partition(text, s.parseSpecial)
	prevSpecial := s.first
	s.first = false
	for _, f := range frags {
		if f.token >= 0 {
			s.out = append(s.out, f.token)
			prevSpecial = true
			continue
		}
		raw := text[f.off : f.off+f.n]
		if t.model != modelSPM {
			s.out = t.bpe(raw, s.out, &s.sc)
			continue
		}
		if t.v.AddSpacePrefix && prevSpecial {
			raw = " " + raw
		}
		s.out = t.spm(escapeSpaces(raw), s.out, &s.sc)
		prevSpecial = false
	}
}

// spmCutsAtNewline reports whether no token of an SPM vocabulary holds "\n"
// followed by another byte, so that no merge can join a "\n" to what
// follows it (the condition for cutting a text after "\n"). User-defined
// tokens do not count: the partition cuts every occurrence of their texts
// out before merging, so no merge ever forms one.
func (t *Tokenizer) spmCutsAtNewline() bool {
	for s, id := range t.ids {
		if t.attrs[id]&attrUserDefined != 0 {
			continue
		}
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			return false
		}
	}
	return true
}

// lastCut returns the last position p in b where the text may be cut (see
// TokenizeReader), or 0 when there is none.
func (t *Tokenizer) lastCut(b []byte) int {
	for p := len(b) - 1; p >= 3; p-- {
		if b[p-1] != '\n' || !isASCIILetter(b[p]) || b[p-3] >= 0x80 || b[p-2] <= ' ' || b[p-2] >= 0x7f {
			continue
		}
		if !t.specialNear(b, p) {
			return p
		}
	}
	return 0
}

// specialNear reports whether the text of a special token occurs in b
// covering byte p-1 or byte p.
func (t *Tokenizer) specialNear(b []byte, p int) bool {
	if len(t.special) == 0 {
		return false
	}
	longest := len(t.v.Tokens[t.special[0]]) // t.special is longest first
	lo := max(0, p-longest)
	w := string(b[lo:min(len(b), p+longest)])
	p -= lo
	for _, id := range t.special {
		s := t.v.Tokens[id]
		if strings.Contains(w[max(0, p-len(s)):min(len(w), p+len(s))], s) {
			return true
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
