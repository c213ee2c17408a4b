package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by Store implementations.
var (
	// ErrNotFound reports a key that is not in the store.
	ErrNotFound = errors.New("store: not found")
	// ErrExists reports a Put with IfAbsent of a key that is already stored.
	ErrExists = errors.New("store: already exists")
	// ErrRange reports a Get whose ByteRange the object cannot satisfy (it
	// starts at or past the object's end); the Object is returned with it.
	ErrRange = errors.New("store: range not satisfiable")
	// ErrMetaTooLarge reports a Put whose custom metadata exceeds
	// MaxMetaBytes (R2 refuses it; the memory store does the same).
	ErrMetaTooLarge = errors.New("store: metadata too large")
)

// MaxMetaBytes is the most custom metadata one object may carry: the sum of
// the lengths of its keys and values, as R2 counts them (Miniflare's R2
// simulation refuses more than 2048 bytes with error 10012, "Your metadata
// headers exceed the maximum allowed metadata size"; a string with a
// character above U+00FF counts two bytes per UTF-16 unit).
const MaxMetaBytes = 2048

// MetaSize returns the size of custom metadata as R2 counts it against
// MaxMetaBytes.
func MetaSize(meta map[string]string) int {
	n := 0
	for k, v := range meta {
		n += r2Len(k) + r2Len(v)
	}
	return n
}

// r2Len is the length R2 counts for a string: its UTF-16 length, doubled
// when it holds a character above U+00FF.
func r2Len(s string) int {
	units, wide := 0, false
	for _, r := range s {
		units++
		if r > 0xFFFF {
			units++
		}
		wide = wide || r > 0xFF
	}
	if wide {
		return 2 * units
	}
	return units
}

// MaxListLimit is the largest page a List call returns (R2's own maximum).
const MaxListLimit = 1000

// Object describes one stored object.
type Object struct {
	Key      string            // Key is the object's key.
	Size     int64             // Size is the object's length in bytes.
	Uploaded time.Time         // Uploaded is when the object was stored.
	Meta     map[string]string // Meta is the custom metadata stored with the object.
}

// Range is a byte range of an object: Length bytes from Offset.
type Range struct {
	Offset, Length int64
}

// ByteRange is one byte range as a Range header asks for it, before the
// object's size is known: bytes First..Last inclusive (Last < 0: to the
// end), or with Suffix > 0 the last Suffix bytes. A Store resolves it
// against the object it reads, so the range and the bytes are of one
// version.
type ByteRange struct {
	First, Last int64
	Suffix      int64
}

// Resolve returns the Range r selects in an object of size bytes (Last and
// Suffix clamped to the object), or false when r is not satisfiable: it
// starts at or past the end, or asks for an empty suffix.
func (r ByteRange) Resolve(size int64) (Range, bool) {
	if r.Suffix > 0 {
		if size == 0 {
			return Range{}, false
		}
		n := min(r.Suffix, size)
		return Range{Offset: size - n, Length: n}, true
	}
	if r.First < 0 || r.First >= size || r.Last >= 0 && r.Last < r.First {
		return Range{}, false
	}
	last := size - 1
	if r.Last >= 0 {
		last = min(r.Last, size-1)
	}
	return Range{Offset: r.First, Length: last - r.First + 1}, true
}

// PutOptions modify a Put.
type PutOptions struct {
	// IfAbsent makes the Put fail with ErrExists, atomically, when the key exists.
	IfAbsent bool
	// ContentType is stored as the object's HTTP content type where the store keeps one.
	ContentType string
}

// Store is a small object store: the part of R2's API the adapter store needs.
// Implementations are safe for concurrent use.
type Store interface {
	// Put stores data under key with metadata meta, replacing an existing object
	// unless opt.IfAbsent. It takes ownership of data. Metadata over
	// MaxMetaBytes gives ErrMetaTooLarge and stores nothing.
	Put(ctx context.Context, key string, data []byte, meta map[string]string, opt PutOptions) (Object, error)
	// Get returns the object and its bytes, read together so that both are of
	// the same version even while the key is being overwritten: all of them,
	// or with rng not nil those of rng resolved against that version's size
	// (the Range returned). An unsatisfiable rng gives the Object and an
	// error wrapping ErrRange. The caller closes the body.
	Get(ctx context.Context, key string, rng *ByteRange) (Object, *Range, io.ReadCloser, error)
	// Head returns the object without its bytes.
	Head(ctx context.Context, key string) (Object, error)
	// List returns up to limit objects whose keys start with prefix, in key order,
	// starting after cursor ("" for the first page), and the cursor of the next
	// page ("" when there is none). A page may hold fewer than limit objects even
	// when more follow.
	List(ctx context.Context, prefix, cursor string, limit int) ([]Object, string, error)
	// Delete removes the object; a missing key gives ErrNotFound.
	Delete(ctx context.Context, key string) error
}
