package tokenizer

import "unicode"

// Code point classification and UTF-8 handling as llama.cpp's unicode.cpp does it.
// The category tables come from Go's unicode package (Unicode 15.0); llama.cpp
// generates its own from UnicodeData.txt, so code points assigned after 15.0 may
// classify differently (they count as "undefined" here).

// cflags mirrors llama.cpp's unicode_cpt_flags bit layout.
type cflags uint16

const (
	fUndefined   cflags = 0x0001
	fNumber      cflags = 0x0002 // \p{N}
	fLetter      cflags = 0x0004 // \p{L}
	fSeparator   cflags = 0x0008 // \p{Z}
	fMark        cflags = 0x0010 // \p{M}
	fPunctuation cflags = 0x0020 // \p{P}
	fSymbol      cflags = 0x0040 // \p{S}
	fControl     cflags = 0x0080 // \p{C}
	fCategories  cflags = 0x00FF
	fWhitespace  cflags = 0x0100 // \s (Unicode White_Space)
)

func (f cflags) letter() bool     { return f&fLetter != 0 }
func (f cflags) number() bool     { return f&fNumber != 0 }
func (f cflags) whitespace() bool { return f&fWhitespace != 0 }

// maxCodepoint is one past the largest code point llama.cpp has flags for.
const maxCodepoint = 0x110000

var asciiFlags = func() (t [128]cflags) {
	for r := rune(0); r < 128; r++ {
		t[r] = classify(r)
	}
	return t
}()

// flagsOf returns the flags of code point r; out-of-range code points are undefined.
func flagsOf(r rune) cflags {
	if r >= 0 && r < 128 {
		return asciiFlags[r]
	}
	if r < 0 || r >= maxCodepoint {
		return fUndefined
	}
	return classify(r)
}

func classify(r rune) cflags {
	var f cflags
	switch {
	case unicode.IsLetter(r):
		f = fLetter
	case unicode.Is(unicode.N, r):
		f = fNumber
	case unicode.Is(unicode.M, r):
		f = fMark
	case unicode.Is(unicode.P, r):
		f = fPunctuation
	case unicode.Is(unicode.S, r):
		f = fSymbol
	case unicode.Is(unicode.Z, r):
		f = fSeparator
	case unicode.Is(unicode.C, r), r >= 0xD800 && r <= 0xDFFF, r >= 0xE000 && r <= 0xF8FF,
		r >= 0xF0000 && r <= 0xFFFFD, r >= 0x100000 && r <= 0x10FFFD:
		f = fControl // Cc, Cf, Cs, Co
	default:
		f = fUndefined // Cn
	}
	if unicode.Is(unicode.White_Space, r) {
		f |= fWhitespace
	}
	return f
}

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length announced by a
// lead byte, judged by its high nibble only (continuation bytes count as 1).
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// decodeCpts splits s into code points exactly as llama.cpp's
// unicode_cpts_from_utf8: overlong forms and surrogates are accepted, a
// malformed byte becomes U+FFFD and consumes one byte. Sequences above U+10FFFF
// (which make llama.cpp throw later) also become U+FFFD here.
func decodeCpts(s string) []rune {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, n := decodeCpt(s, i)
		out = append(out, r)
		i += n
	}
	return out
}

func decodeCpt(s string, i int) (rune, int) {
	const bad = 0xFFFD
	b0 := s[i]
	cont := func(k int) bool { return i+k < len(s) && s[i+k]&0xC0 == 0x80 }
	switch {
	case b0&0x80 == 0:
		return rune(b0), 1
	case b0&0x40 == 0:
		return bad, 1
	case b0&0x20 == 0:
		if !cont(1) {
			return bad, 1
		}
		return rune(b0&0x1F)<<6 | rune(s[i+1]&0x3F), 2
	case b0&0x10 == 0:
		if !cont(1) || !cont(2) {
			return bad, 1
		}
		return rune(b0&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
	case b0&0x08 == 0:
		if !cont(1) || !cont(2) || !cont(3) {
			return bad, 1
		}
		r := rune(b0&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
		if r >= maxCodepoint {
			return bad, 1
		}
		return r, 4
	}
	return bad, 1
}

// appendCpt appends the UTF-8 form of r as llama.cpp's unicode_cpt_to_utf8
// (surrogates are encoded like any other 3-byte code point).
func appendCpt(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r&0x3F))
	case r < 0x10000:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6&0x3F), 0x80|byte(r&0x3F))
	}
	return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12&0x3F), 0x80|byte(r>>6&0x3F), 0x80|byte(r&0x3F))
}

// toLower is the simple lowercase mapping used by the contraction rules.
func toLower(r rune) rune {
	if r < 128 {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(r)
}

// byteChars is GPT-2's bytes_to_unicode: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order. charBytes is the
// inverse, indexed by code point (-1 for code points that stand for no byte).
var byteChars, charBytes = func() (enc [256]string, dec [256 + 68]int16) {
	for i := range dec {
		dec[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= 0x21 && b <= 0x7E || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		enc[b] = string(r)
		dec[r] = int16(b)
	}
	return enc, dec
}()

// charByte returns the byte that code point r stands for in byte-level BPE.
func charByte(r rune) (byte, bool) {
	if r >= 0 && int(r) < len(charBytes) && charBytes[r] >= 0 {
		return byte(charBytes[r]), true
	}
	return 0, false
}

// ByteChar returns the GPT-2 byte-level character that stands for byte b in a
// "gpt2" vocabulary (e.g. 'Ġ' for the space).
func ByteChar(b byte) string { return byteChars[b] }
