package tokenizer

import (
	"math"
	"strings"
)

// fragment is a piece of the input: raw text [off, off+n) or an already known token.
type fragment struct {
	token  int // -1 for raw text
	off, n int
}

// Encode tokenizes text as llama.cpp's llama_tokenize(text, addSpecial,
// parse_special = false), which is what node-llama-cpp's model.tokenize(text)
// calls with addSpecial = false. With addSpecial the vocabulary's BOS/EOS are
// added when it asks for them (AddBOS/AddEOS).
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	return t.Tokenize(text, addSpecial, false)
}

// Tokenize is llama_tokenize: with parseSpecial, the texts of control tokens
// (e.g. "<s>") in text become those tokens; user-defined tokens are always
// matched; otherwise special texts are tokenized as ordinary text. A piece
// of text between special tokens must stay under 2 GiB once prepared (SPM
// writes a space as 3 bytes, byte-level BPE a byte as up to 2): Tokenize
// panics beyond that (split such a text first).
func (t *Tokenizer) Tokenize(text string, addSpecial, parseSpecial bool) []int {
	var frags []fragment
	if text != "" {
		frags = t.partition(text, parseSpecial)
	}
	out := make([]int, 0, len(text)/2+2)
	var sc scratch
	if addSpecial && t.v.AddBOS {
		out = append(out, t.v.BOS)
	}
	if t.model == modelSPM {
		prevSpecial := true // the first text gets the space prefix
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				prevSpecial = true
				continue
			}
			s := text[f.off : f.off+f.n]
			if t.v.AddSpacePrefix && prevSpecial {
				s = " " + s
			}
			out = t.spm(escapeSpaces(s), out, &sc)
			prevSpecial = false
		}
	} else {
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				continue
			}
			out = t.bpe(text[f.off:f.off+f.n], out, &sc)
		}
	}
	if addSpecial && t.v.AddEOS {
		out = append(out, t.v.EOS)
	}
	return out
}

// partition cuts text at occurrences of special tokens, longest tokens first,
// each token cutting the raw pieces the longer ones left (llama.cpp
// tokenizer_st_partition). Only the tokens that occur in text are tried, so
// a vocabulary with thousands of special tokens costs one pass over text
// plus one per token present. (The lstrip/rstrip attributes that llama.cpp
// sets for a few models by name — jina-v2, phi-3, nomic-bert-moe — are not
// implemented.)
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	frags := []fragment{{token: -1, off: 0, n: len(text)}}
	for _, k := range t.specialsIn(text, parseSpecial) {
		id := t.special[k]
		tok := t.v.Tokens[id]
		var next []fragment
		changed := false
		for _, f := range frags {
			if f.token >= 0 {
				next = append(next, f)
				continue
			}
			off, end := f.off, f.off+f.n
			for off < end {
				k := strings.Index(text[off:end], tok)
				if k < 0 {
					break
				}
				changed = true
				if k > 0 {
					next = append(next, fragment{token: -1, off: off, n: k})
				}
				next = append(next, fragment{token: id})
				off += k + len(tok)
			}
			if off < end {
				next = append(next, fragment{token: -1, off: off, n: end - off})
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// scratch is the working memory of one Tokenize call, reused from piece to piece.
type scratch struct {
	syms []symbol
	q    bigramQueue
}

// symbol is a piece of the word being merged, a doubly linked list over a byte string.
// Its fields are int32 to keep a long SPM fragment's working set small (one
// symbol per character); splitSymbols refuses a word of 2 GiB or more.
type symbol struct {
	prev, next int32 // indices, -1 at the ends
	off, n     int32 // bytes [off, off+n) of the word; n == 0 once merged away
}

// bigram is a candidate merge of symbols left and right.
type bigram struct {
	left, right int32
	score       float32 // SPM: token score, higher first
	rank        int32   // BPE: merge rank, lower first
	size        int32   // bytes of the merged text when queued
}

// bigramQueue is a binary heap of bigrams (typed, so pushing allocates
// nothing). With spm it orders like llama.cpp's llm_bigram_spm::comparator
// (highest score, then leftmost), otherwise like llm_bigram_bpe::comparator
// (lowest rank, then leftmost). Equal keys need no particular order: of the
// entries with one left symbol at most one is current when popped.
type bigramQueue struct {
	items []bigram
	spm   bool
}

func (q *bigramQueue) less(a, b bigram) bool {
	if q.spm {
		return a.score > b.score || a.score == b.score && a.left < b.left
	}
	return a.rank < b.rank || a.rank == b.rank && a.left < b.left
}

func (q *bigramQueue) push(x bigram) {
	q.items = append(q.items, x)
	h := q.items
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *bigramQueue) pop() bigram {
	h := q.items
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(h[r], h[l]) {
			m = r
		}
		if !q.less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	q.items = h
	return top
}

// splitSymbols cuts word into one symbol per UTF-8 sequence as llama.cpp does
// (the lead byte decides the length, clamped at the end of the word).
func splitSymbols(word string, syms []symbol) []symbol {
	if len(word) > math.MaxInt32 {
		panic("tokenizer: a piece of text of 2 GiB or more") // positions are int32
	}
	syms = syms[:0]
	for off := 0; off < len(word); {
		n := min(utf8Len(word[off]), len(word)-off)
		i := int32(len(syms))
		next := i + 1
		if off+n == len(word) {
			next = -1
		}
		syms = append(syms, symbol{prev: i - 1, next: next, off: int32(off), n: int32(n)})
		off += n
	}
	return syms
}

// spm appends the SentencePiece tokens of text (spaces already escaped) to out
// (llama.cpp llm_tokenizer_spm_session::tokenize).
func (t *Tokenizer) spm(text string, out []int, sc *scratch) []int {
	syms := splitSymbols(text, sc.syms)
	sc.syms = syms
	q := &sc.q
	q.items, q.spm = q.items[:0], true
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].off : syms[r].off+syms[r].n]
		id, ok := t.ids[s]
		if !ok {
			return
		}
		var score float32
		if t.v.Scores != nil {
			score = t.v.Scores[id]
		}
		q.push(bigram{left: l, right: r, score: score, size: int32(len(s))})
	}
	for i := int32(1); i < int32(len(syms)); i++ {
		try(i-1, i)
	}
	for len(q.items) > 0 {
		b := q.pop()
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue // stale
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		try(l.prev, b.left)
		try(b.left, l.next)
	}
	for i := int32(0); i >= 0 && len(syms) > 0; i = syms[i].next {
		s := text[syms[i].off : syms[i].off+syms[i].n]
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		// Bytes of a symbol that is no token. (llama.cpp's rev_merge lookup
		// never succeeds here: merged symbols are always tokens.)
		for j := 0; j < len(s); j++ {
			if id := t.byteTok[s[j]]; id >= 0 {
				out = append(out, id)
			} else if t.v.UNK >= 0 {
				out = append(out, t.v.UNK) // llama.cpp throws here
			}
		}
	}
	return out
}

