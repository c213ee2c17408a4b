package tokenizer

import (
	"slices"
	"sort"
	"strings"
)

// Roles of Vocab.Special: the optional special tokens llama.cpp reads from
// tokenizer.ggml.<role>_token_id (GGUF spells the separator's key
// "seperator_token_id").
const (
	RoleEOT    = "eot"     // end of turn ("<|eot_id|>", "<|im_end|>", "<end_of_turn>", ...)
	RoleEOM    = "eom"     // end of message ("<|eom_id|>")
	RoleSEP    = "sep"     // separator
	RoleMask   = "mask"    // mask
	RoleFIMPre = "fim_pre" // fill-in-the-middle prefix
	RoleFIMSuf = "fim_suf" // fill-in-the-middle suffix
	RoleFIMMid = "fim_mid" // fill-in-the-middle middle
	RoleFIMPad = "fim_pad" // fill-in-the-middle padding (ends generation)
	RoleFIMRep = "fim_rep" // repository name (ends generation)
	RoleFIMSep = "fim_sep" // file separator (ends generation)
)

// roles lists every role in the order GGUFKVs writes them, with its GGUF key.
var roles = []struct{ name, key string }{
	{RoleEOT, "tokenizer.ggml.eot_token_id"},
	{RoleEOM, "tokenizer.ggml.eom_token_id"},
	{RoleSEP, "tokenizer.ggml.seperator_token_id"},
	{RoleMask, "tokenizer.ggml.mask_token_id"},
	{RoleFIMPre, "tokenizer.ggml.fim_pre_token_id"},
	{RoleFIMSuf, "tokenizer.ggml.fim_suf_token_id"},
	{RoleFIMMid, "tokenizer.ggml.fim_mid_token_id"},
	{RoleFIMPad, "tokenizer.ggml.fim_pad_token_id"},
	{RoleFIMRep, "tokenizer.ggml.fim_rep_token_id"},
	{RoleFIMSep, "tokenizer.ggml.fim_sep_token_id"},
}

// deprecatedRoleKeys are older keys llama.cpp still reads after the ones
// above, so that they win when both are present.
var deprecatedRoleKeys = []struct{ name, key string }{
	{RoleFIMPre, "tokenizer.ggml.prefix_token_id"},
	{RoleFIMSuf, "tokenizer.ggml.suffix_token_id"},
	{RoleFIMMid, "tokenizer.ggml.middle_token_id"},
}

func knownRole(name string) bool {
	return slices.ContainsFunc(roles, func(r struct{ name, key string }) bool { return r.name == name })
}

