package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestPublishListDownload(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	data := build(t, goodSpec(8), 7)
	w := do(h, req{method: "PUT", target: "/api/adapters/tiny-lora.r8.gguf", body: data, header: authed(testToken)})
	if w.Code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	var meta Metadata
	if err := json.Unmarshal(w.Body.Bytes(), &meta); err != nil {
		t.Fatal(err)
	}
	want := Metadata{Name: "tiny-lora.r8.gguf", Size: int64(len(data)), SHA256: sha256Hex(data), Architecture: "llama",
		Rank: 8, Ranks: []int{8}, Alpha: 16, Targets: []string{"attn_q", "attn_v"}, Pairs: 4, Created: "2026-04-01T12:00:00Z"}
	if !metaEqual(meta, want) {
		t.Errorf("PUT metadata = %+v, want %+v", meta, want)
	}

	w = do(h, req{method: "GET", target: "/api/adapters"})
	var page listPage
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != 200 {
		t.Fatalf("list: %d %s %v", w.Code, w.Body, err)
	}
	if len(page.Adapters) != 1 || !metaEqual(page.Adapters[0], want) || page.Truncated || page.Cursor != "" {
		t.Errorf("list = %+v", page)
	}

	w = do(h, req{method: "GET", target: "/api/adapters/tiny-lora.r8.gguf"})
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data) {
		t.Fatalf("download: %d, %d bytes, identical %t", w.Code, w.Body.Len(), bytes.Equal(w.Body.Bytes(), data))
	}
	for k, v := range map[string]string{
		"Content-Disposition": `attachment; filename="tiny-lora.r8.gguf"`,
		"ETag":                `"` + sha256Hex(data) + `"`,
		"Content-Type":        "application/octet-stream",
		"Content-Length":      fmt.Sprint(len(data)),
		"Accept-Ranges":       "bytes",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	w = do(h, req{method: "GET", target: "/api/adapters/tiny-lora.r8.gguf", header: map[string]string{"If-None-Match": `"` + sha256Hex(data) + `"`}})
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d with %d bytes", w.Code, w.Body.Len())
	}
	w = do(h, req{method: "HEAD", target: "/api/adapters/tiny-lora.r8.gguf"})
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("HEAD: %d, body %d, length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}

	// Overwrite with the flag, then delete.
	data2 := build(t, goodSpec(4), 8)
	w = do(h, req{method: "PUT", target: "/api/adapters/tiny-lora.r8.gguf?overwrite=1", body: data2, header: authed(testToken)})
	if w.Code != http.StatusCreated {
		t.Fatalf("overwrite: %d %s", w.Code, w.Body)
	}
	if w = do(h, req{method: "GET", target: "/api/adapters/tiny-lora.r8.gguf"}); !bytes.Equal(w.Body.Bytes(), data2) {
		t.Fatal("overwrite did not replace the bytes")
	}
	if w = do(h, req{method: "DELETE", target: "/api/adapters/tiny-lora.r8.gguf", header: authed(testToken)}); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	if w = do(h, req{method: "GET", target: "/api/adapters/tiny-lora.r8.gguf"}); w.Code != 404 {
		t.Fatalf("GET after DELETE: %d", w.Code)
	}
}

func metaEqual(a, b Metadata) bool {
	return a.Name == b.Name && a.Size == b.Size && a.SHA256 == b.SHA256 && a.Architecture == b.Architecture &&
		a.Rank == b.Rank && slices.Equal(a.Ranks, b.Ranks) && a.Alpha == b.Alpha && slices.Equal(a.Targets, b.Targets) &&
		a.Pairs == b.Pairs && a.Created == b.Created
}

