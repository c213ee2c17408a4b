package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// serveFixture lays out a page folder, a wasm file and wasm_exec.js in a
// temp dir.
func serveFixture(t *testing.T) serveConfig {
	t.Helper()
	d := t.TempDir()
	write := func(rel, body string) string {
		p := filepath.Join(d, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("web/index.html", "<!doctype html><title>webtune</title>")
	write("web/app.js", "export {}")
	write("web/lib.mjs", "export {}")
	write("web/page/chart.js", "export {}")
	write("web/styles.css", "body{}")
	write("web/models/builtin.gguf", "GGUF")
	write("secret.txt", "outside")
	return serveConfig{
		Dir:      filepath.Join(d, "web"),
		Wasm:     write("build/webtune.wasm", "\x00asm"),
		WasmExec: write("goroot/wasm_exec.js", "// go"),
	}
}

func TestServeMIMETypes(t *testing.T) {
	h, err := newServeHandler(serveFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, typ, body string
		status          int
	}{
		{"/", "text/html; charset=utf-8", "<title>webtune", 200},
		{"/index.html", "text/html; charset=utf-8", "webtune", 200},
		{"/app.js", "text/javascript; charset=utf-8", "export", 200},
		{"/lib.mjs", "text/javascript; charset=utf-8", "export", 200},
		{"/styles.css", "text/css; charset=utf-8", "body", 200},
		{"/webtune.wasm", "application/wasm", "\x00asm", 200},
		{"/wasm_exec.js", "text/javascript; charset=utf-8", "// go", 200},
		{"/page/chart.js", "text/javascript; charset=utf-8", "export", 200},
		{"/models/builtin.gguf", "application/octet-stream", "GGUF", 200},
		{"/missing.js", "", "", 404},
		{"/../secret.txt", "", "", -1}, // -1: anything but 200 (the mux redirects to the clean path)
		{"/page/../../secret.txt", "", "", -1},
		{"/%2e%2e/secret.txt", "", "", 400},
	} {
		// A recorder, not a listening server: the test also runs under GOOS=js.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		resp := rec.Result()
		body, _ := io.ReadAll(resp.Body)
		if c.status == -1 && resp.StatusCode != 200 {
			continue
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode, c.status)
			continue
		}
		if c.status != 200 {
			if strings.Contains(string(body), "outside") {
				t.Errorf("%s: served a file outside the page folder", c.path)
			}
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != c.typ {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.typ)
		}
		// cross-origin isolated, so that the page may share memory between workers
		if resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Errorf("%s: COOP %q, COEP %q", c.path, resp.Header.Get("Cross-Origin-Opener-Policy"), resp.Header.Get("Cross-Origin-Embedder-Policy"))
		}
		if !strings.Contains(string(body), c.body) {
			t.Errorf("%s: body %q", c.path, body)
		}
	}
}

func TestServeRefusesPost(t *testing.T) {
	h, _ := newServeHandler(serveFixture(t))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/index.html", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestServeMissingDir(t *testing.T) {
	if _, err := newServeHandler(serveConfig{Dir: filepath.Join(t.TempDir(), "nope")}); err == nil {
		t.Error("missing page folder accepted")
	}
}

func TestServeWasmExecFromGOROOT(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("no GOROOT or go command inside a wasm test")
	}
	if p := wasmExecPath(); !fileExists(p) {
		t.Errorf("wasm_exec.js not found (got %q)", p)
	}
}
