package tokenizer

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Errors returned by New and FromGGUF; test them with errors.Is.
var (
	// ErrInvalid marks a vocabulary that is inconsistent (lengths, ids out of
	// range, duplicate tokens, NaN scores...).
	ErrInvalid = errors.New("tokenizer: invalid vocabulary")
	// ErrUnsupported marks a tokenizer model or pre-tokenizer this package does
	// not implement.
	ErrUnsupported = errors.New("tokenizer: unsupported")
)

// Limits on vocabularies, checked before anything proportional is allocated.
const (
	MaxTokens     = 1 << 22 // tokens in a vocabulary
	MaxMerges     = 1 << 22 // BPE merges
	MaxTokenBytes = 1 << 16 // bytes in one token text or merge
)

// Token types of tokenizer.ggml.token_type (llama.h enum llama_token_type).
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Vocab is everything a tokenizer needs, as stored in GGUF metadata
// (tokenizer.ggml.*). Special token ids are -1 when absent.
type Vocab struct {
	Model  string    // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
	Pre    string    // tokenizer.ggml.pre (gpt2 only): "default", "llama3", "gpt-2", "qwen2", "smollm", ...
	Tokens []string  // [n] token texts; id = index
	Scores []float32 // [n] or nil (SPM merge priorities; higher merges first)
	Types  []int32   // [n] or nil (nil: every token is normal); Type* constants
	Merges []string  // gpt2 only: "left right" pairs, rank = index

	BOS, EOS, UNK, PAD int // special token ids, -1 when absent

	// Special holds the optional special tokens by role (RoleEOT, RoleEOM,
	// RoleFIMPad, ...), as tokenizer.ggml.<role>_token_id. A role absent here
	// is found by its token text at load, as llama.cpp does.
	Special map[string]int

	AddBOS         bool // Encode(text, true) starts with BOS
	AddEOS         bool // Encode(text, true) ends with EOS
	AddSpacePrefix bool // SPM: a space is put before the text (llama.cpp default true for "llama")
}

// Token attributes (llama.h enum llama_token_attr), derived from the types.
const (
	attrUnknown     = 1 << 0
	attrUnused      = 1 << 1
	attrNormal      = 1 << 2
	attrControl     = 1 << 3
	attrUserDefined = 1 << 4
	attrByte        = 1 << 5
)

const (
	modelSPM = iota
	modelBPE
)

type pair struct{ left, right string }

// Tokenizer encodes text to token ids and back exactly as llama.cpp does for
// the same vocabulary. It is immutable and safe for concurrent use.
type Tokenizer struct {
	v         Vocab
	model     int
	pre       preInfo
	ids       map[string]int // token text -> id
	attrs     []uint8        // [n] attributes
	ranks     map[pair]int   // gpt2 merges -> rank
	special   []int          // control, user-defined and unknown ids, longest text first
	byText    []int32        // positions in special, sorted by token text
	firstByte [256][2]int32  // range of byText whose texts start with each byte
	roles     map[string]int // every role's id, -1 when none (see resolveSpecial)
	eog       []int          // end-of-generation ids, ascending
	byteTok   [256]int       // SPM: id of <0xXX> (or the raw byte), -1 if none
	pieces    []string       // [n] decoded text of each token, special tokens rendered
}

