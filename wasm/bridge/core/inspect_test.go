package core

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
)

// TestInspectHeaderGrowsToTheWholeHeader feeds InspectHeader growing
// prefixes of the built-in model, as the page's range requests do, until
// the header parses; the figures then match the loaded model's.
func TestInspectHeaderGrowsToTheWholeHeader(t *testing.T) {
	_, file, _ := Builtin()
	size := int64(len(file))
	n := int64(100)
	var in HeaderInfo
	for calls := 0; ; calls++ {
		var err error
		in, err = InspectHeader(file[:n], size)
		if err != nil {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
		if in.Complete {
			break
		}
		if in.NeedBytes <= n || in.NeedBytes > size {
			t.Fatalf("prefix of %d bytes asks for %d (file %d)", n, in.NeedBytes, size)
		}
		if calls > 40 {
			t.Fatal("the header never completes")
		}
		n = in.NeedBytes
	}
	if n >= size {
		t.Fatalf("needed the whole file (%d bytes) to read the header", n)
	}
	m := loadBuiltin(t, false)
	info := m.Info()
	if in.Architecture != "llama" || in.Params != info.Params || in.Layers != info.Layers || in.Dim != info.Dim ||
		in.VocabSize != info.VocabSize || in.FileBytes != size || in.HeaderBytes <= 0 || in.HeaderBytes > n ||
		in.ContextLength != info.ContextLength || !in.Fits || in.NeedsQLoRA || in.Problem != "" || in.Tensors == 0 {
		t.Fatalf("header info %+v vs model %+v (after %d bytes)", in, info, n)
	}
	gf, err := gguf.Open(bytes.NewReader(file), size)
	if err != nil {
		t.Fatal(err)
	}
	if in.QLoRAMemoryBytes >= in.MemoryBytes || in.MemoryBytes != estimateMemory(BuiltinConfig(), gf, false) {
		t.Errorf("memory %d, QLoRA %d", in.MemoryBytes, in.QLoRAMemoryBytes)
	}
	// the whole file gives the same answer
	whole, err := InspectHeader(file, size)
	if err != nil || whole != in {
		t.Errorf("whole file: %+v, %v", whole, err)
	}
}

func TestInspectHeaderRefusesEarly(t *testing.T) {
	_, good, _ := Builtin()
	size := int64(len(good))
	f, err := gguf.Open(strings.NewReader(string(good)), size)
	if err != nil {
		t.Fatal(err)
	}
	head := good[:f.DataOffset]
	// another architecture, told from the header alone
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		if kv.Key == "general.architecture" {
			kv.Value = gguf.String("bert")
		}
		_ = w.Add(kv.Key, kv.Value)
	}
	var sb strings.Builder
	_, _ = w.WriteTo(&sb)
	bert := []byte(sb.String())
	if _, err := InspectHeader(bert, int64(len(bert))); !errors.Is(err, llama.ErrUnsupported) ||
		!strings.Contains(Plain(err), "cannot be used here") {
		t.Errorf("bert: %v (%s)", err, Plain(err))
	}
	// not GGUF at all (an HTML error page served instead of the file)
	html := []byte("<!doctype html><html><body>Not found</body></html>")
	if _, err := InspectHeader(html, 1<<20); !errors.Is(err, gguf.ErrFormat) || !strings.Contains(Plain(err), "not a valid GGUF") {
		t.Errorf("html: %v", err)
	}
	// the header read from a prefix, with a file size beyond the page's limit
	big, err := InspectHeader(head, MaxFileBytes+1)
	if err != nil || !big.Complete || big.Fits || !strings.Contains(big.Problem, "at most") {
		t.Errorf("a file too large: %+v, %v", big, err)
	}
	if _, err := InspectHeader(good, size-1); !errors.Is(err, gguf.ErrFormat) {
		t.Errorf("more bytes than the size: %v", err)
	}
}

func TestInspectHeaderVerdicts(t *testing.T) {
	const G = 1 << 30
	for _, c := range []struct {
		file, mem, qmem int64
		fits, qlora     bool
		problem         string
	}{
		{100 << 20, 1 * G, G / 2, true, false, ""},
		{100 << 20, 3 * G, G, true, true, ""},
		{800 << 20, 5 * G, 3 * G, false, false, "even with QLoRA"},
		{MaxFileBytes + 1, G, G, false, false, "accepts at most"},
	} {
		in := HeaderInfo{FileBytes: c.file, MemoryBytes: c.mem, QLoRAMemoryBytes: c.qmem, MaxMemoryBytes: 2 * G, MaxFileBytes: MaxFileBytes}
		in.judge()
		if in.Fits != c.fits || in.NeedsQLoRA != c.qlora || (c.problem == "") != (in.Problem == "") || !strings.Contains(in.Problem, c.problem) {
			t.Errorf("%+v: fits %v, QLoRA %v, problem %q", c, in.Fits, in.NeedsQLoRA, in.Problem)
		}
	}
}
