package train

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTokenizeDocumentsLines(t *testing.T) {
	tok := byteTokenizer(t)
	if tok.BOS() < 0 || tok.EOS() < 0 {
		t.Fatalf("byte vocabulary without BOS/EOS: %d %d", tok.BOS(), tok.EOS())
	}
	got, err := TokenizeDocuments(tok, "ab\n\n  \ncd\r\nxyz", DocumentsLines)
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, d := range []string{"ab", "cd", "xyz"} {
		want = append(want, tok.BOS())
		want = append(want, tok.Encode(d, false)...)
		want = append(want, tok.EOS())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stream\n%v\nwant\n%v", got, want)
	}
	// the byte vocabulary's SPM adds a space prefix: [BOS ▁ a b EOS BOS ▁ c d EOS BOS ▁ x y z EOS]
	sp := tok.Encode("ab", false)[0]
	exact := []int{tok.BOS(), sp, 'a' + 3, 'b' + 3, tok.EOS(), tok.BOS(), sp, 'c' + 3, 'd' + 3, tok.EOS(),
		tok.BOS(), sp, 'x' + 3, 'y' + 3, 'z' + 3, tok.EOS()}
	if !slices.Equal(got, exact) {
		t.Fatalf("stream %v, want %v", got, exact)
	}
	none, err := TokenizeDocuments(tok, sampleText, DocumentsNone)
	if err != nil || !slices.Equal(none, Tokenize(tok, sampleText)) {
		t.Fatalf("none mode differs from Tokenize (err %v)", err)
	}
}

func TestTokenizeDocumentsJSONL(t *testing.T) {
	tok := byteTokenizer(t)
	jl := `{"text": "ab"}` + "\n\n" + `{"text": "", "id": 2}` + "\r\n" + `{"id": 3, "text": "c\nd"}` + "\n"
	got, err := TokenizeDocuments(tok, jl, DocumentsJSONL)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat([]int{tok.BOS()}, tok.Encode("ab", false), []int{tok.EOS(), tok.BOS()},
		tok.Encode("c\nd", false), []int{tok.EOS()})
	if !slices.Equal(got, want) {
		t.Fatalf("stream\n%v\nwant\n%v", got, want)
	}
	for name, tc := range map[string]struct {
		text, msg string
	}{
		"bad json":        {`{"text": "a"}` + "\n" + `{"text": "b"}` + "\n\n" + `{"text": oops}`, "jsonl line 4"},
		"no text":         {`{"text": "a"}` + "\n" + `{"body": "b"}`, "jsonl line 2: no string \"text\""},
		"text not string": {`{"text": 3}`, "jsonl line 1"},
	} {
		_, err := TokenizeDocuments(tok, tc.text, DocumentsJSONL)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.msg)
		}
	}
	if _, err := TokenizeDocuments(tok, "a", "paragraphs"); err == nil {
		t.Error("unknown format accepted")
	}
}