// roleTexts are the token texts by which llama.cpp finds a role that no key
// sets (llama-vocab.cpp, "auto-detect special tokens by text"). The token it
// picks is forced to be a control token.
var roleTexts = map[string][]string{
	RoleEOT: {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
		"<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"},
	RoleEOM: {"<|eom_id|>"},
	RoleFIMPre: {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
		"<|code_prefix|>", "<|prefix|>"},
	RoleFIMSuf: {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
		"<|code_suffix|>", "<|suffix|>"},
	RoleFIMMid: {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
		"<|code_middle|>", "<|middle|>"},
	RoleFIMPad: {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
	RoleFIMRep: {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
	RoleFIMSep: {"<|file_sep|>"},
}

// RoleTexts returns the token texts by which a role is found when the
// vocabulary does not set it (nil for roles llama.cpp does not look up).
func RoleTexts(role string) []string { return slices.Clone(roleTexts[role]) }

// eogTexts are the token texts llama.cpp puts in its end-of-generation set
// (and forces to control), besides EOS, EOT, EOM and the FIM pad/repo/separator tokens.
var eogTexts = map[string]bool{
	"<|eot_id|>": true, "<|im_end|>": true, "<|end|>": true, "<|return|>": true, "<|call|>": true,
	"<|flush|>": true, "<|calls|>": true, "<end_of_turn>": true, "<|endoftext|>": true, "</s>": true,
	"<|eom_id|>": true, "<EOT>": true, "_<EOT>": true, "[EOT]": true, "[EOS]": true,
	"<|end_of_text|>": true, "<end_of_utterance>": true, "<eos>": true, "<turn|>": true,
	"<|tool_response>": true, "<｜end▁of▁sentence｜>": true, "[e~[": true,
}

// resolveSpecial applies llama.cpp's load-time rules that depend on token
// texts, in its order (llama_vocab::impl::load): roles not set by a key are
// found by text and forced to control; control tokens named "unused" become
// unused; the end-of-generation set is built (forcing its texts to control);
// a few gpt-oss tokens become user-defined; the gpt-oss and gemma4
// workarounds take "<|end|>" or "</s>" off the set.
//
// Where several texts match one role llama.cpp keeps the first in its hash
// map's iteration order (libstdc++'s unordered_map, roughly the reverse of
// insertion); this picks the highest id, which agrees with llama.cpp on the
// family layouts tested (Qwen's "<|im_end|>" over "<|endoftext|>", Llama 3's
// "<|eot_id|>" over "<|end_of_text|>") but is not guaranteed to in general.
// The end-of-generation set does not depend on that choice except for the
// FIM pad/repo/separator roles, which real vocabularies hold at most one
// text of.
func (t *Tokenizer) resolveSpecial() {
	v := &t.v
	t.roles = make(map[string]int, len(roles))
	for _, r := range roles {
		t.roles[r.name] = -1
		if id, ok := v.Special[r.name]; ok {
			t.roles[r.name] = id
		}
	}
	byText := map[string]string{}
	for role, texts := range roleTexts {
		if t.roles[role] < 0 {
			for _, s := range texts {
				byText[s] = role
			}
		}
	}
	if len(byText) > 0 {
		found := map[string]int{}
		for id, s := range v.Tokens {
			if role, ok := byText[s]; ok {
				found[role] = id // the highest id wins
			}
		}
		for role, id := range found {
			t.roles[role] = id
			t.attrs[id] |= attrControl
		}
	}
	for id, s := range v.Tokens {
		if a := t.attrs[id]; a&attrControl != 0 && a&attrUnused == 0 && strings.Contains(s, "unused") {
			t.attrs[id] |= attrUnused
		}
	}
	eog := map[int]bool{}
	for _, role := range []string{RoleFIMPad, RoleFIMRep, RoleFIMSep} {
		if id := t.roles[role]; id >= 0 {
			eog[id] = true
		}
	}
	for id, s := range v.Tokens {
		if eogTexts[s] {
			eog[id] = true
			t.attrs[id] |= attrControl
		}
		switch s {
		case "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>":
			t.attrs[id] = attrUserDefined
		}
	}
	for _, id := range []int{v.EOS, t.roles[RoleEOT], t.roles[RoleEOM]} {
		if id >= 0 {
			eog[id] = true
		}
	}
	t.eog = t.eogWorkarounds(eog)
}

// eogWorkarounds removes "<|end|>" when the set also ends at gpt-oss's
// "<|return|>"/"<|call|>" (or solar-open's "<|calls|>"/"<|flush|>"), and "</s>"
// when it holds gemma4's "<|tool_response>", as llama.cpp does; it returns the
// set sorted.
func (t *Tokenizer) eogWorkarounds(eog map[int]bool) []int {
	has := map[string]int{}
	for id := range eog {
		has[t.v.Tokens[id]] = id
	}
	_, ret := has["<|return|>"]
	_, call := has["<|call|>"]
	_, calls := has["<|calls|>"]
	_, flush := has["<|flush|>"]
	call = call || calls
	if end, ok := has["<|end|>"]; ok && (ret && call || call && flush) {
		delete(eog, end)
		t.attrs[end] = attrUserDefined
	}
	if s, ok := has["</s>"]; ok {
		if _, tool := has["<|tool_response>"]; tool {
			delete(eog, s)
			t.attrs[s] = attrNormal
		}
	}
	out := make([]int, 0, len(eog))
	for id := range eog {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// initSpecial lists the tokens llama.cpp matches in raw text before
// tokenizing (control, user-defined and unknown), longest text first, and
// indexes them by text so that partition finds the ones a text holds in one
// pass. (llama.cpp orders equal lengths with an unstable sort; this keeps
// ids ascending. The order matters only for two equal-length special texts
// that overlap in the input.)
func (t *Tokenizer) initSpecial() {
	t.special = t.special[:0]
	for id, a := range t.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, id)
		}
	}
	sort.SliceStable(t.special, func(i, j int) bool {
		return len(t.v.Tokens[t.special[i]]) > len(t.v.Tokens[t.special[j]])
	})
	t.byText = make([]int32, len(t.special))
	for i := range t.byText {
		t.byText[i] = int32(i)
	}
	text := func(i int32) string { return t.v.Tokens[t.special[i]] }
	sort.Slice(t.byText, func(i, j int) bool { return text(t.byText[i]) < text(t.byText[j]) })
	for b := range t.firstByte {
		t.firstByte[b] = [2]int32{}
	}
	for i := 0; i < len(t.byText); {
		b := text(t.byText[i])[0] // special texts are never empty (empty tokens are renamed)
		j := i
		for j < len(t.byText) && text(t.byText[j])[0] == b {
			j++
		}
		t.firstByte[b] = [2]int32{int32(i), int32(j)}
		i = j
	}
}

// specialsIn returns the positions in t.special (ascending, so longest
// first) of the special tokens that occur in text and take part in the
// partition (all of them with parseSpecial, else the user-defined ones).
// It walks the sorted texts like a trie: at each offset the range of texts
// sharing the bytes read so far narrows by binary search.
func (t *Tokenizer) specialsIn(text string, parseSpecial bool) []int {
	if len(t.special) == 0 {
		return nil
	}
	found := map[int32]bool{}
	tok := func(i int32) string { return t.v.Tokens[t.special[t.byText[i]]] }
	for p := 0; p < len(text); p++ {
		r := t.firstByte[text[p]]
		lo, hi := r[0], r[1]
		for d := 1; lo < hi; d++ {
			// every text in byText[lo:hi] starts with text[p:p+d]; the one of length d sorts first
			if len(tok(lo)) == d {
				found[t.byText[lo]] = true
				lo++
			}
			if p+d >= len(text) || lo >= hi {
				break
			}
			c := text[p+d]
			n := int(hi - lo)
			l := lo + int32(sort.Search(n, func(i int) bool { return tok(lo + int32(i))[d] >= c }))
			h := l + int32(sort.Search(int(hi-l), func(i int) bool { return tok(l + int32(i))[d] > c }))
			lo, hi = l, h
		}
	}
	out := make([]int, 0, len(found))
	for i := range found {
		if parseSpecial || t.attrs[t.special[i]]&(attrControl|attrUnknown) == 0 {
			out = append(out, int(i))
		}
	}
	slices.Sort(out)
	return out
}

// EncodeSpecial tokenizes text with special tokens parsed and nothing added,
// as llama.cpp's llama_tokenize(text, add_special = false, parse_special =
// true), which is node-llama-cpp's model.tokenize(text, true): the texts of
// control and user-defined tokens ("<|im_start|>", "<start_of_turn>",
// "<|eot_id|>", "<bos>", ...) become those single tokens, longest texts
// first, and the text between them is tokenized as by Encode, each piece on
// its own (an SPM vocabulary with a space prefix puts one before every piece
// that follows a special token). This is the encoding of a rendered chat
// template, which carries its own BOS text where the model wants one.
func (t *Tokenizer) EncodeSpecial(text string) []int {
	return t.Tokenize(text, false, true)
}

// EOT returns the end-of-turn id (tokenizer.ggml.eot_token_id, else found by
// its text as llama.cpp does), or -1.
func (t *Tokenizer) EOT() int { return t.roles[RoleEOT] }

// EOM returns the end-of-message id ("<|eom_id|>"), or -1.
func (t *Tokenizer) EOM() int { return t.roles[RoleEOM] }

// SpecialID returns the id of a role (RoleEOT, RoleFIMPad, ...) as resolved
// at load: set by the vocabulary or found by text as llama.cpp does; -1 if
// the vocabulary has none or the role is unknown.
func (t *Tokenizer) SpecialID(role string) int {
	if id, ok := t.roles[role]; ok {
		return id
	}
	return -1
}

// EOG returns the ids generation stops at, ascending: llama.cpp's
// end-of-generation set (llama_vocab_is_eog): EOS, EOT, EOM, the FIM
// pad/repo/separator tokens and every token whose text llama.cpp lists as
// ending generation ("<|eot_id|>", "<|im_end|>", "<end_of_turn>",
// "<|endoftext|>", ...).
func (t *Tokenizer) EOG() []int { return slices.Clone(t.eog) }

// IsEOG reports whether generation should stop at id (id is in EOG()).
func (t *Tokenizer) IsEOG(id int) bool {
	_, ok := slices.BinarySearch(t.eog, id)
	return ok
}
