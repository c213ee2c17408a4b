//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall/js"
	"time"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"

	"github.com/webtune/webtune/store"
)

// keyPrefix keeps the adapters under one folder of the bucket.
const keyPrefix = "adapters/"

// platformStore on Workers: the R2 bucket bound as ADAPTERS; the page comes from the assets binding.
func platformStore() (store.Store, http.Handler, error) {
	b := cloudflare.GetBinding(bucketBinding)
	if b.IsUndefined() || b.IsNull() {
		return nil, nil, fmt.Errorf("no R2 bucket bound as %s (wrangler.toml [[r2_buckets]])", bucketBinding)
	}
	return &r2Store{bucket: b}, nil, nil
}

func getenv(name string) string { return cloudflare.Getenv(name) }

// serve on Workers: syumai/workers hands each request to h.
func serve(h http.Handler) { workers.Serve(h) }

// r2Store implements store.Store on an R2 bucket binding, calling the
// Workers R2 API directly: syumai/workers' r2 package has no list options,
// ranged get or conditional put.
type r2Store struct {
	bucket js.Value
}

var (
	object     = js.Global().Get("Object")
	uint8Array = js.Global().Get("Uint8Array")
	array      = js.Global().Get("Array")
)

// Put implements store.Store: one put with the custom metadata, the SHA-256
// for R2 to verify when meta has one, and onlyIf etagDoesNotMatch "*" for
// IfAbsent (R2 then returns null instead of overwriting).
func (s *r2Store) Put(ctx context.Context, key string, data []byte, meta map[string]string, opt store.PutOptions) (store.Object, error) {
	if n := store.MetaSize(meta); n > store.MaxMetaBytes { // what R2 would refuse, refused as the memory store does
		return store.Object{}, fmt.Errorf("%w: %d bytes (limit %d)", store.ErrMetaTooLarge, n, store.MaxMetaBytes)
	}
	opts := object.New()
	md := object.New()
	for k, v := range meta {
		md.Set(k, v)
	}
	opts.Set("customMetadata", md)
	if sha := meta["sha256"]; len(sha) == 64 {
		opts.Set("sha256", sha)
	}
	if opt.ContentType != "" {
		hm := object.New()
		hm.Set("contentType", opt.ContentType)
		opts.Set("httpMetadata", hm)
	}
	if opt.IfAbsent {
		cond := object.New()
		cond.Set("etagDoesNotMatch", "*")
		opts.Set("onlyIf", cond)
	}
	u8 := uint8Array.New(len(data))
	js.CopyBytesToJS(u8, data)
	v, err := await(s.bucket, "put", keyPrefix+key, u8, opts)
	if err != nil {
		return store.Object{}, r2Error("put", key, err)
	}
	if v.IsNull() {
		return store.Object{}, fmt.Errorf("%w: %q", store.ErrExists, key)
	}
	return toObject(v), nil
}

// Get implements store.Store with one R2 get, which returns the object's
// metadata and body together (so they are of one version), asking R2 for
// the range itself and resolving it against the size R2 reports. R2 refuses
// a range that starts past the end: a head then tells ErrRange from
// another failure.
func (s *r2Store) Get(ctx context.Context, key string, rng *store.ByteRange) (store.Object, *store.Range, io.ReadCloser, error) {
	opts := object.New()
	if rng != nil {
		r := object.New()
		switch {
		case rng.Suffix > 0:
			r.Set("suffix", rng.Suffix)
		case rng.Last >= 0:
			r.Set("offset", rng.First)
			r.Set("length", rng.Last-rng.First+1)
		default:
			r.Set("offset", rng.First)
		}
		opts.Set("range", r)
	}
	v, err := await(s.bucket, "get", keyPrefix+key, opts)
	if err != nil {
		if rng != nil {
			o, herr := s.Head(ctx, key)
			// R2's own "range not satisfiable" (error 10039) was about the
			// version it read, which an overwrite may since have replaced
			// with one the range fits: the answer is still a 416, never a 500.
			if strings.Contains(err.Error(), "10039") {
				return o, nil, nil, fmt.Errorf("%w: %s", store.ErrRange, err)
			}
			if herr == nil {
				if _, ok := rng.Resolve(o.Size); !ok {
					return o, nil, nil, fmt.Errorf("%w: %d-byte object", store.ErrRange, o.Size)
				}
			}
		}
		return store.Object{}, nil, nil, fmt.Errorf("worker: r2 get %q: %w", key, err)
	}
	if v.IsNull() {
		return store.Object{}, nil, nil, fmt.Errorf("%w: %q", store.ErrNotFound, key)
	}
	o := toObject(v)
	body := &streamBody{stream: v.Get("body")}
	if rng == nil {
		return o, nil, body, nil
	}
	res, ok := rng.Resolve(o.Size)
	if !ok {
		body.Close()
		return o, nil, nil, fmt.Errorf("%w: %d-byte object", store.ErrRange, o.Size)
	}
	return o, &res, body, nil
}

// r2Error wraps an R2 put failure; R2's "metadata too large" (error 10012)
// becomes store.ErrMetaTooLarge, which the handler never provokes (it sizes
// the metadata first) but maps to a 4xx all the same.
func r2Error(op, key string, err error) error {
	if strings.Contains(err.Error(), "10012") {
		return fmt.Errorf("%w: r2 %s %q: %w", store.ErrMetaTooLarge, op, key, err)
	}
	return fmt.Errorf("worker: r2 %s %q: %w", op, key, err)
}

