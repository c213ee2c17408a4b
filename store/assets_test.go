package store

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func testAssets() fstest.MapFS {
	js := strings.Repeat("export const x = 1;\n", 200)
	return fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>webtune</title>"), ModTime: time.Unix(1e9, 0)},
		"app.js":              {Data: []byte(js)},
		"chunk.3f2a9c1d.js":   {Data: []byte(js)},
		"webtune.wasm":        {Data: append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 4096)...)},
		"style.css":           {Data: []byte("body{}")},
		"models/tiny.gguf":    {Data: []byte("GGUF....")},
		".dev.vars":           {Data: []byte("ADAPTER_TOKEN=x")},
		"models/corpus/a.txt": {Data: []byte("hello")},
	}
}

func TestAssets(t *testing.T) {
	h, _ := NewHandler(Config{Store: NewMemory(), Assets: NewAssets(testAssets())})
	for _, tc := range []struct {
		path, ctype, cache string
		status             int
	}{
		{"/", "text/html; charset=utf-8", "no-cache", 200},
		{"/index.html", "text/html; charset=utf-8", "no-cache", 200},
		{"/app.js", "text/javascript; charset=utf-8", "no-cache", 200},
		{"/chunk.3f2a9c1d.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"/webtune.wasm", "application/wasm", "no-cache", 200},
		{"/style.css", "text/css; charset=utf-8", "no-cache", 200},
		{"/models/tiny.gguf", "application/octet-stream", "no-cache", 200},
		{"/models/corpus/a.txt", "text/plain; charset=utf-8", "no-cache", 200},
		{"/.dev.vars", "", "", 404},
		{"/missing.js", "", "", 404},
		{"/../etc/passwd", "", "", 404},
		{"/models", "", "", 301},
	} {
		t.Run(tc.path, func(t *testing.T) {
			w := do(h, req{method: "GET", target: tc.path})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := w.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := w.Header().Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if w.Header().Get("Cross-Origin-Opener-Policy") != "same-origin" || w.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" {
				t.Errorf("not cross-origin isolated: %v", w.Header())
			}
			tag := w.Header().Get("ETag")
			if tag == "" {
				t.Fatal("no ETag")
			}
			w2 := do(h, req{method: "GET", target: tc.path, header: map[string]string{"If-None-Match": tag}})
			if w2.Code != http.StatusNotModified {
				t.Errorf("revalidation: %d", w2.Code)
			}
		})
	}
}

func TestAssetsGzip(t *testing.T) {
	fsys := testAssets()
	h := NewAssets(fsys)
	for _, p := range []string{"/app.js", "/webtune.wasm"} {
		plain := do(h, req{method: "GET", target: p})
		w := do(h, req{method: "GET", target: p, header: map[string]string{"Accept-Encoding": "br, gzip;q=0.8"}})
		if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s: not gzipped: %v", p, w.Header())
		}
		if w.Header().Get("ETag") == plain.Header().Get("ETag") {
			t.Errorf("%s: gzip and identity share an ETag", p)
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(zr)
		if !bytes.Equal(got, plain.Body.Bytes()) || w.Body.Len() >= plain.Body.Len() {
			t.Errorf("%s: gzip body wrong or not smaller", p)
		}
	}
	for _, ae := range []string{"", "identity", "gzip;q=0", "br"} {
		if w := do(h, req{method: "GET", target: "/app.js", header: map[string]string{"Accept-Encoding": ae}}); w.Header().Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q got gzip", ae)
		}
	}
	if w := do(h, req{method: "GET", target: "/style.css", header: map[string]string{"Accept-Encoding": "gzip"}}); w.Header().Get("Content-Encoding") != "" {
		t.Error("tiny file gzipped")
	}
	// A changed file is read again.
	fsys["app.js"] = &fstest.MapFile{Data: []byte("changed"), ModTime: time.Unix(2e9, 0)}
	if w := do(h, req{method: "GET", target: "/app.js"}); w.Body.String() != "changed" {
		t.Errorf("stale asset %q", w.Body.String()[:20])
	}
	if w := do(h, req{method: "POST", target: "/app.js"}); w.Code != 405 {
		t.Errorf("POST: %d", w.Code)
	}
}
