package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is an in-memory Store, safe for concurrent use. Stored bytes are
// never modified after a Put, so readers share them without copying.
type Memory struct {
	mu   sync.RWMutex
	objs map[string]memObject
	now  func() time.Time
}

type memObject struct {
	obj  Object
	data []byte
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{objs: map[string]memObject{}, now: time.Now}
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key string, data []byte, meta map[string]string, opt PutOptions) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	if n := MetaSize(meta); n > MaxMetaBytes {
		return Object{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrMetaTooLarge, n, MaxMetaBytes)
	}
	obj := Object{Key: key, Size: int64(len(data)), Uploaded: m.now().UTC(), Meta: maps.Clone(meta)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok && opt.IfAbsent {
		return Object{}, fmt.Errorf("%w: %q", ErrExists, key)
	}
	m.objs[key] = memObject{obj: obj, data: data}
	return copyObject(obj), nil
}

// Get implements Store. One lookup under the lock yields an object's
// metadata and bytes together, and stored bytes never change, so a
// concurrent overwrite cannot mix two versions.
func (m *Memory) Get(ctx context.Context, key string, rng *ByteRange) (Object, *Range, io.ReadCloser, error) {
	o, err := m.lookup(ctx, key)
	if err != nil {
		return Object{}, nil, nil, err
	}
	data := o.data
	if rng == nil {
		return copyObject(o.obj), nil, io.NopCloser(bytes.NewReader(data)), nil
	}
	r, ok := rng.Resolve(int64(len(data)))
	if !ok {
		return copyObject(o.obj), nil, nil, fmt.Errorf("%w: %d-byte object", ErrRange, len(data))
	}
	return copyObject(o.obj), &r, io.NopCloser(bytes.NewReader(data[r.Offset : r.Offset+r.Length])), nil
}

// Head implements Store.
func (m *Memory) Head(ctx context.Context, key string) (Object, error) {
	o, err := m.lookup(ctx, key)
	return copyObject(o.obj), err
}

func (m *Memory) lookup(ctx context.Context, key string) (memObject, error) {
	if err := ctx.Err(); err != nil {
		return memObject{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	o, ok := m.objs[key]
	if !ok {
		return memObject{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return o, nil
}

// List implements Store. Cursors are the base64url of the last key returned.
func (m *Memory) List(ctx context.Context, prefix, cursor string, limit int) ([]Object, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("store: bad cursor %s", quoteName(cursor))
		}
		after = string(b)
	}
	m.mu.RLock()
	keys := make([]string, 0, len(m.objs))
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	n := min(limit, len(keys))
	out := make([]Object, n)
	for i, k := range keys[:n] {
		out[i] = copyObject(m.objs[k].obj)
	}
	m.mu.RUnlock()
	next := ""
	if n < len(keys) {
		next = base64.RawURLEncoding.EncodeToString([]byte(keys[n-1]))
	}
	return out, next, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	delete(m.objs, key)
	return nil
}

// copyObject returns o with its own metadata map, so callers cannot change the store's.
func copyObject(o Object) Object {
	o.Meta = maps.Clone(o.Meta)
	return o
}
