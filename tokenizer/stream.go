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
// The text is cut only where cutting cannot change the ids, at one of two
// kinds of place: (a) after a "\n" that follows two ASCII characters, the
// second not whitespace, and is followed by an ASCII letter; (b) before a
// space that follows two ASCII characters, the second a letter, and is
// followed by an ASCII letter. No special token's text may touch the two
// bytes around the cut. There every pre-tokenizer of byte-level BPE ends a
// word (no expression carries a word across "\n" into a letter: letter
// runs take at most a leading non-newline character, whitespace runs end
// before a non-space, a punctuation run's trailing [\r\n]* stops at the
// letter; and a letter run ends before a space, which starts the next word
// " ?\p{L}+" in every expression), UTF-8 decoding is in step (the bytes
// before are ASCII) and the special token partition splits the same way.
// SentencePiece merges symbols across a whole fragment, so a cut of kind
// (a) is exact only when no token of the vocabulary holds "\n" followed by
// another byte, and one of kind (b) only when none holds an ASCII letter
// followed by "▁" (then no merge can span the cut); user-defined tokens do
// not count, the partition having cut their texts out. Where neither kind
// is exact the whole text is read and tokenized at once. The space prefix
// and BOS go only before the first piece, EOS only after the last. A text
// without any cut is held whole until one comes.
func (t *Tokenizer) TokenizeReader(r io.Reader, addSpecial, parseSpecial bool, emit func(ids []int, read int64) error) error {
	return t.tokenizeReader(r, addSpecial, parseSpecial, StreamChunk, emit)
}

// tokenizeReader is TokenizeReader with pieces of about chunk bytes.
func (t *Tokenizer) tokenizeReader(r io.Reader, addSpecial, parseSpecial bool, chunk int, emit func(ids []int, read int64) error) error {
	var (
		s      streamer
		buf    = make([]byte, 0, chunk)
		read   int64
		eof    bool
		nl, sp = t.cutKinds()
		exact  = nl || sp
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
			if cut = t.lastCut(buf, nl, sp); cut == 0 {
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

// cutKinds reports which kinds of cut are exact for the vocabulary: after
// "\n" (nl) and before a space (sp); both always for byte-level BPE.
func (t *Tokenizer) cutKinds() (nl, sp bool) {
	if t.model != modelSPM {
		return true, true
	}
	nl = !t.spmJoins("\n", func(string) bool { return true })
	sp = !t.spmJoins("▁", func(before string) bool { return before != "" && isASCIILetter(before[len(before)-1]) })
	return nl, sp
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

// spmJoins reports whether a token of an SPM vocabulary other than a
// user-defined one holds sep followed by another byte (for "\n") or
// preceded by what join accepts: whether a merge could span a cut at sep.
// User-defined tokens do not count: the partition cuts every occurrence of
// their texts out before merging, so no merge ever forms one.
func (t *Tokenizer) spmJoins(sep string, join func(before string) bool) bool {
	for s, id := range t.ids {
		if t.attrs[id]&attrUserDefined != 0 {
			continue
		}
		for off := 0; ; {
			i := strings.Index(s[off:], sep)
			if i < 0 {
				break
			}
			i += off
			if sep == "\n" && i < len(s)-1 || sep != "\n" && join(s[:i]) {
				return true
			}
			off = i + 1
		}
	}
	return false
}

// lastCut returns the last position p in b where the text may be cut (see
// TokenizeReader; nl allows cuts after "\n", sp before a space), or 0 when
// there is none.
func (t *Tokenizer) lastCut(b []byte, nl, sp bool) int {
	// a special token's text starting at a cut must lie within b
	longest := 0
	if len(t.special) > 0 {
		longest = len(t.v.Tokens[t.special[0]]) // t.special is longest first
	}
	for p := len(b) - max(2, longest); p >= 3; p-- {
		if t.cutAt(b, p, nl, sp) {
			return p
		}
	}
	return 0
}

// cutAt reports whether b may be cut at p, 3 ≤ p ≤ len(b)-2 (see lastCut).
func (t *Tokenizer) cutAt(b []byte, p int, nl, sp bool) bool {
	if b[p-3] >= 0x80 || b[p-2] >= 0x80 {
		return false
	}
	switch {
	case nl && b[p-1] == '\n' && isASCIILetter(b[p]) && b[p-2] > ' ' && b[p-2] < 0x7f:
	case sp && b[p] == ' ' && isASCIILetter(b[p+1]) && isASCIILetter(b[p-1]):
	default:
		return false
	}
	return !t.specialNear(b, p)
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
