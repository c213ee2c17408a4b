package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webtune/webtune/data"
	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/train"
)

// bigText returns n bytes or so of lines of words.
func bigText(n int) string {
	r := rand.New(rand.NewPCG(7, 7))
	words := strings.Fields(cliText)
	var b strings.Builder
	for b.Len() < n {
		for i := range 4 + r.IntN(10) {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestReadTrainDataStreams: a plain text file of a few MB is tokenized to
// the ids of train.Tokenize on the whole text, holding 4 bytes per token
// (the whole-file path held the file twice plus 8 bytes per id, sized for
// one id per two bytes of text), and says what it did on the progress writer.
func TestReadTrainDataStreams(t *testing.T) {
	lm, err := loadModel(writeTinyModel(t, gguf.TypeF32, false), false)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.txt")
	text := bigText(3 << 20)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := readTrainData(lm, path, dataFlags{format: data.FormatAuto}, train.DocumentsNone, 128, &log)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := d.stream.Len()
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d bytes, %d tokens: %d bytes held (%.2f per token)", len(text), n, held, float64(held)/float64(n))
	if limit := int64(4*n + 1<<20); held > limit {
		t.Errorf("%d bytes held for %d tokens; want at most %d (4 per token)", held, n, limit)
	}
	if !slices.Equal(d.stream.IDs(), train.Tokenize(lm.Tok, text)) {
		t.Fatal("streamed ids differ from tokenizing the whole text")
	}
	if want := "tokenized " + path + ": "; !strings.Contains(log.String(), want) {
		t.Errorf("progress output %q lacks %q", log.String(), want)
	}
	runtime.KeepAlive(d)
}

// TestReadTrainDataRefusesBinary: NUL bytes and invalid UTF-8 deep in a
// streamed file are refused with the byte offset, as for a whole file.
func TestReadTrainDataRefusesBinary(t *testing.T) {
	lm, err := loadModel(writeTinyModel(t, gguf.TypeF32, false), false)
	if err != nil {
		t.Fatal(err)
	}
	text := bigText(300_000)
	for name, tc := range map[string]struct {
		bad, msg string
	}{
		"nul":  {"\x00", "byte 200000 is NUL"},
		"utf8": {"\xff", "byte 200000 is not UTF-8"},
		"cut":  {"\xe6\x97", "byte 200000 is not UTF-8"},
	} {
		path := filepath.Join(t.TempDir(), name+".txt")
		os.WriteFile(path, []byte(text[:200_000]+tc.bad+"\n"+text[200_000:]), 0o644)
		_, err := readTrainData(lm, path, dataFlags{format: data.FormatAuto}, train.DocumentsNone, 128, nil)
		if !errors.Is(err, data.ErrData) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want data.ErrData with %q", name, err, tc.msg)
		}
	}
	// a multi-byte character split across reads is fine
	ok := filepath.Join(t.TempDir(), "ok.txt")
	os.WriteFile(ok, []byte(strings.Repeat("日本語のテキスト\nabc ", 40_000)), 0o644)
	if _, err := readTrainData(lm, ok, dataFlags{format: data.FormatAuto}, train.DocumentsNone, 128, nil); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReadTrainData200MB tokenizes a 200 MB text file for the built-in
// model as `webtune train` reads it (not part of make test: about half a
// minute per iteration on one idle core). Reported besides the time:
// tokens, the bytes per token held afterwards, and the peak heap during
// tokenizing per token (sampled every millisecond), which the 6·N bound
// on memory is about.
func BenchmarkReadTrainData200MB(b *testing.B) {
	lm, err := loadModel("", false)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "big.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	piece := bigText(1 << 20)
	for range 200 {
		f.WriteString(piece)
	}
	f.Close()
	b.SetBytes(200 * int64(len(piece)))
	setTrainingGC()
	for b.Loop() {
		runtime.GC()
		base := heapObjects()
		peak := base
		done, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			defer close(stopped)
			for {
				select {
				case <-done:
					return
				case <-t.C:
					peak = max(peak, heapObjects())
				}
			}
		}()
		d, err := readTrainData(lm, path, dataFlags{format: data.FormatAuto}, train.DocumentsNone, 128, nil)
		close(done)
		<-stopped
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		n := float64(d.stream.Len())
		b.ReportMetric(n, "tokens")
		b.ReportMetric(float64(heapObjects()-base)/n, "held-B/token")
		b.ReportMetric(float64(peak-base)/n, "peak-heap-B/token")
	}
}

// heapObjects returns the bytes of heap objects, live or not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
