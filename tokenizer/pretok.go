package tokenizer

// Pre-tokenizers of the byte-level BPE ("gpt2") vocabularies. llama.cpp splits
// text with a list of regular expressions applied in turn, each one cutting the
// pieces left by the previous one (unicode.cpp unicode_regex_split). Go's regexp
// has no look-ahead, so every expression is written out by hand here, following
// the behaviour of llama.cpp's own hand-written splitters for the gpt2, llama3
// and qwen2 expressions, and of std::regex over its "collapsed" text (every code
// point >= 128 replaced by one byte naming its category) for the others.
//
// A splitter takes the code points of the whole text and the lengths of the
// current pieces, and returns the lengths of the finer pieces.

// preKind names one of the supported pre-tokenizer expression lists.
type preKind int

const (
	preDefault preKind = iota // "[\p{P}\$\+<=>\^~\|]+", gpt2, "\p{N}+", "[0-9][0-9][0-9]"
	preLlama3                 // llama3 expression (\p{N}{1,3})
	preGPT2                   // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
	preQwen2                  // llama3 expression with single digits
	preSmolLM                 // "\p{N}", then gpt2
)

// preInfo is what a tokenizer.ggml.pre name selects in llama-vocab.cpp.
type preInfo struct {
	kind         preKind
	ignoreMerges bool // a whole word that is a token is emitted as is
	addBOS       bool // default of tokenizer.ggml.add_bos_token
	cleanSpaces  bool // clean_up_tokenization_spaces on decode
}