// Head implements store.Store.
func (s *r2Store) Head(ctx context.Context, key string) (store.Object, error) {
	v, err := await(s.bucket, "head", keyPrefix+key)
	if err != nil {
		return store.Object{}, fmt.Errorf("worker: r2 head %q: %w", key, err)
	}
	if v.IsNull() {
		return store.Object{}, fmt.Errorf("%w: %q", store.ErrNotFound, key)
	}
	return toObject(v), nil
}

// List implements store.Store with R2's own cursors.
func (s *r2Store) List(ctx context.Context, prefix, cursor string, limit int) ([]store.Object, string, error) {
	opts := object.New()
	opts.Set("prefix", keyPrefix+prefix)
	if cursor != "" {
		opts.Set("cursor", cursor)
	}
	if limit > 0 {
		opts.Set("limit", min(limit, store.MaxListLimit))
	}
	inc := array.New()
	inc.Call("push", "customMetadata")
	opts.Set("include", inc)
	v, err := await(s.bucket, "list", opts)
	if err != nil {
		return nil, "", fmt.Errorf("worker: r2 list: %w", err)
	}
	objs := v.Get("objects")
	out := make([]store.Object, objs.Length())
	for i := range out {
		out[i] = toObject(objs.Index(i))
	}
	next := ""
	if v.Get("truncated").Truthy() {
		next = v.Get("cursor").String()
	}
	return out, next, nil
}

// Delete implements store.Store (R2's delete is idempotent, so a head tells 404 apart).
func (s *r2Store) Delete(ctx context.Context, key string) error {
	if _, err := s.Head(ctx, key); err != nil {
		return err
	}
	if _, err := await(s.bucket, "delete", keyPrefix+key); err != nil {
		return fmt.Errorf("worker: r2 delete %q: %w", key, err)
	}
	return nil
}

// toObject converts an R2Object.
func toObject(v js.Value) store.Object {
	o := store.Object{Key: v.Get("key").String(), Size: int64(v.Get("size").Float()), Meta: map[string]string{}}
	if len(o.Key) >= len(keyPrefix) && o.Key[:len(keyPrefix)] == keyPrefix {
		o.Key = o.Key[len(keyPrefix):]
	}
	if u := v.Get("uploaded"); u.Truthy() {
		o.Uploaded = time.UnixMilli(int64(u.Call("getTime").Float())).UTC()
	}
	if md := v.Get("customMetadata"); md.Truthy() {
		entries := object.Call("entries", md)
		for i := range entries.Length() {
			e := entries.Index(i)
			o.Meta[e.Index(0).String()] = e.Index(1).String()
		}
	}
	return o
}

// await calls obj[method](args...) and waits for the promise it returns. A
// synchronous JS exception and a rejection both become errors.
func await(obj js.Value, method string, args ...any) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", method, r)
		}
	}()
	p := obj.Call(method, args...)
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, a []js.Value) any {
		r := js.Undefined()
		if len(a) > 0 {
			r = a[0]
		}
		ch <- result{v: r}
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, a []js.Value) any {
		msg := "rejected"
		if len(a) > 0 {
			msg = a[0].Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	defer onOK.Release()
	defer onErr.Release()
	p.Call("then", onOK, onErr)
	r := <-ch
	return r.v, r.err
}

// streamBody reads a JS ReadableStream. Written into syumai/workers'
// ResponseWriter it hands the stream over whole (WriteRawJSBody), so a
// download never passes through Go memory.
type streamBody struct {
	stream js.Value
	reader js.Value
	buf    []byte
	done   bool
}

// rawBodyWriter is syumai/workers' ResponseWriter's raw-body hook.
type rawBodyWriter interface{ WriteRawJSBody(body js.Value) }

// WriteTo implements io.WriterTo.
func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	if rw, ok := w.(rawBodyWriter); ok && b.reader.IsUndefined() {
		rw.WriteRawJSBody(b.stream)
		b.done = true
		return 0, nil
	}
	var n int64
	for {
		if len(b.buf) == 0 {
			if err := b.fill(); err == io.EOF {
				return n, nil
			} else if err != nil {
				return n, err
			}
		}
		m, err := w.Write(b.buf)
		n += int64(m)
		b.buf = b.buf[m:]
		if err != nil {
			return n, err
		}
	}
}

// Read implements io.Reader.
func (b *streamBody) Read(p []byte) (int, error) {
	if len(b.buf) == 0 {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// fill reads the next chunk of the stream into buf.
func (b *streamBody) fill() error {
	if b.done {
		return io.EOF
	}
	if b.reader.IsUndefined() {
		b.reader = b.stream.Call("getReader")
	}
	res, err := await(b.reader, "read")
	if err != nil {
		return err
	}
	if res.Get("done").Bool() {
		b.done = true
		return io.EOF
	}
	chunk := res.Get("value")
	b.buf = make([]byte, chunk.Get("byteLength").Int())
	js.CopyBytesToGo(b.buf, chunk)
	return nil
}

// Close implements io.Closer: an unread stream is cancelled.
func (b *streamBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if b.reader.IsUndefined() {
		_, err := await(b.stream, "cancel")
		return err
	}
	_, err := await(b.reader, "cancel")
	return err
}