// TestRefusals: every refused request returns its status and a JSON error and leaves the store unchanged.
func TestRefusals(t *testing.T) {
	const maxBytes = 256 << 10
	h, m := newTestHandler(t, maxBytes)
	good := build(t, goodSpec(4), 1)
	put(t, h, "existing", good)
	big := bytes.Repeat([]byte("GGUF"), maxBytes/4+1)
	type tcase struct {
		name   string
		rq     req
		status int
	}
	cases := []tcase{
		{"no token", req{method: "PUT", target: "/api/adapters/new", body: good}, 401},
		{"basic auth", req{method: "PUT", target: "/api/adapters/new", body: good, header: map[string]string{"Authorization": "Basic dTpw"}}, 401},
		{"empty bearer", req{method: "PUT", target: "/api/adapters/new", body: good, header: map[string]string{"Authorization": "Bearer "}}, 401},
		{"wrong token", req{method: "PUT", target: "/api/adapters/new", body: good, header: authed("s3cret-test-tokeN")}, 403},
		{"token prefix", req{method: "PUT", target: "/api/adapters/new", body: good, header: authed(testToken[:5])}, 403},
		{"delete no token", req{method: "DELETE", target: "/api/adapters/existing"}, 401},
		{"delete wrong token", req{method: "DELETE", target: "/api/adapters/existing", header: authed("nope")}, 403},
		{"delete unknown", req{method: "DELETE", target: "/api/adapters/unknown", header: authed(testToken)}, 404},
		{"overwrite without flag", req{method: "PUT", target: "/api/adapters/existing", body: build(t, goodSpec(8), 9), header: authed(testToken)}, 409},
		{"overwrite=0", req{method: "PUT", target: "/api/adapters/existing?overwrite=0", body: build(t, goodSpec(8), 9), header: authed(testToken)}, 409},
		{"overwrite=yes", req{method: "PUT", target: "/api/adapters/existing?overwrite=yes", body: good, header: authed(testToken)}, 400},
		{"oversize", req{method: "PUT", target: "/api/adapters/new", body: big, header: authed(testToken)}, 413},
		{"oversize chunked", req{method: "PUT", target: "/api/adapters/new", body: big, chunked: true, header: authed(testToken)}, 413},
		{"empty body", req{method: "PUT", target: "/api/adapters/new", body: []byte{}, header: authed(testToken)}, 400},
		{"GET unknown", req{method: "GET", target: "/api/adapters/unknown"}, 404},
		{"unknown API", req{method: "GET", target: "/api/other"}, 404},
		{"POST", req{method: "POST", target: "/api/adapters/new", body: good, header: authed(testToken)}, 405},
		{"bad limit", req{method: "GET", target: "/api/adapters?limit=0"}, 400},
		{"bad limit text", req{method: "GET", target: "/api/adapters?limit=ten"}, 400},
		{"bad prefix", req{method: "GET", target: "/api/adapters?prefix=../"}, 400},
	}
	for _, b := range refusals(t) {
		cases = append(cases, tcase{"body " + b.name, req{method: "PUT", target: "/api/adapters/new", body: b.data, header: authed(testToken)}, b.status})
	}
	for _, name := range badNames {
		cases = append(cases,
			tcase{"PUT name " + name, req{method: "PUT", target: "/api/adapters/" + name, body: good, header: authed(testToken)}, 400},
			tcase{"DELETE name " + name, req{method: "DELETE", target: "/api/adapters/" + name, header: authed(testToken)}, 400})
		if name != "" { // GET /api/adapters/ is the list
			cases = append(cases, tcase{"GET name " + name, req{method: "GET", target: "/api/adapters/" + name}, 400})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, m)
			w := do(h, tc.rq)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Errorf("body %q is not a JSON error", w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			sameSnapshot(t, before, snapshot(t, m))
		})
	}
	if w := do(h, req{method: "GET", target: "/api/adapters/existing"}); !bytes.Equal(w.Body.Bytes(), good) {
		t.Error("the existing adapter changed")
	}
}