// preNames lists the tokenizer.ggml.pre values whose expression lists are
// implemented, with the flags llama.cpp sets for them. An empty name means
// "default" (llama.cpp warns about it).
var preNames = map[string]preInfo{
	"":        {kind: preDefault, cleanSpaces: true},
	"default": {kind: preDefault, cleanSpaces: true},

	"llama3":    {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"llama-v3":  {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"llama-bpe": {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"falcon3":   {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"falcon-h1": {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"pixtral":   {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"midm-2.0":  {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"lfm2":      {kind: preLlama3, ignoreMerges: true, addBOS: true, cleanSpaces: true},
	"dbrx":      {kind: preLlama3, cleanSpaces: true},
	"smaug-bpe": {kind: preLlama3, cleanSpaces: true},

	"gpt-2":           {kind: preGPT2, cleanSpaces: true},
	"phi-2":           {kind: preGPT2, cleanSpaces: true},
	"jina-es":         {kind: preGPT2, cleanSpaces: true},
	"jina-de":         {kind: preGPT2, cleanSpaces: true},
	"gigachat":        {kind: preGPT2, cleanSpaces: true},
	"jina-v2-es":      {kind: preGPT2, cleanSpaces: true},
	"jina-v2-de":      {kind: preGPT2, cleanSpaces: true},
	"a.x-4.0":         {kind: preGPT2, cleanSpaces: true},
	"mellum":          {kind: preGPT2, cleanSpaces: true},
	"exaone4":         {kind: preGPT2, cleanSpaces: true},
	"mpt":             {kind: preGPT2, cleanSpaces: true},
	"olmo":            {kind: preGPT2, cleanSpaces: true},
	"jais":            {kind: preGPT2, cleanSpaces: true},
	"trillion":        {kind: preGPT2},
	"granite-docling": {kind: preGPT2},

	"qwen2":            {kind: preQwen2},
	"deepseek-r1-qwen": {kind: preQwen2},
	"kormo":            {kind: preQwen2},
	"f2llmv2":          {kind: preQwen2},
	"megrez":           {kind: preQwen2, cleanSpaces: true},
	"stablelm2":        {kind: preQwen2, cleanSpaces: true},
	"hunyuan":          {kind: preQwen2},
	"solar-open":       {kind: preQwen2},

	"smollm":     {kind: preSmolLM},
	"starcoder":  {kind: preSmolLM, cleanSpaces: true},
	"refact":     {kind: preSmolLM, cleanSpaces: true},
	"command-r":  {kind: preSmolLM},
	"codeshell":  {kind: preSmolLM, cleanSpaces: true},
	"exaone":     {kind: preSmolLM, cleanSpaces: true},
	"minerva-7b": {kind: preSmolLM, cleanSpaces: true},
	"mellum2":    {kind: preSmolLM, cleanSpaces: true},
}

// PreTokenizers returns the tokenizer.ggml.pre names this package implements.
func PreTokenizers() []string {
	names := make([]string, 0, len(preNames))
	for n := range preNames {
		if n != "" {
			names = append(names, n)
		}
	}
	sortStrings(names)
	return names
}

// split returns the words of text (code points cpts) for pre-tokenizer kind.
func split(kind preKind, cpts []rune) []int {
	offs := []int{len(cpts)}
	switch kind {
	case preLlama3:
		return splitLlama3(cpts, offs, 3)
	case preQwen2:
		return splitLlama3(cpts, offs, 1)
	case preGPT2:
		return splitGPT2(cpts, offs)
	case preSmolLM:
		offs = splitMatches(cpts, offs, matchNumber1)
		return splitGPT2(cpts, offs)
	default:
		offs = splitMatches(cpts, offs, matchPunctRun)
		offs = splitGPT2(cpts, offs)
		offs = splitMatches(cpts, offs, matchNumberRun)
		return splitMatches(cpts, offs, matchThreeDigits)
	}
}

// cursor reads the code points of one piece [ini, end); outside it a position
// reads as "out of range" (code point -1, flags 0), as in llama.cpp.
type cursor struct {
	cpts     []rune
	ini, end int
	prev     int   // end of the last emitted word
	out      []int // word lengths
}

func (c *cursor) cpt(p int) rune {
	if p >= c.ini && p < c.end {
		return c.cpts[p]
	}
	return -1
}

func (c *cursor) flags(p int) cflags {
	if p >= c.ini && p < c.end {
		return flagsOf(c.cpts[p])
	}
	return 0
}

// emit closes the word ending at end and returns its length.
func (c *cursor) emit(end int) int {
	n := end - c.prev
	if n > 0 {
		c.out = append(c.out, n)
	}
	c.prev = end
	return n
}

// contraction reports the length (2 or 3) of 's 't 'm 'd 're 've 'll at p, or 0.
func (c *cursor) contraction(p int, fold bool) int {
	if c.cpt(p) != '\'' || p+1 >= c.end {
		return 0
	}
	low := func(r rune) rune {
		if fold {
			return toLower(r)
		}
		return r
	}
	n1 := low(c.cpt(p + 1))
	if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
		return 2
	}
	if p+2 < c.end {
		n2 := low(c.cpt(p + 2))
		if n1 == 'r' && n2 == 'e' || n1 == 'v' && n2 == 'e' || n1 == 'l' && n2 == 'l' {
			return 3
		}
	}
	return 0
}

// splitGPT2 implements 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (llama.cpp unicode_regex_split_custom_gpt2).
func splitGPT2(cpts []rune, offs []int) []int {
	c := &cursor{cpts: cpts}
	start := 0
	for _, n := range offs {
		c.ini, c.end, c.prev = start, start+n, start
		start += n
		for pos := c.ini; pos < c.end; {
			cpt, fl := c.cpt(pos), c.flags(pos)
			if k := c.contraction(pos, false); k > 0 {
				pos += c.emit(pos + k)
				continue
			}
			f2 := fl
			sp := 0
			if cpt == ' ' {
				f2, sp = c.flags(pos+1), 1
			}
			switch {
			case f2.letter():
				pos += sp
				for c.flags(pos).letter() {
					pos++
				}
				c.emit(pos)
				continue
			case f2.number():
				pos += sp
				for c.flags(pos).number() {
					pos++
				}
				c.emit(pos)
				continue
			case f2&(fWhitespace|fLetter|fNumber) == 0 && f2 != 0:
				pos += sp
				for f := c.flags(pos); f&(fWhitespace|fLetter|fNumber) == 0 && f != 0; f = c.flags(pos) {
					pos++
				}
				c.emit(pos)
				continue
			}
			pos = c.whitespace(pos, false)
		}
	}
	return c.out
}

// whitespace handles the trailing alternatives: (\s*[\r\n]+ when crlf), \s+(?!\S), \s+,
// and a single code point when nothing matches. It returns the new position.
func (c *cursor) whitespace(pos int, crlf bool) int {
	nws, lastNL := 0, 0
	for c.flags(pos + nws).whitespace() {
		if r := c.cpt(pos + nws); crlf && (r == '\r' || r == '\n') {
			lastNL = pos + nws + 1
		}
		nws++
	}
	switch {
	case lastNL > 0:
		pos = lastNL
	case nws > 1 && c.cpt(pos+nws) != -1:
		pos += nws - 1
	case nws > 0:
		pos += nws
	default:
		pos++
	}
	c.emit(pos)
	return pos
}

// splitLlama3 implements the llama3 expression
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// and, with digits = 1, the qwen2 one (\p{N} instead of \p{N}{1,3}).
func splitLlama3(cpts []rune, offs []int, digits int) []int {
	c := &cursor{cpts: cpts}
	start := 0
	for _, n := range offs {
		c.ini, c.end, c.prev = start, start+n, start
		start += n
		for pos := c.ini; pos < c.end; {
			cpt, fl := c.cpt(pos), c.flags(pos)
			if k := c.contraction(pos, true); k > 0 {
				pos += c.emit(pos + k)
				continue
			}
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if !(cpt == '\r' || cpt == '\n' || fl.number()) && (fl.letter() || c.flags(pos+1).letter()) {
				pos++
				for c.flags(pos).letter() {
					pos++
				}
				c.emit(pos)
				continue
			}
			// \p{N}{1,digits}
			if fl.number() {
				ini := pos
				for c.flags(pos).number() {
					pos++
					if pos-ini >= digits {
						c.emit(pos)
						ini = pos
					}
				}
				c.emit(pos)
				continue
			}
			// ' '?[^\s\p{L}\p{N}]+[\r\n]*
			f2 := fl
			if cpt == ' ' {
				f2 = c.flags(pos + 1)
			}
			if f2&(fWhitespace|fLetter|fNumber) == 0 && fl != 0 {
				if cpt == ' ' {
					pos++
				}
				for f2&(fWhitespace|fLetter|fNumber) == 0 && f2 != 0 {
					pos++
					f2 = c.flags(pos)
				}
				for r := c.cpt(pos); r == '\r' || r == '\n'; r = c.cpt(pos) {
					pos++
				}
				c.emit(pos)
				continue
			}
			pos = c.whitespace(pos, true)
		}
	}
	return c.out
}

// splitMatches cuts every piece at the leftmost-longest matches of a pattern,
// keeping both the matches and the text between them as pieces (llama.cpp's
// unicode_regex_split_stl). match returns the match length at p within [p, end), or 0.
func splitMatches(cpts []rune, offs []int, match func(cpts []rune, p, end int) int) []int {
	out := make([]int, 0, len(offs))
	start := 0
	for _, n := range offs {
		end := start + n
		prev := start
		for p := start; p < end; {
			k := match(cpts, p, end)
			if k == 0 {
				p++
				continue
			}
			if p > prev {
				out = append(out, p-prev)
			}
			out = append(out, k)
			p += k
			prev = p
		}
		if prev < end {
			out = append(out, end-prev)
		}
		start = end
	}
	return out
}

// isCollapsedNumber is [\p{N}] over llama.cpp's collapsed text: an ASCII digit,
// or a non-space code point >= 128 whose category is number.
func isCollapsedNumber(r rune) bool {
	if r < 128 {
		return r >= '0' && r <= '9'
	}
	f := flagsOf(r)
	return !f.whitespace() && f&fCategories == fNumber
}

// isCollapsedPunct is [\p{P}\$\+<=>\^~\|] over the collapsed text: ASCII
// punctuation except the backtick, or a non-space code point >= 128 in \p{P}.
func isCollapsedPunct(r rune) bool {
	if r < 128 {
		switch {
		case r >= '!' && r <= '/', r >= ':' && r <= '@', r >= '[' && r <= '_', r >= '{' && r <= '~':
			return true
		}
		return false
	}
	f := flagsOf(r)
	return !f.whitespace() && f&fCategories == fPunctuation
}

func matchRun(cpts []rune, p, end int, in func(rune) bool) int {
	k := 0
	for p+k < end && in(cpts[p+k]) {
		k++
	}
	return k
}

func matchPunctRun(cpts []rune, p, end int) int  { return matchRun(cpts, p, end, isCollapsedPunct) }
func matchNumberRun(cpts []rune, p, end int) int { return matchRun(cpts, p, end, isCollapsedNumber) }

func matchNumber1(cpts []rune, p, end int) int {
	if isCollapsedNumber(cpts[p]) {
		return 1
	}
	return 0
}

// matchThreeDigits is [0-9][0-9][0-9] over the raw code points.
func matchThreeDigits(cpts []rune, p, end int) int {
	if p+3 <= end && isDigit(cpts[p]) && isDigit(cpts[p+1]) && isDigit(cpts[p+2]) {
		return 3
	}
	return 0
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
