package store

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// contentTypes are the MIME types of the page's files; others fall back to
// mime.TypeByExtension, then application/octet-stream.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".txt":         "text/plain; charset=utf-8",
	".jsonl":       "text/plain; charset=utf-8",
	".ts":          "text/plain; charset=utf-8",
	".gguf":        "application/octet-stream",
	".woff2":       "font/woff2",
}

// hashedRE matches file names that carry a content hash (app.3f2a9c1d.js,
// chunk-3f2a9c1d4e.mjs): those are cached forever, everything else revalidates.
var hashedRE = regexp.MustCompile(`[.-][0-9a-f]{8,}\.[a-z0-9]+$`)

// minGzip is the smallest file worth compressing.
const minGzip = 1024

// Assets serves static files from an fs.FS with the page's MIME types, a
// strong ETag (SHA-256 prefix) on every file, Cache-Control "no-cache"
// (revalidate) or "public, max-age=31536000, immutable" for hashed names,
// gzip when the client accepts it and the type compresses, and ranges and
// conditional requests through http.ServeContent. Files are read once and
// kept with their digest and gzip form until their size or mtime changes.
type Assets struct {
	fsys  fs.FS
	mu    sync.Mutex
	cache map[string]*asset
}

type asset struct {
	size    int64
	modTime time.Time
	data    []byte
	etag    string
	gzOnce  sync.Once
	gz      []byte // nil when not worth it
}

// NewAssets returns an Assets serving fsys ("/" is index.html).
func NewAssets(fsys fs.FS) *Assets {
	return &Assets{fsys: fsys, cache: map[string]*asset{}}
}

// ServeHTTP implements http.Handler. Dot files, directories without
// index.html and paths outside fsys are 404.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if strings.HasSuffix(p, "/") {
		p += "index.html"
	}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if !fs.ValidPath(name) || strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
		http.NotFound(w, r)
		return
	}
	st, err := fs.Stat(a.fsys, name)
	if err == nil && st.IsDir() {
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
		return
	}
	if err != nil {
		http.NotFound(w, r)
		return
	}
	f, err := a.load(name, st)
	if err != nil {
		http.Error(w, "cannot read "+name, http.StatusInternalServerError)
		return
	}
	a.serve(w, r, name, f)
}

// load returns the cached asset, reading it again when it changed on disk.
func (a *Assets) load(name string, st fs.FileInfo) (*asset, error) {
	a.mu.Lock()
	f := a.cache[name]
	a.mu.Unlock()
	if f != nil && f.size == st.Size() && f.modTime.Equal(st.ModTime()) {
		return f, nil
	}
	data, err := fs.ReadFile(a.fsys, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	f = &asset{size: st.Size(), modTime: st.ModTime(), data: data, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	a.mu.Lock()
	a.cache[name] = f
	a.mu.Unlock()
	return f, nil
}

func (a *Assets) serve(w http.ResponseWriter, r *http.Request, name string, f *asset) {
	ctype := contentType(name)
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	// cross-origin isolation: SharedArrayBuffer for data-parallel training
	// across Web Workers
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Embedder-Policy", "require-corp")
	if hashedRE.MatchString(path.Base(name)) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	data, tag := f.data, f.etag
	if compressible(ctype) && len(f.data) >= minGzip {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			if gz := f.gzipped(); gz != nil {
				data, tag = gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
				hd.Set("Content-Encoding", "gzip")
			}
		}
	}
	hd.Set("ETag", tag)
	http.ServeContent(w, r, name, f.modTime, bytes.NewReader(data))
}

// gzipped returns the gzip form of the asset, computed once; nil if it does not shrink it.
func (f *asset) gzipped() []byte {
	f.gzOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(f.data)
		zw.Close()
		if b.Len() < len(f.data)*9/10 {
			f.gz = b.Bytes()
		}
	})
	return f.gz
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "json") ||
		ctype == "application/wasm" || ctype == "image/svg+xml" || ctype == "application/octet-stream"
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (q > 0).
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if enc = strings.TrimSpace(enc); enc != "gzip" && enc != "*" {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err != nil || v > 0
	}
	return false
}