// badNames are escaped path segments that must be refused as names.
var badNames = []string{
	"",                  // empty
	"A",                 // upper case
	"Tiny",              // upper case
	"-lead",             // bad first char
	".hidden",           // bad first char
	"_x",                // bad first char
	"..",                // traversal
	"a..b",              // contains ..
	"%2e%2e",            // escaped ..
	"..%2fetc%2fpasswd", // escaped traversal
	"a%2Fb",             // escaped slash
	"a/b",               // slash
	"../adapters/x",     // traversal
	"a%5Cb",             // backslash
	"a%20b",             // space
	"a%00",              // NUL
	"caf%C3%A9",         // é
	"%EF%BD%81",         // fullwidth a
	"a%CC%81",           // a + combining acute
	"%E2%80%AEa",        // right-to-left override
	strings.Repeat("a", 65),
}

func TestNoTokenConfigured(t *testing.T) {
	m := NewMemory()
	h, err := NewHandler(Config{Store: m})
	if err != nil {
		t.Fatal(err)
	}
	w := do(h, req{method: "PUT", target: "/api/adapters/x", body: build(t, goodSpec(2), 1), header: authed("")})
	if w.Code != 401 {
		t.Errorf("empty token: %d", w.Code)
	}
	w = do(h, req{method: "PUT", target: "/api/adapters/x", body: build(t, goodSpec(2), 1), header: authed("anything")})
	if w.Code != 403 || len(snapshot(t, m)) != 0 {
		t.Errorf("store without token accepted a write: %d", w.Code)
	}
}

func TestGoodNames(t *testing.T) {
	h, m := newTestHandler(t, 0)
	data := build(t, goodSpec(2), 1)
	names := []string{"a", "0", "tiny-lora_r8.v2.gguf", strings.Repeat("z", 64), "a.b-c_d"}
	for _, n := range names {
		put(t, h, n, data)
	}
	if got := len(snapshot(t, m)); got != len(names) {
		t.Errorf("%d stored, want %d", got, len(names))
	}
}

func TestRanges(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	data := build(t, goodSpec(4), 3)
	put(t, h, "r", data)
	n := len(data)
	tag := `"` + sha256Hex(data) + `"`
	for _, tc := range []struct {
		rng, ifRange string
		status       int
		from, to     int // expected body data[from:to]
	}{
		{"bytes=0-99", "", 206, 0, 100},
		{"bytes=100-", "", 206, 100, n},
		{"bytes=-10", "", 206, n - 10, n},
		{"bytes=-100000000", "", 206, 0, n},
		{fmt.Sprintf("bytes=%d-%d", n-1, n+50), "", 206, n - 1, n},
		{"bytes=5-5", "", 206, 5, 6},
		{fmt.Sprintf("bytes=%d-", n), "", 416, 0, 0},
		{"bytes=-0", "", 416, 0, 0},
		{"bytes=10-5", "", 200, 0, n},                     // invalid: ignored
		{"bytes=0-1,5-6", "", 200, 0, n},                  // several ranges: whole file (the Worker agrees)
		{"bytes=+1-+2", "", 200, 0, n},                    // not RFC 9110 digits: ignored (issue 16)
		{"bytes=-+2", "", 200, 0, n},                      // a signed suffix: ignored
		{"bytes=0x10-", "", 200, 0, n},                    // not decimal: ignored
		{"bytes=10-+20", "", 200, 0, n},                   // a signed last position: ignored
		{"bytes= 1-2", "", 206, 1, 3},                     // spaces around the range are allowed
		{"items=0-5", "", 200, 0, n},                      // other unit: ignored
		{"bytes=0-99", tag, 206, 0, 100},                  // If-Range matches
		{"bytes=0-99", `"old"`, 200, 0, n},                // If-Range stale: whole file
		{fmt.Sprintf("bytes=%d-", n), `"old"`, 200, 0, n}, // If-Range stale, range unsatisfiable: whole file
	} {
		t.Run(tc.rng+" "+tc.ifRange, func(t *testing.T) {
			hd := map[string]string{"Range": tc.rng}
			if tc.ifRange != "" {
				hd["If-Range"] = tc.ifRange
			}
			w := do(h, req{method: "GET", target: "/api/adapters/r", header: hd})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			switch tc.status {
			case 206:
				want := fmt.Sprintf("bytes %d-%d/%d", tc.from, tc.to-1, n)
				if cr := w.Header().Get("Content-Range"); cr != want {
					t.Errorf("Content-Range %q, want %q", cr, want)
				}
				fallthrough
			case 200:
				if !bytes.Equal(w.Body.Bytes(), data[tc.from:tc.to]) {
					t.Errorf("body of %d bytes is not data[%d:%d]", w.Body.Len(), tc.from, tc.to)
				}
				if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(tc.to-tc.from) {
					t.Errorf("Content-Length %q", cl)
				}
			case 416:
				if cr := w.Header().Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", n) {
					t.Errorf("Content-Range %q", cr)
				}
			}
		})
	}
}

