package store

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestMemory(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	meta := map[string]string{"k": "v"}
	if _, err := m.Put(ctx, "a", []byte("hello world"), meta, PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	meta["k"] = "changed"
	if _, err := m.Put(ctx, "a", []byte("x"), nil, PutOptions{IfAbsent: true}); !errors.Is(err, ErrExists) {
		t.Errorf("IfAbsent on existing key: %v", err)
	}
	o, rng, body, err := m.Get(ctx, "a", &ByteRange{First: 6, Last: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	if string(b) != "world" || o.Size != 11 || o.Meta["k"] != "v" || *rng != (Range{Offset: 6, Length: 5}) {
		t.Errorf("Get = %q, %+v, %+v", b, o, rng)
	}
	o.Meta["k"] = "mutated"
	if h, _ := m.Head(ctx, "a"); h.Meta["k"] != "v" {
		t.Error("caller changed the store's metadata")
	}
	if o, _, _, err := m.Get(ctx, "a", &ByteRange{First: 11, Last: -1}); !errors.Is(err, ErrRange) || o.Size != 11 {
		t.Errorf("range past the end: %v, %+v", err, o)
	}
	if _, err := m.Head(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head missing: %v", err)
	}
	if err := m.Delete(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete missing: %v", err)
	}
	if err := m.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if objs, next, err := m.List(ctx, "", "", 10); err != nil || len(objs) != 0 || next != "" {
		t.Errorf("List after delete: %v %q %v", objs, next, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Put(cctx, "c", nil, nil, PutOptions{}); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
}