// bpe appends the byte-level BPE tokens of text to out
// (llama.cpp llm_tokenizer_bpe_session::tokenize).
func (t *Tokenizer) bpe(text string, out []int, sc *scratch) []int {
	cpts := decodeCpts(text)
	lens := split(t.pre.kind, cpts)
	syms := sc.syms
	q := &sc.q
	q.spm = false
	defer func() { sc.syms = syms }()
	var word, buf []byte
	start := 0
	for _, n := range lens {
		// the word's code points, re-encoded, then mapped byte by byte
		buf = buf[:0]
		for _, r := range cpts[start : start+n] {
			buf = appendCpt(buf, r)
		}
		start += n
		word = word[:0]
		for _, b := range buf {
			word = append(word, byteChars[b]...)
		}
		w := string(word)
		if t.pre.ignoreMerges {
			if id, ok := t.ids[w]; ok {
				out = append(out, id)
				continue
			}
		}
		syms = splitSymbols(w, syms)
		q.items = q.items[:0]
		try := func(l, r int32) {
			if l < 0 || r < 0 {
				return
			}
			sl, sr := &syms[l], &syms[r]
			rank, ok := t.ranks[pair{w[sl.off : sl.off+sl.n], w[sr.off : sr.off+sr.n]}]
			if !ok {
				return
			}
			q.push(bigram{left: l, right: r, rank: int32(rank), size: sl.n + sr.n})
		}
		for i := int32(1); i < int32(len(syms)); i++ {
			try(i-1, i)
		}
		for len(q.items) > 0 {
			b := q.pop()
			l, r := &syms[b.left], &syms[b.right]
			// A queued pair is current iff both symbols live and their sizes
			// add up: symbols only grow, and only by absorbing their right neighbour.
			if l.n == 0 || r.n == 0 || l.n+r.n != b.size || l.next != b.right {
				continue
			}
			l.n += r.n
			r.n = 0
			l.next = r.next
			if r.next >= 0 {
				syms[r.next].prev = b.left
			}
			try(l.prev, b.left)
			try(b.left, l.next)
		}
		for _, s := range syms {
			if s.n == 0 {
				continue
			}
			piece := w[s.off : s.off+s.n]
			if id, ok := t.ids[piece]; ok {
				out = append(out, id)
				continue
			}
			// llama.cpp looks each byte up as a one-byte token and drops misses.
			for j := 0; j < len(piece); j++ {
				if id, ok := t.ids[piece[j:j+1]]; ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}
