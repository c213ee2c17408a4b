package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// overwritingStore is a Memory store that replaces key with the other of
// two versions right after every Head: the interleaving of an overwrite
// between a download's reads, made certain instead of left to chance.
type overwritingStore struct {
	*Memory
	h     http.Handler
	t     testing.TB
	key   string
	datas [2][]byte
	mu    sync.Mutex
	next  int
	armed bool
}

func (s *overwritingStore) Head(ctx context.Context, key string) (Object, error) {
	o, err := s.Memory.Head(ctx, key)
	if key == s.key && s.armed {
		s.mu.Lock()
		s.next ^= 1
		data := s.datas[s.next]
		s.mu.Unlock()
		w := do(s.h, req{method: "PUT", target: "/api/adapters/" + key + "?overwrite=1", body: data, header: authed(testToken)})
		if w.Code != http.StatusCreated {
			s.t.Errorf("overwrite: %d %s", w.Code, w.Body)
		}
	}
	return o, err
}

// checkVersion fails unless a 200/206 response's ETag names one of datas
// and its body is that version's bytes (all, or the Content-Range part).
func checkVersion(t testing.TB, code int, hd http.Header, body []byte, datas map[string][]byte) {
	t.Helper()
	if code >= 500 {
		t.Errorf("status %d: %s", code, body)
		return
	}
	if code != 200 && code != 206 {
		return
	}
	data, ok := datas[strings.Trim(hd.Get("ETag"), `"`)]
	if !ok {
		t.Errorf("ETag %s names no uploaded version", hd.Get("ETag"))
		return
	}
	if code == 206 {
		var from, to, size int
		if _, err := fmt.Sscanf(hd.Get("Content-Range"), "bytes %d-%d/%d", &from, &to, &size); err != nil || size != len(data) {
			t.Errorf("Content-Range %q for a %d-byte version (%v)", hd.Get("Content-Range"), len(data), err)
			return
		}
		data = data[from : to+1]
	}
	if string(body) != string(data) || hd.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("%d: body of %d bytes (Content-Length %s) is not the %d bytes of the version its ETag names",
			code, len(body), hd.Get("Content-Length"), len(data))
	}
}

func shaOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestDownloadServesOneVersion is the regression test of issue 16 item 2: a
// download read an object's metadata, then its bytes separately, so an
// overwrite in between sent the old ETag and length with the new bytes
// (and a Range GET a 500 "store: store: range … outside"). Here an
// overwrite happens after every Head the handler makes.
func TestDownloadServesOneVersion(t *testing.T) {
	big, small := build(t, goodSpec(8), 1), build(t, goodSpec(1), 2)
	s := &overwritingStore{Memory: NewMemory(), t: t, key: "race", datas: [2][]byte{big, small}}
	h, err := NewHandler(Config{Store: s, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	put(t, h, "race", big)
	s.armed = true
	datas := map[string][]byte{shaOf(big): big, shaOf(small): small}
	for i := range 8 {
		for _, rng := range []string{"", "bytes=0-99", fmt.Sprintf("bytes=%d-", len(small)-10), fmt.Sprintf("bytes=%d-%d", len(small)+100, len(small)+200), "bytes=-50"} {
			w := do(h, req{method: "GET", target: "/api/adapters/race", header: map[string]string{"Range": rng}})
			checkVersion(t, w.Code, w.Header(), w.Body.Bytes(), datas)
			if w.Code == 416 && !strings.HasSuffix(w.Header().Get("Content-Range"), fmt.Sprintf("/%d", len(small))) {
				t.Errorf("%d: 416 with Content-Range %q", i, w.Header().Get("Content-Range"))
			}
		}
	}
}

// TestDownloadRacingOverwrites: concurrent overwrites, deletes and GETs
// (whole and ranged) of one name on the memory store; every 200/206 body
// is the version its ETag names and nothing is 5xx. Bounded by counts,
// not by time.
func TestDownloadRacingOverwrites(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	versions := [][]byte{build(t, goodSpec(8), 1), build(t, goodSpec(1), 2), build(t, goodSpec(4), 3)}
	datas := map[string][]byte{}
	for _, v := range versions {
		datas[shaOf(v)] = v
	}
	put(t, h, "race", versions[0])
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 150 {
				if i%25 == 24 {
					do(h, req{method: "DELETE", target: "/api/adapters/race", header: authed(testToken)})
				}
				r := do(h, req{method: "PUT", target: "/api/adapters/race?overwrite=1", body: versions[(i+w)%3], header: authed(testToken)})
				if r.Code != http.StatusCreated {
					t.Errorf("PUT: %d %s", r.Code, r.Body)
				}
			}
		})
	}
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				rng := []string{"", "bytes=0-99", "bytes=-64", "bytes=600-", "bytes=5000-6000"}[(i+g)%5]
				r := do(h, req{method: "GET", target: "/api/adapters/race", header: map[string]string{"Range": rng}})
				checkVersion(t, r.Code, r.Header(), r.Body.Bytes(), datas)
			}
		})
	}
	wg.Wait()
}

// TestHeadersSplitAtCommas: on Workers, syumai/workers hands a header such
// as "Range: bytes=0-1,5-6" to Go as the values "bytes=0-1" and "5-6"; the
// handler must read the whole field (the Worker answered 206 for the first
// range where the memory store answered 200: issue 16 item 8).
func TestHeadersSplitAtCommas(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	data := build(t, goodSpec(4), 3)
	put(t, h, "r", data)
	tag := `"` + shaOf(data) + `"`
	for _, tc := range []struct {
		name   string
		values map[string][]string
		status int
	}{
		{"multi-range split", map[string][]string{"Range": {"bytes=0-1", "5-6"}}, 200},
		{"If-None-Match list split", map[string][]string{"If-None-Match": {`"other"`, tag}}, 304},
		{"If-Range date split", map[string][]string{"Range": {"bytes=0-1"}, "If-Range": {"Sun", " 06 Dec 2026 01:32:31 GMT"}}, 200},
	} {
		r := httptest.NewRequest("GET", "/api/adapters/r", nil)
		for k, vs := range tc.values {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.status)
		}
	}
}