// New validates v and builds a tokenizer. v is copied.
func New(v Vocab) (*Tokenizer, error) {
	v.Scores = slices.Clone(v.Scores)
	v.Types = slices.Clone(v.Types)
	v.Merges = slices.Clone(v.Merges)
	v.Special = maps.Clone(v.Special)
	t := &Tokenizer{v: v}
	if err := t.init(); err != nil {
		return nil, err
	}
	return t, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (t *Tokenizer) init() error {
	v := &t.v
	switch v.Model {
	case "llama":
		t.model = modelSPM
	case "gpt2":
		t.model = modelBPE
		info, ok := preNames[v.Pre]
		if !ok {
			return fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, v.Pre)
		}
		t.pre = info
	default:
		return fmt.Errorf("%w: tokenizer model %q", ErrUnsupported, v.Model)
	}
	n := len(v.Tokens)
	if n == 0 || n > MaxTokens {
		return invalid("%d tokens (want 1..%d)", n, MaxTokens)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return invalid("%d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return invalid("%d token types for %d tokens", len(v.Types), n)
	}
	if len(v.Merges) > MaxMerges {
		return invalid("%d merges (max %d)", len(v.Merges), MaxMerges)
	}
	for name, id := range map[string]int{"bos": v.BOS, "eos": v.EOS, "unk": v.UNK, "pad": v.PAD} {
		if id < -1 || id >= n {
			return invalid("%s token id %d out of range [-1, %d)", name, id, n)
		}
	}
	for role, id := range v.Special {
		if !knownRole(role) {
			return invalid("unknown special token role %q", role)
		}
		if id < 0 || id >= n {
			return invalid("%s token id %d out of range [0, %d)", role, id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return invalid("add_bos without a bos token")
	}
	if v.AddEOS && v.EOS < 0 {
		return invalid("add_eos without an eos token")
	}
	if err := t.initTokens(); err != nil {
		return err
	}
	if t.model == modelBPE {
		if err := t.initMerges(); err != nil {
			return err
		}
	}
	t.resolveSpecial()
	t.initSpecial()
	t.initPieces()
	return nil
}

func (t *Tokenizer) initTokens() error {
	v := &t.v
	n := len(v.Tokens)
	tokens := make([]string, n)
	t.ids = make(map[string]int, n)
	t.attrs = make([]uint8, n)
	for i, s := range v.Tokens {
		if len(s) > MaxTokenBytes {
			return invalid("token %d is %d bytes (max %d)", i, len(s), MaxTokenBytes)
		}
		if s == "" { // llama.cpp renames empty tokens
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		if j, dup := t.ids[s]; dup {
			return invalid("tokens %d and %d are both %q", j, i, s)
		}
		tokens[i] = s
		t.ids[s] = i
		if v.Scores != nil && math.IsNaN(float64(v.Scores[i])) {
			return invalid("score of token %d is NaN", i)
		}
		t.attrs[i] = attrNormal
		if v.Types != nil {
			t.attrs[i] = typeAttr(v.Types[i])
		}
	}
	v.Tokens = tokens
	for b := range t.byteTok {
		t.byteTok[b] = -1
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteTok[b] = id
		} else if id, ok := t.ids[string([]byte{byte(b)})]; ok {
			t.byteTok[b] = id
		}
	}
	return nil
}

func typeAttr(typ int32) uint8 {
	switch typ {
	case TypeNormal:
		return attrNormal
	case TypeUnknown:
		return attrUnknown
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeUnused:
		return attrUnused
	case TypeByte:
		return attrByte
	}
	return 0
}

func (t *Tokenizer) initMerges() error {
	t.ranks = make(map[pair]int, len(t.v.Merges))
	for i, m := range t.v.Merges {
		if len(m) > MaxTokenBytes {
			return invalid("merge %d is %d bytes (max %d)", i, len(m), MaxTokenBytes)
		}
		// llama.cpp splits at the first space after the first byte; a merge
		// without one becomes the pair ("", "") that never matches.
		var p pair
		if k := strings.IndexByte(m[min(1, len(m)):], ' '); k >= 0 {
			k += min(1, len(m))
			p = pair{m[:k], m[k+1:]}
		}
		if _, dup := t.ranks[p]; !dup { // the first rank wins
			t.ranks[p] = i
		}
	}
	return nil
}

// initPieces caches each token's text as llama_token_to_piece(special = true).
func (t *Tokenizer) initPieces() {
	t.pieces = make([]string, len(t.v.Tokens))
	for id, s := range t.v.Tokens {
		a := t.attrs[id]
		switch {
		case a&(attrUnknown|attrControl|attrUserDefined) != 0:
			t.pieces[id] = s
		case a&attrNormal != 0:
			if t.model == modelSPM {
				t.pieces[id] = strings.ReplaceAll(s, "▁", " ")
			} else {
				t.pieces[id] = byteDecode(s)
			}
		case a&attrByte != 0:
			t.pieces[id] = string([]byte{byteOfToken(s)})
		}
	}
}

// byteOfToken parses the XX of "<0xXX>" as llama.cpp's strtol(text.substr(3, 2), 16).
func byteOfToken(s string) byte {
	v := 0
	for i := 3; i < len(s) && i < 5; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v*16 + int(c-'0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			v = v*16 + int(c|0x20-'a') + 10
		default:
			return byte(v)
		}
	}
	return byte(v)
}

// byteDecode maps a byte-level BPE token text back to bytes (llama_decode_text).
func byteDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := decodeCpt(s, i)
		i += n
		if c, ok := charByte(r); ok {
			b = append(b, c)
			continue
		}
		u := appendCpt(nil, r)
		b = append(b, "[UNK_BYTE_0x"...)
		for _, x := range u {
			b = append(b, fmt.Sprintf("%02x", x)...)
		}
		b = append(b, s...)
		b = append(b, ']')
	}
	return string(b)
}

// Vocab returns a copy of the vocabulary (empty tokens renamed as llama.cpp does).
func (t *Tokenizer) Vocab() Vocab {
	v := t.v
	v.Tokens = slices.Clone(v.Tokens)
	v.Scores = slices.Clone(v.Scores)
	v.Types = slices.Clone(v.Types)
	v.Merges = slices.Clone(v.Merges)
	v.Special = maps.Clone(v.Special)
	return v
}

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.v.Tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int { return t.v.BOS }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return t.v.EOS }

// AddBOS reports whether Encode(text, true) starts with BOS.
func (t *Tokenizer) AddBOS() bool { return t.v.AddBOS }

// Model returns "llama" or "gpt2".
func (t *Tokenizer) Model() string { return t.v.Model }

// TokenText returns the stored text of token id ("" if id is out of range).
func (t *Tokenizer) TokenText(id int) string {
	if id < 0 || id >= len(t.v.Tokens) {
		return ""
	}
	return t.v.Tokens[id]
}

// TokenID returns the id of the token whose stored text is s.
func (t *Tokenizer) TokenID(s string) (int, bool) {
	id, ok := t.ids[s]
	return id, ok
}

// Attr returns the llama.cpp attributes of token id as resolved at load
// (llama_token_get_attr's bits: unknown 1, unused 2, normal 4, control 8,
// user-defined 16, byte 32), or 0 for an id out of range.
func (t *Tokenizer) Attr(id int) int {
	if id < 0 || id >= len(t.attrs) {
		return 0
	}
	return int(t.attrs[id])
}

// IsControl reports whether id is a control token (BOS, EOS, ...), which
// decodes to nothing unless special tokens are rendered.
func (t *Tokenizer) IsControl(id int) bool {
	return id >= 0 && id < len(t.attrs) && t.attrs[id]&attrControl != 0
}

func sortStrings(s []string) { sort.Strings(s) }
