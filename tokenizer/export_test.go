package tokenizer

import "io"

// TokenizeReaderChunk is tokenizeReader with a chosen piece size, for tests
// that want many cuts in a small text.
func (t *Tokenizer) TokenizeReaderChunk(r io.Reader, addSpecial, parseSpecial bool, chunk int, emit func(ids []int, read int64) error) error {
	return t.tokenizeReader(r, addSpecial, parseSpecial, chunk, emit)
}
