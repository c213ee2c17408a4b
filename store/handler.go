package store

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxBytes is the default upload size cap (32 MiB: the upload, its
// validation and the Go runtime must fit the Workers 128 MB memory limit).
const DefaultMaxBytes = 32 << 20

// DefaultListLimit is the page size of a list without ?limit=.
const DefaultListLimit = 100

const (
	apiPrefix   = "/api/"
	listPath    = "/api/adapters"
	adapterPath = "/api/adapters/"
)

// nameRE is the syntax of adapter names; names also never contain "..".
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidName reports whether name is an acceptable adapter name.
func ValidName(name string) bool {
	return nameRE.MatchString(name) && !strings.Contains(name, "..")
}

// Config configures NewHandler.
type Config struct {
	// Store holds the adapters. Required.
	Store Store
	// Token is the bearer token PUT and DELETE must present. Empty refuses every write (403).
	Token string
	// MaxBytes caps an upload's size; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Assets, if not nil, serves every path outside /api/ (see NewAssets).
	Assets http.Handler
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Handler serves the adapter API and, through Config.Assets, the page.
type Handler struct {
	cfg       Config
	tokenHash [sha256.Size]byte
}

// NewHandler returns the http.Handler of the adapter store.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("store: nil Store")
	}
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("store: negative MaxBytes %d", cfg.MaxBytes)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token))}, nil
}

// ServeHTTP routes /api/adapters and /api/adapters/{name}; everything outside
// /api/ goes to Config.Assets (404 without it). The path is taken escaped, so
// "%2F", "%2e%2e" and the like stay inside one segment and are refused as names
// instead of being resolved.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if strings.HasPrefix(p+"/", apiPrefix) {
		apiHeaders(w.Header())
	}
	switch {
	case p == listPath || p == listPath+"/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		h.serveList(w, r)
	case strings.HasPrefix(p, adapterPath):
		h.serveAdapter(w, r, strings.TrimPrefix(p, adapterPath))
	case strings.HasPrefix(p, apiPrefix) || p+"/" == apiPrefix:
		writeError(w, http.StatusNotFound, "no such API endpoint")
	case h.cfg.Assets != nil:
		h.cfg.Assets.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// serveAdapter dispatches the methods of /api/adapters/{name}; raw is the escaped remainder of the path.
func (h *Handler) serveAdapter(w http.ResponseWriter, r *http.Request, raw string) {
	if r.Method == http.MethodOptions {
		preflight(w, "GET, HEAD, PUT, DELETE, OPTIONS")
		return
	}
	name, err := url.PathUnescape(raw)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut, http.MethodDelete:
		if !h.authorize(w, r) {
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	if err != nil || !ValidName(name) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad adapter name %s: want [a-z0-9][a-z0-9._-]{0,63} without \"..\"", quoteName(raw)))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.serveDownload(w, r, name)
	case http.MethodPut:
		h.servePut(w, r, name)
	case http.MethodDelete:
		h.serveDelete(w, r, name)
	}
}

// authorize checks the bearer token in constant time (comparing SHA-256 digests,
// so the length does not leak either) and writes 401/403 when it fails.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="webtune"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if h.cfg.Token == "" || subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) != 1 {
		writeError(w, http.StatusForbidden, "token refused")
		return false
	}
	return true
}

// serveDelete removes an adapter (204), or 404.
func (h *Handler) serveDelete(w http.ResponseWriter, r *http.Request, name string) {
	if _, err := h.cfg.Store.Head(r.Context(), name); err != nil {
		writeStoreError(w, err, name)
		return
	}
	if err := h.cfg.Store.Delete(r.Context(), name); err != nil {
		writeStoreError(w, err, name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveList writes one page of adapters as JSON.
func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		preflight(w, "GET, HEAD, OPTIONS")
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	q := r.URL.Query()
	limit := DefaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("bad limit %s: want 1..%d", quoteName(s), MaxListLimit))
			return
		}
		limit = n
	}
	prefix, cursor := q.Get("prefix"), q.Get("cursor")
	if prefix != "" && !ValidName(prefix) || len(cursor) > 1024 {
		writeError(w, http.StatusBadRequest, "bad prefix or cursor")
		return
	}
	objs, next, err := h.cfg.Store.List(r.Context(), prefix, cursor, limit)
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot list: "+err.Error())
		return
	}
	page := listPage{Adapters: make([]Metadata, 0, len(objs)), Cursor: next, Truncated: next != ""}
	for _, o := range objs {
		page.Adapters = append(page.Adapters, metadataOf(o))
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, page)
}

// listPage is the JSON of GET /api/adapters.
type listPage struct {
	Adapters  []Metadata `json:"adapters"`
	Cursor    string     `json:"cursor,omitempty"`
	Truncated bool       `json:"truncated"`
}

// writeStoreError maps a store error to 404, 413 (metadata the store
// refused: never reached, the handler sizes it first) or 500. Store errors
// carry their own prefix ("store: ..."), which is not added again.
func writeStoreError(w http.ResponseWriter, err error, name string) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("adapter %s not found", quoteName(name)))
	case errors.Is(err, ErrMetaTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, clipMessage(err.Error()))
	default:
		writeError(w, http.StatusInternalServerError, clipMessage(err.Error()))
	}
}

// maxEcho is the most bytes of a name from a request or a file that an
// error message repeats.
const maxEcho = 200

// quoteName quotes s for an error message, cut to maxEcho bytes (on a rune
// boundary) with "…" and its length when longer.
func quoteName(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(cutRunes(s, maxEcho)+"…") + " (" + strconv.Itoa(len(s)) + " bytes)"
}

// clipMessage cuts an error message to a few times maxEcho bytes.
func clipMessage(s string) string {
	if len(s) <= 4*maxEcho {
		return s
	}
	return cutRunes(s, 4*maxEcho) + "…"
}

// cutRunes returns the longest prefix of s of at most n bytes that ends on a rune boundary.
func cutRunes(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:min(n, len(s))]
}

// sha256Hex returns the hex SHA-256 of data.
func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// readBody reads at most limit bytes of r's body; more gives errTooLarge. A
// known Content-Length sizes the buffer once.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // ReadFrom wants MinRead free bytes at EOF
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

var errTooLarge = errors.New("store: body too large")
