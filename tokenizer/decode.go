package tokenizer

import "strings"

// DecodeOptions selects llama_detokenize's flags and an exact-inverse mode.
type DecodeOptions struct {
	// RemoveSpecial drops a leading BOS and a trailing EOS when the vocabulary
	// adds them (llama.cpp remove_special).
	RemoveSpecial bool
	// RenderSpecial writes the text of control and unknown tokens, which are
	// otherwise dropped (llama.cpp unparse_special; node-llama-cpp's
	// detokenize(tokens, true)).
	RenderSpecial bool
	// Exact makes Decode the inverse of Encode(text, false) for valid UTF-8:
	// it skips llama.cpp's clean_up_tokenization_spaces pass (which rewrites
	// " ." to "." and the like for some BPE vocabularies). The leading space
	// added by SPM's space prefix is still removed, as llama.cpp does when the
	// ids do not start with BOS.
	Exact bool
}

// Decode turns ids back into text as llama.cpp's llama_detokenize(ids,
// remove_special = false, unparse_special = false), which is what
// node-llama-cpp's model.detokenize(ids) returns. Ids out of range are skipped
// (llama.cpp would abort).
func (t *Tokenizer) Decode(ids []int) string {
	return t.DecodeWith(ids, DecodeOptions{})
}

// DecodeWith is Decode with options.
func (t *Tokenizer) DecodeWith(ids []int, o DecodeOptions) string {
	removeSpace := t.v.AddSpacePrefix // for any model type, as llama.cpp
	if o.RemoveSpecial && t.v.AddBOS && len(ids) > 0 && ids[0] == t.v.BOS {
		removeSpace = false // llama.cpp keeps the space after a removed BOS
		ids = ids[1:]
	}
	if o.RemoveSpecial && t.v.AddEOS && len(ids) > 0 && ids[len(ids)-1] == t.v.EOS {
		ids = ids[:len(ids)-1]
	}
	var b []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) {
			continue
		}
		p := t.Piece(id, o.RenderSpecial)
		if removeSpace && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		removeSpace = false
		b = append(b, p...)
	}
	if t.model == modelBPE && t.pre.cleanSpaces && !o.Exact {
		b = cleanSpaces(b)
	}
	return string(b)
}

// Piece returns the text of one token as llama_token_to_piece(id, lstrip 0,
// special): control and unknown tokens are "" unless special is set; SPM's
// "▁" becomes a space, byte tokens become their byte, byte-level BPE text is
// mapped back to bytes. Out-of-range ids give "".
func (t *Tokenizer) Piece(id int, special bool) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	if !special && t.attrs[id]&(attrUnknown|attrControl) != 0 {
		return ""
	}
	return t.pieces[id]
}

// cleanSpaces is llama.cpp's clean_up_tokenization_spaces (three passes over
// the bytes): " ?", " !", " .", " ," lose their space; " ' " becomes "'";
// " 's", " 'm", " 're", " 've" lose their space.
func cleanSpaces(in []byte) []byte {
	if len(in) == 0 {
		return in
	}
	// pass 1
	out := make([]byte, 1, len(in))
	out[0] = in[0]
	for i := 1; i < len(in); i++ {
		x := in[i]
		if in[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			out = out[:len(out)-1]
		}
		out = append(out, x)
	}
	// pass 2 (a removed following space reads as NUL to the next step, as in llama.cpp)
	in = out
	out = make([]byte, 1, len(in))
	out[0] = in[0]
	for i := 1; i < len(in); i++ {
		x := in[i]
		if x == '\'' && i+1 < len(in) && in[i-1] == ' ' && in[i+1] == ' ' {
			out = out[:len(out)-1]
			i++
			in[i] = 0
		}
		out = append(out, x)
	}
	// pass 3
	in = out
	out = make([]byte, 1, len(in))
	out[0] = in[0]
	for i := 1; i < len(in); i++ {
		x := in[i]
		if in[i-1] == ' ' && x == '\'' && i+1 < len(in) {
			x1 := in[i+1]
			switch {
			case x1 == 's' || x1 == 'm':
				out = out[:len(out)-1]
			case x1 == 't' || x1 == 'd':
			case i+2 < len(in):
				x2 := in[i+2]
				if x1 == 'r' && x2 == 'e' || x1 == 'v' && x2 == 'e' {
					out = out[:len(out)-1]
				}
			}
		}
		out = append(out, x)
	}
	return out
}

// escapeSpaces is llama.cpp's llama_escape_whitespace.
func escapeSpaces(s string) string { return strings.ReplaceAll(s, " ", "▁") }
