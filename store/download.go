package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveDownload writes an adapter's bytes: ETag (the quoted SHA-256),
// If-None-Match → 304, one byte range → 206 (If-Range honoured), an
// unsatisfiable range → 416; several ranges or a malformed header (anything
// but RFC 9110's digits, such as bytes=+1-+2) → the whole file, as RFC 9110
// allows ignoring Range. The headers and the bytes come from one Store.Get
// (one Head for HEAD), so a download racing an overwrite serves exactly one
// version, never the headers of one and the bytes of another.
func (h *Handler) serveDownload(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	want, hasRange := parseRange(fieldValue(r.Header, "Range"))
	ifRange := fieldValue(r.Header, "If-Range")
	if r.Method == http.MethodHead {
		obj, err := h.cfg.Store.Head(ctx, name)
		if err != nil {
			writeStoreError(w, err, name)
			return
		}
		var rng *Range
		if hasRange && ifRangeOK(ifRange, etag(obj.Meta[metaSHA256])) {
			res, ok := want.Resolve(obj.Size)
			if !ok {
				writeUnsatisfiable(w, obj, name)
				return
			}
			rng = &res
		}
		if h.downloadHeaders(w, r, name, obj, rng) {
			w.WriteHeader(statusOf(rng))
		}
		return
	}
	var ask *ByteRange
	if hasRange {
		ask = &want
	}
	obj, rng, body, err := h.cfg.Store.Get(ctx, name, ask)
	if ask != nil && (err == nil || errors.Is(err, ErrRange)) && !ifRangeOK(ifRange, etag(obj.Meta[metaSHA256])) {
		// If-Range names another version: the whole of the current one.
		if body != nil {
			body.Close()
		}
		obj, rng, body, err = h.cfg.Store.Get(ctx, name, nil)
	}
	switch {
	case errors.Is(err, ErrRange):
		writeUnsatisfiable(w, obj, name)
		return
	case err != nil:
		writeStoreError(w, err, name)
		return
	}
	defer body.Close()
	if !h.downloadHeaders(w, r, name, obj, rng) {
		return
	}
	w.WriteHeader(statusOf(rng))
	io.Copy(w, body) // the body may implement io.WriterTo (R2 streams straight into the response)
}

// downloadHeaders sets the headers of a download of obj (rng: the part
// served, nil for all of it) and answers 304 itself when If-None-Match
// holds the object's ETag (returning false: nothing more to write).
func (h *Handler) downloadHeaders(w http.ResponseWriter, r *http.Request, name string, obj Object, rng *Range) bool {
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
	if inm := fieldValue(r.Header, "If-None-Match"); inm != "" && etagListMatches(inm, tag) {
		w.WriteHeader(http.StatusNotModified)
		return false
	}
	length := obj.Size
	if rng != nil {
		length = rng.Length
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.Offset, rng.Offset+rng.Length-1, obj.Size))
	}
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	return true
}

// statusOf is 206 for a range, 200 for the whole object.
func statusOf(rng *Range) int {
	if rng != nil {
		return http.StatusPartialContent
	}
	return http.StatusOK
}

// writeUnsatisfiable answers 416 with the object's size.
func writeUnsatisfiable(w http.ResponseWriter, obj Object, name string) {
	w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", obj.Size))
	writeError(w, http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("range outside adapter %s's %d bytes", quoteName(name), obj.Size))
}

// fieldValue returns a request header's whole value: its lines joined with
// commas. On Workers, syumai/workers splits every header at its commas into
// several values, so Header.Get would see only "bytes=0-1" of
// "bytes=0-1,5-6" (and only the first ETag of an If-None-Match list).
func fieldValue(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
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

// parseRange parses a Range header into the one byte range it asks for.
// It returns false for a header to ignore (RFC 9110 lets a server ignore
// Range; the whole file is served): none, not "bytes=", several ranges, or
// a position that is not a plain decimal (Go's strconv would take "+1").
// An unsatisfiable range parses; the Store tells it apart by the size.
func parseRange(h string) (ByteRange, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return ByteRange{}, false
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return ByteRange{}, false
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix: the last n bytes
		n, ok := digits(last)
		if !ok {
			return ByteRange{}, false
		}
		if n == 0 { // satisfiable by no object: a range starting past any end
			return ByteRange{First: math.MaxInt64, Last: -1}, true
		}
		return ByteRange{Suffix: n, Last: -1}, true
	}
	start, ok := digits(first)
	if !ok {
		return ByteRange{}, false
	}
	end := int64(-1)
	if last != "" {
		if end, ok = digits(last); !ok || end < start {
			return ByteRange{}, false
		}
	}
	return ByteRange{First: start, Last: end}, true
}

// digits parses a non-empty run of ASCII digits (RFC 9110's 1*DIGIT) that
// fits an int64.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
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
