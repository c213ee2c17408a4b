package store

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveDownload writes an adapter's bytes: ETag (the quoted SHA-256),
// If-None-Match → 304, one byte range → 206 (If-Range honoured),
// an unsatisfiable range → 416, several ranges or a malformed header → the
// whole file (RFC 9110 allows ignoring Range).
func (h *Handler) serveDownload(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	obj, err := h.cfg.Store.Head(ctx, name)
	if err != nil {
		writeStoreError(w, err, name)
		return
	}
	tag := etag(obj.Meta[metaSHA256])
	hd := w.Header()
	hd.Set("ETag", tag)
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, fileName(name)))
	hd.Set("X-Content-Type-Options", "nosniff")
	if !obj.Uploaded.IsZero() {
		hd.Set("Last-Modified", obj.Uploaded.UTC().Format(http.TimeFormat))
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var rng *Range
	if rh := r.Header.Get("Range"); rh != "" && ifRangeOK(r.Header.Get("If-Range"), tag) {
		var ok bool
		if rng, ok = parseRange(rh, obj.Size); !ok {
			hd.Set("Content-Range", fmt.Sprintf("bytes */%d", obj.Size))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("range %q outside the adapter's %d bytes", rh, obj.Size))
			return
		}
	}
	status, length := http.StatusOK, obj.Size
	if rng != nil {
		status, length = http.StatusPartialContent, rng.Length
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.Offset, rng.Offset+rng.Length-1, obj.Size))
	}
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return
	}
	_, body, err := h.cfg.Store.Get(ctx, name, rng)
	if err != nil {
		hd.Del("Content-Length")
		hd.Del("Content-Range")
		writeStoreError(w, err, name)
		return
	}
	defer body.Close()
	w.WriteHeader(status)
	io.Copy(w, body) // the body may implement io.WriterTo (R2 streams straight into the response)
}

// fileName is the download's file name: the adapter name, with .gguf added if missing.
func fileName(name string) string {
	if strings.HasSuffix(name, ".gguf") {
		return name
	}
	return name + ".gguf"
}

// etag quotes a hex digest as a strong ETag.
func etag(sha string) string { return `"` + sha + `"` }

// etagListMatches reports whether an If-None-Match list contains tag or * (weak comparison).
func etagListMatches(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// ifRangeOK reports whether a Range header applies under If-Range (absent, or the current strong ETag).
func ifRangeOK(ifRange, tag string) bool {
	return ifRange == "" || strings.TrimSpace(ifRange) == tag
}

// parseRange parses a Range header for an object of size bytes. It returns
// (nil, true) for a header to ignore (not bytes=, several ranges, bad
// syntax), (rng, true) for one satisfiable range and (nil, false) for an
// unsatisfiable one.
func parseRange(h string, size int64) (*Range, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, true
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil, true
	}
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return nil, true
		}
		if n == 0 || size == 0 {
			return nil, false
		}
		n = min(n, size)
		return &Range{Offset: size - n, Length: n}, true
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return nil, true
	}
	end := size - 1
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return nil, true
		}
	}
	if start >= size {
		return nil, false
	}
	end = min(end, size-1)
	return &Range{Offset: start, Length: end - start + 1}, true
}

// apiHeaders sets the headers every API response carries: CORS for public
// reads and token-bearing writes from other origins (the token is a header,
// not a cookie, so a wildcard origin exposes nothing).
func apiHeaders(hd http.Header) {
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "ETag, Content-Range, Content-Disposition, Content-Length, Location")
}

// preflight answers a CORS preflight.
func preflight(w http.ResponseWriter, methods string) {
	hd := w.Header()
	apiHeaders(hd)
	hd.Set("Access-Control-Allow-Methods", methods)
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range, If-None-Match, If-Range")
	hd.Set("Access-Control-Max-Age", strconv.Itoa(int((24 * time.Hour).Seconds())))
	w.WriteHeader(http.StatusNoContent)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode response"}`)
	}
	b = append(b, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// writeError writes {"error": msg} with status; errors are never cached.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