func TestPagination(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	data := build(t, goodSpec(2), 1)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("adapter-%02d", i)
		put(t, h, name, data)
		want = append(want, name)
	}
	put(t, h, "other", data)
	var got []string
	cursor, pages := "", 0
	for {
		w := do(h, req{method: "GET", target: "/api/adapters?prefix=adapter-&limit=10&cursor=" + cursor})
		var page listPage
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != 200 {
			t.Fatalf("page %d: %d %s", pages, w.Code, w.Body)
		}
		pages++
		for _, a := range page.Adapters {
			got = append(got, a.Name)
		}
		if page.Truncated != (page.Cursor != "") {
			t.Errorf("truncated %t with cursor %q", page.Truncated, page.Cursor)
		}
		if page.Cursor == "" {
			break
		}
		cursor = page.Cursor
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages: %q", pages, got)
	}
	if w := do(h, req{method: "GET", target: "/api/adapters?cursor=%21%21"}); w.Code != 400 {
		t.Errorf("bad cursor: %d", w.Code)
	}
}

func TestConcurrentUploads(t *testing.T) {
	h, m := newTestHandler(t, 0)
	const n = 24
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = build(t, goodSpec(1+i%4), int64(i))
	}
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = do(h, req{method: "PUT", target: fmt.Sprintf("/api/adapters/c%02d", i), body: datas[i], header: authed(testToken)}).Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 201 {
			t.Errorf("upload %d: %d", i, c)
		}
		if w := do(h, req{method: "GET", target: fmt.Sprintf("/api/adapters/c%02d", i)}); !bytes.Equal(w.Body.Bytes(), datas[i]) {
			t.Errorf("adapter %d differs", i)
		}
	}
	if got := len(snapshot(t, m)); got != n {
		t.Errorf("%d stored, want %d", got, n)
	}

	// The same name from many clients without ?overwrite: exactly one wins.
	var created, conflicts int
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := do(h, req{method: "PUT", target: "/api/adapters/race", body: datas[i], header: authed(testToken)}).Code
			mu.Lock()
			defer mu.Unlock()
			switch c {
			case 201:
				created++
			case 409:
				conflicts++
			}
		}()
	}
	wg.Wait()
	if created != 1 || conflicts != n-1 {
		t.Errorf("race: %d created, %d conflicts", created, conflicts)
	}
}

func TestCORS(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	w := do(h, req{method: "OPTIONS", target: "/api/adapters/x"})
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
	if w = do(h, req{method: "GET", target: "/api/adapters"}); w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Error("list without CORS header")
	}
}

func TestNewHandlerConfig(t *testing.T) {
	if _, err := NewHandler(Config{}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := NewHandler(Config{Store: NewMemory(), MaxBytes: -1}); err == nil {
		t.Error("negative MaxBytes accepted")
	}
	h, _ := NewHandler(Config{Store: NewMemory()})
	if h.cfg.MaxBytes != DefaultMaxBytes {
		t.Errorf("default MaxBytes %d", h.cfg.MaxBytes)
	}
}
