package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webtune/webtune/gguf"
)

const testToken = "s3cret-test-token"

// tspec is one tensor of a test file.
type tspec struct {
	name string
	typ  gguf.TensorType
	dims []uint64
}

// fileSpec describes a test GGUF file.
type fileSpec struct {
	kvs     []gguf.KV
	tensors []tspec
}

// adapterKVs are the keys llama.cpp's converter writes (docs/llamacpp-lora.md).
func adapterKVs(alpha float32) []gguf.KV {
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.type", Value: gguf.String("adapter")},
		{Key: "adapter.type", Value: gguf.String("lora")},
		{Key: "adapter.lora.alpha", Value: gguf.Float32(alpha)},
	}
}

// loraPairs returns lora_a/lora_b tensors of rank r for attn_q and attn_v of
// nLayers layers of a model with n_embd = dim (docs/llamacpp-lora.md).
func loraPairs(nLayers, dim, r int) []tspec {
	var ts []tspec
	for l := range nLayers {
		for _, m := range []string{"attn_q", "attn_v"} {
			base := "blk." + strconv.Itoa(l) + "." + m + ".weight"
			ts = append(ts,
				tspec{base + ".lora_a", gguf.TypeF32, []uint64{uint64(dim), uint64(r)}},
				tspec{base + ".lora_b", gguf.TypeF32, []uint64{uint64(r), uint64(dim)}})
		}
	}
	return ts
}

// goodSpec is a valid rank-r adapter with 2 layers × (attn_q, attn_v).
func goodSpec(r int) fileSpec {
	return fileSpec{kvs: adapterKVs(float32(2 * r)), tensors: loraPairs(2, 64, r)}
}

// build writes spec with seeded random tensor data.
func build(t testing.TB, spec fileSpec, seed int64) []byte {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range spec.kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	for _, ts := range spec.tensors {
		n := uint64(1)
		for _, d := range ts.dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.02)
		}
		if err := w.AddTensorF32(ts.name, ts.dims, data, ts.typ); err != nil {
			t.Fatalf("tensor %s: %v", ts.name, err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// newTestHandler returns a handler on a fresh Memory store with testToken and a cap of maxBytes (0: default).
func newTestHandler(t testing.TB, maxBytes int64) (*Handler, *Memory) {
	t.Helper()
	m := NewMemory()
	h, err := NewHandler(Config{Store: m, Token: testToken, MaxBytes: maxBytes,
		Now: func() time.Time { return time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

// req is one test request.
type req struct {
	method, target string
	body           []byte
	chunked        bool // send without Content-Length
	header         map[string]string
}

// authed returns the Authorization header with token.
func authed(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// do runs rq against h and returns the recorded response.
func do(h http.Handler, rq req) *httptest.ResponseRecorder {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, rq.target, body)
	if rq.chunked {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(rq.body)))
		r.ContentLength = -1
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// put uploads data as name with the test token.
func put(t testing.TB, h http.Handler, name string, data []byte) {
	t.Helper()
	w := do(h, req{method: "PUT", target: "/api/adapters/" + name, body: data, header: authed(testToken)})
	if w.Code != http.StatusCreated {
		t.Fatalf("PUT %s: %d %s", name, w.Code, w.Body)
	}
}

// snapshot lists everything in m: key, size, sha256 and upload time.
func snapshot(t testing.TB, m *Memory) []string {
	t.Helper()
	var out []string
	cursor := ""
	for {
		objs, next, err := m.List(context.Background(), "", cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out = append(out, strings.Join([]string{o.Key, strconv.FormatInt(o.Size, 10), o.Meta[metaSHA256], o.Uploaded.String()}, "|"))
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// sameSnapshot fails when the store changed.
func sameSnapshot(t testing.TB, before, after []string) {
	t.Helper()
	if !slices.Equal(before, after) {
		t.Errorf("store changed:\nbefore %q\nafter  %q", before, after)
	}
}

// patchU32 returns a copy of data with the little-endian uint32 at off set to v.
func patchU32(data []byte, off int, v uint32) []byte {
	out := bytes.Clone(data)
	binary.LittleEndian.PutUint32(out[off:], v)
	return out
}
