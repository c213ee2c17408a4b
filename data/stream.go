package data

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// CheckedReader returns a reader of r's bytes that fails, as Parse does for a
// whole file, on the first NUL byte or invalid UTF-8 (an ErrData error
// naming the byte offset), so that a text streamed to the tokenizer is
// checked without being held whole.
func CheckedReader(r io.Reader) io.Reader { return &checkedReader{r: r, buf: make([]byte, 0, 64<<10)} }

type checkedReader struct {
	r     io.Reader
	buf   []byte // bytes read: [:ready] checked and not yet passed on, then an incomplete UTF-8 sequence
	ready int
	off   int64 // bytes checked so far
	err   error // sticky: a refusal, or r's error once buf is drained
}

func (c *checkedReader) Read(p []byte) (int, error) {
	for c.ready == 0 && c.err == nil {
		c.fill()
	}
	if c.ready == 0 {
		return 0, c.err
	}
	n := copy(p, c.buf[:c.ready])
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	c.ready -= n
	return n, nil
}

// fill reads once from r and checks what it can.
func (c *checkedReader) fill() {
	start := len(c.buf)
	n, err := c.r.Read(c.buf[start:cap(c.buf)])
	c.buf = c.buf[:start+n]
	b := c.buf[c.ready:]
	if err == nil {
		// hold back a sequence that may continue in the next read
		for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
			if b[i]&0xC0 != 0x80 {
				if b[i] >= 0xC0 && !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		c.err = fmt.Errorf("%w: byte %d is NUL: this is a binary file, not text", ErrData, c.off+int64(i))
		return
	}
	if !utf8.Valid(b) {
		m := 0
		for m < len(b) {
			r, size := utf8.DecodeRune(b[m:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			m += size
		}
		c.err = fmt.Errorf("%w: byte %d is not UTF-8: this is a binary file or another encoding", ErrData, c.off+int64(m))
		return
	}
	c.ready += len(b)
	c.off += int64(len(b))
	if err != nil {
		c.err = err
	}
}
