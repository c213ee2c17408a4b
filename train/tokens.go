package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strings"

	"github.com/webtune/webtune/tokenizer"
)

// blockLen is the number of ids in one block of a tokenStore (256 KiB).
const blockLen = 1 << 16

// tokenStore holds a token stream compactly: 4 bytes per id, in fixed
// blocks, so that growing it never copies the ids held so far (a stream of
// N tokens costs 4·N bytes plus at most one partly filled block).
type tokenStore struct {
	blocks [][]int32
	n      int
}

// add appends ids; an id outside int32 is an error.
func (s *tokenStore) add(ids ...int) error {
	for _, id := range ids {
		if id < 0 || id > math.MaxInt32 {
			return fmt.Errorf("%w: token id %d out of range", ErrConfig, id)
		}
		if s.n%blockLen == 0 {
			s.blocks = append(s.blocks, make([]int32, 0, blockLen))
		}
		b := &s.blocks[len(s.blocks)-1]
		*b = append(*b, int32(id))
		s.n++
	}
	return nil
}

// at returns id i.
func (s *tokenStore) at(i int) int { return int(s.blocks[i/blockLen][i%blockLen]) }

// read copies ids [i, i+len(dst)) into dst.
func (s *tokenStore) read(dst []int, i int) {
	for k := 0; k < len(dst); {
		b := s.blocks[(i+k)/blockLen][(i+k)%blockLen:]
		n := min(len(b), len(dst)-k)
		for j, id := range b[:n] {
			dst[k+j] = int(id)
		}
		k += n
	}
}

// hash is FNV-1a over every id as 4 little-endian bytes (the checkpoint's
// data hash; the same bytes as before the ids were held as int32).
func (s *tokenStore) hash() uint64 {
	h := fnv.New64a()
	var b [4 * 1024]byte
	for _, blk := range s.blocks {
		for len(blk) > 0 {
			n := min(len(blk), len(b)/4)
			for i, t := range blk[:n] {
				b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(t), byte(t>>8), byte(t>>16), byte(t>>24)
			}
			h.Write(b[:4*n])
			blk = blk[n:]
		}
	}
	return h.Sum64()
}

// Tokens is a token stream held compactly (4 bytes per token, in blocks;
// see TokenizeReader). Its zero value is empty.
type Tokens struct{ s tokenStore }

// Len returns the number of tokens.
func (t *Tokens) Len() int { return t.s.n }

// IDs returns the tokens as ids (8 bytes each: for small streams and tests).
func (t *Tokens) IDs() []int {
	out := make([]int, t.s.n)
	t.s.read(out, 0)
	return out
}

// TokenizeReader reads a training text from r and tokenizes it as
// TokenizeDocuments(tok, text, format) would, holding the ids compactly
// (4 bytes per token) and never the whole text: format DocumentsNone (or "")
// streams the text through tokenizer.TokenizeReader (ids identical to
// Tokenize's), DocumentsLines and DocumentsJSONL read it line by line.
// progress, if not nil, is called after each piece with the bytes of r
// consumed so far. Peak memory is about 4 bytes per token plus a few MiB
// (plus the longest line for the document formats).
func TokenizeReader(tok *tokenizer.Tokenizer, r io.Reader, format string, progress func(read int64)) (*Tokens, error) {
	out := &Tokens{}
	switch format {
	case "", DocumentsNone:
		err := tok.TokenizeReader(r, true, false, func(ids []int, read int64) error {
			if err := out.s.add(ids...); err != nil {
				return err
			}
			if progress != nil {
				progress(read)
			}
			return nil
		})
		return out, err
	case DocumentsLines, DocumentsJSONL:
	default:
		return nil, fmt.Errorf("%w: documents format %q (want %s, %s or %s)", ErrConfig, format, DocumentsLines, DocumentsJSONL, DocumentsNone)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	var read int64
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		read += int64(len(line))
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if line == "" && err != nil {
			break
		}
		doc, ok, derr := document(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), format, n)
		if derr != nil {
			return nil, derr
		}
		if ok {
			if tok.BOS() >= 0 {
				out.s.add(tok.BOS())
			}
			if err := out.s.add(tok.Encode(doc, false)...); err != nil {
				return nil, err
			}
			if tok.EOS() >= 0 {
				out.s.add(tok.EOS())
			}
		}
		if progress != nil && (n%1024 == 0 || err != nil) {
			progress(read)
		}
		if err != nil {
			break
		}
	}
	return out, nil
}

// document returns the document of one line (1-based number n) per format,
// and whether there is one: see SplitDocuments.
func document(line, format string, n int) (string, bool, error) {
	if strings.TrimSpace(line) == "" {
		return "", false, nil
	}
	if format == DocumentsLines {
		return line, true, nil
	}
	var rec struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return "", false, fmt.Errorf("%w: jsonl line %d: %v", ErrConfig, n, err)
	}
	if rec.Text == nil {
		return "", false, fmt.Errorf("%w: jsonl line %d: no string \"text\" field", ErrConfig, n)
	}
	return *rec.Text, strings.TrimSpace(*rec.Text) != "", nil
}
