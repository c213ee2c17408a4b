package store

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metadata is what the store keeps with every adapter and returns in lists and
// PUT responses.
type Metadata struct {
	Name         string   `json:"name"`
	Size         int64    `json:"size"`
	SHA256       string   `json:"sha256"`
	Architecture string   `json:"architecture"`
	Rank         int      `json:"rank"`
	Ranks        []int    `json:"ranks,omitempty"`
	Alpha        float32  `json:"alpha"`
	Targets      []string `json:"targets"`
	Pairs        int      `json:"pairs"`
	Created      string   `json:"created"` // RFC 3339, UTC
}

// Metadata keys in Object.Meta (R2 custom metadata is string → string).
const (
	metaArch    = "architecture"
	metaRank    = "rank"
	metaRanks   = "ranks"
	metaAlpha   = "alpha"
	metaTargets = "targets"
	metaPairs   = "pairs"
	metaSHA256  = "sha256"
	metaSize    = "size"
	metaCreated = "created"
)

// toMeta flattens m into string metadata.
func (m Metadata) toMeta() map[string]string {
	ranks := make([]string, len(m.Ranks))
	for i, r := range m.Ranks {
		ranks[i] = strconv.Itoa(r)
	}
	return map[string]string{
		metaArch:    m.Architecture,
		metaRank:    strconv.Itoa(m.Rank),
		metaRanks:   strings.Join(ranks, ","),
		metaAlpha:   strconv.FormatFloat(float64(m.Alpha), 'g', -1, 32),
		metaTargets: strings.Join(m.Targets, ","),
		metaPairs:   strconv.Itoa(m.Pairs),
		metaSHA256:  m.SHA256,
		metaSize:    strconv.FormatInt(m.Size, 10),
		metaCreated: m.Created,
	}
}

// metadataOf reads an object's metadata back (missing fields stay zero).
func metadataOf(o Object) Metadata {
	m := Metadata{Name: o.Key, Size: o.Size, SHA256: o.Meta[metaSHA256], Architecture: o.Meta[metaArch],
		Created: o.Meta[metaCreated], Targets: splitList(o.Meta[metaTargets])}
	m.Rank, _ = strconv.Atoi(o.Meta[metaRank])
	m.Pairs, _ = strconv.Atoi(o.Meta[metaPairs])
	if a, err := strconv.ParseFloat(o.Meta[metaAlpha], 32); err == nil {
		m.Alpha = float32(a)
	}
	for _, s := range splitList(o.Meta[metaRanks]) {
		if r, err := strconv.Atoi(s); err == nil {
			m.Ranks = append(m.Ranks, r)
		}
	}
	if m.Created == "" && !o.Uploaded.IsZero() {
		m.Created = o.Uploaded.UTC().Format(time.RFC3339)
	}
	return m
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// servePut validates and stores an upload. Order: (token already checked),
// 413 by Content-Length, 409 if it exists without ?overwrite=1, read the body
// under the cap (413), validate (400/415), size the metadata (within
// MaxMetaBytes by construction: a short architecture name, at most
// MaxDistinctRanks ranks, a handful of targets), then an atomic put (409 if
// another upload of the name won the race).
func (h *Handler) servePut(w http.ResponseWriter, r *http.Request, name string) {
	overwrite, err := parseOverwrite(r.URL.Query()["overwrite"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.ContentLength > h.cfg.MaxBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("adapter of %d bytes exceeds the limit of %d", r.ContentLength, h.cfg.MaxBytes))
		return
	}
	if !overwrite {
		if _, err := h.cfg.Store.Head(r.Context(), name); err == nil {
			writeError(w, http.StatusConflict, fmt.Sprintf("adapter %q exists; add ?overwrite=1 to replace it", name))
			return
		} else if !errors.Is(err, ErrNotFound) {
			writeStoreError(w, err, name)
			return
		}
	}
	data, err := readBody(r, h.cfg.MaxBytes)
	switch {
	case errors.Is(err, errTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("adapter exceeds the limit of %d bytes", h.cfg.MaxBytes))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	case len(data) == 0:
		writeError(w, http.StatusBadRequest, "empty body: send the adapter's GGUF bytes")
		return
	}
	info, err := ValidateAdapter(data)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrNotGGUF) || errors.Is(err, ErrNotAdapter) {
			status = http.StatusUnsupportedMediaType
		}
		writeError(w, status, clipMessage(err.Error()))
		return
	}
	meta := Metadata{Name: name, Size: int64(len(data)), SHA256: sha256Hex(data), Architecture: info.Architecture,
		Rank: info.Rank, Ranks: info.Ranks, Alpha: info.Alpha, Targets: info.Targets, Pairs: info.Pairs,
		Created: h.cfg.Now().UTC().Format(time.RFC3339)}
	stored := meta.toMeta()
	if n := MetaSize(stored); n > MaxMetaBytes { // bounded by construction (see TestMetaSizeBound): never reached
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the adapter's metadata would take %d bytes; the store keeps at most %d", n, MaxMetaBytes))
		return
	}
	_, err = h.cfg.Store.Put(r.Context(), name, data, stored, PutOptions{IfAbsent: !overwrite, ContentType: "application/octet-stream"})
	if errors.Is(err, ErrExists) {
		writeError(w, http.StatusConflict, fmt.Sprintf("adapter %q exists; add ?overwrite=1 to replace it", name))
		return
	}
	if err != nil {
		writeStoreError(w, err, name)
		return
	}
	w.Header().Set("Location", adapterPath+name)
	w.Header().Set("ETag", etag(meta.SHA256))
	writeJSON(w, http.StatusCreated, meta)
}

// parseOverwrite reads ?overwrite: absent, "0" or "false" → false; "1" or "true" → true.
func parseOverwrite(vals []string) (bool, error) {
	if len(vals) == 0 {
		return false, nil
	}
	switch vals[len(vals)-1] {
	case "1", "true":
		return true, nil
	case "0", "false", "":
		return false, nil
	}
	return false, fmt.Errorf("bad overwrite=%s: want 1 or 0", quoteName(vals[len(vals)-1]))
}
