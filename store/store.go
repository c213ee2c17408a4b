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
)

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
	// unless opt.IfAbsent. It takes ownership of data.
	Put(ctx context.Context, key string, data []byte, meta map[string]string, opt PutOptions) (Object, error)
	// Get returns the object and its bytes, only those of rng when rng is not nil
	// (rng must lie inside the object). The caller closes the body.
	Get(ctx context.Context, key string, rng *Range) (Object, io.ReadCloser, error)
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
