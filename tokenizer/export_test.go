package tokenizer

import "io"

// TokenizeReaderChunk is tokenizeReader with a chosen piece size, for tests
// that want many cuts in a small text.
func (t *Tokenizer) TokenizeReaderChunk(r io.Reader, addSpecial, parseSpecial bool, chunk int, emit func(ids []int, read int64) error) error {
	return t.tokenizeReader(r, addSpecial, parseSpecial, chunk, emit)
}

// BadCuts returns every position where TokenizeReader may cut text (kinds
// the vocabulary allows) at which tokenizing the two sides apart does not
// give the ids of the whole text, and how many positions it tried.
func (t *Tokenizer) BadCuts(text string, addSpecial, parseSpecial bool) (bad []int, tried int) {
	want := t.Tokenize(text, addSpecial, parseSpecial)
	nl, sp := t.cutKinds()
	b := []byte(text)
	for p := 3; p <= len(b)-2; p++ {
		if !t.cutAt(b, p, nl, sp) {
			continue
		}
		tried++
		s := streamer{t: t, parseSpecial: parseSpecial, first: true}
		if addSpecial && t.v.AddBOS {
			s.out = append(s.out, t.v.BOS)
		}
		s.piece(text[:p])
		s.piece(text[p:])
		if addSpecial && t.v.AddEOS {
			s.out = append(s.out, t.v.EOS)
		}
		if !slicesEqual(s.out, want) {
			bad = append(bad, p)
		}
	}
	return bad, tried
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
