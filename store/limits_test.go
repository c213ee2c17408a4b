package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
)

// withNonFinite returns a good adapter whose last tensor holds v at one element.
func withNonFinite(t testing.TB, v float32) []byte {
	w := gguf.NewWriter()
	for _, kv := range adapterKVs(8) {
		w.Add(kv.Key, kv.Value)
	}
	for i, ts := range loraPairs(1, 64, 4) {
		data := make([]float32, 256)
		for j := range data {
			data[j] = 0.01 * float32(j%7)
		}
		if i == 3 {
			data[100] = v
		}
		if err := w.AddTensorF32(ts.name, ts.dims, data, ts.typ); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestUploadRefusesWhatWebtuneRefuses is the regression test of issue 16
// item 6: NaN/Inf weights and tensor names no llama-family base has were
// stored (201), though webtune itself refuses to load them.
func TestUploadRefusesWhatWebtuneRefuses(t *testing.T) {
	kvs := adapterKVs(8)
	pair := func(base string) []tspec {
		return []tspec{{base + ".lora_a", gguf.TypeF32, []uint64{64, 4}}, {base + ".lora_b", gguf.TypeF32, []uint64{4, 64}}}
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"NaN weight", withNonFinite(t, float32(math.NaN()))},
		{"+Inf weight", withNonFinite(t, float32(math.Inf(1)))},
		{"-Inf weight", withNonFinite(t, float32(math.Inf(-1)))},
		{"path-like name", build(t, fileSpec{kvs: kvs, tensors: pair("../../etc")}, 1)},
		{"unknown target", build(t, fileSpec{kvs: kvs, tensors: pair("blk.0.attn_zz.weight")}, 1)},
		{"not a block", build(t, fileSpec{kvs: kvs, tensors: pair("blk.x.attn_q.weight")}, 1)},
	} {
		h, m := newTestHandler(t, 0)
		w := do(h, req{method: "PUT", target: "/api/adapters/bad", body: tc.data, header: authed(testToken)})
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tc.name, w.Code, w.Body)
		}
		if len(snapshot(t, m)) != 0 {
			t.Errorf("%s: stored", tc.name)
		}
		_, err := ValidateAdapter(tc.data)
		if !errors.Is(err, ErrMalformed) || !errors.Is(err, lora.ErrFormat) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestUploadMetadataFitsR2 is the regression test of issue 16 item 4: an
// upload that validation accepted but whose metadata R2 refuses (a 1 MiB
// architecture, 3,000 targets, 20 k pairs) was a 500 on the Worker and a
// 201 on the memory store. Now it is a 4xx before anything is written, on
// both, and what is accepted stays within MaxMetaBytes.
func TestUploadMetadataFitsR2(t *testing.T) {
	kvs := adapterKVs(8)
	var targets []tspec
	for i := range 3000 {
		base := fmt.Sprintf("blk.0.t%04d.weight", i)
		targets = append(targets, tspec{base + ".lora_a", gguf.TypeF32, []uint64{32, 1}}, tspec{base + ".lora_b", gguf.TypeF32, []uint64{1, 32}})
	}
	var pairs []tspec
	for i := range 20_000 {
		base := fmt.Sprintf("blk.%d.%s.weight", i/7, lora.BlockTargets()[i%7])
		pairs = append(pairs, tspec{base + ".lora_a", gguf.TypeF32, []uint64{32, 1}}, tspec{base + ".lora_b", gguf.TypeF32, []uint64{1, 32}})
	}
	var ranks []tspec
	for r := range MaxDistinctRanks + 1 {
		base := fmt.Sprintf("blk.%d.attn_q.weight", r)
		ranks = append(ranks, tspec{base + ".lora_a", gguf.TypeF32, []uint64{32, uint64(r + 1)}}, tspec{base + ".lora_b", gguf.TypeF32, []uint64{uint64(r + 1), 32}})
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"1 MiB architecture", build(t, fileSpec{kvs: with(kvs, "general.architecture", gguf.String(strings.Repeat("a", 1<<20))), tensors: loraPairs(1, 64, 4)}, 1)},
		{"2 KiB architecture", build(t, fileSpec{kvs: with(kvs, "general.architecture", gguf.String(strings.Repeat("a", 2048))), tensors: loraPairs(1, 64, 4)}, 1)},
		{"3,000 targets", build(t, fileSpec{kvs: kvs, tensors: targets}, 1)},
		{"20 k pairs", build(t, fileSpec{kvs: kvs, tensors: pairs}, 1)},
		{"65 distinct ranks", build(t, fileSpec{kvs: kvs, tensors: ranks}, 1)},
	} {
		h, m := newTestHandler(t, 0)
		w := do(h, req{method: "PUT", target: "/api/adapters/big", body: tc.data, header: authed(testToken)})
		if w.Code < 400 || w.Code >= 500 {
			t.Errorf("%s: %d %.300s, want 4xx", tc.name, w.Code, w.Body)
		}
		if len(snapshot(t, m)) != 0 {
			t.Errorf("%s: stored", tc.name)
		}
	}
	// The memory store refuses what R2 refuses.
	m := NewMemory()
	if _, err := m.Put(context.Background(), "k", []byte("x"), map[string]string{"a": strings.Repeat("b", MaxMetaBytes)}, PutOptions{}); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("Put with %d bytes of metadata: %v", MaxMetaBytes+1, err)
	}
	if _, err := m.Put(context.Background(), "k", []byte("x"), map[string]string{"a": strings.Repeat("é", MaxMetaBytes/2)}, PutOptions{}); err != nil {
		t.Errorf("Put with %d bytes of Latin-1 metadata: %v", MaxMetaBytes, err)
	}
	if _, err := m.Put(context.Background(), "k", []byte("x"), map[string]string{"a": strings.Repeat("ā", MaxMetaBytes/2)}, PutOptions{}); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("wide characters count twice: %v", err)
	}
}

// TestMetaSizeBound: the largest metadata an accepted upload can have (a
// longest architecture name, MaxDistinctRanks six-digit ranks, every
// target, the largest counts) fits MaxMetaBytes, so the handler never
// reaches a store refusal.
func TestMetaSizeBound(t *testing.T) {
	worst := Metadata{Name: "x", Size: DefaultMaxBytes, SHA256: strings.Repeat("f", 64), Architecture: strings.Repeat("a", lora.MaxArchitectureLength),
		Rank: lora.MaxRank, Alpha: -1.2345678e-30, Pairs: lora.MaxAdapterTensors / 2, Created: "2026-12-31T23:59:59Z",
		Targets: append(lora.BlockTargets(), "output", "token_embd")}
	for i := range MaxDistinctRanks {
		worst.Ranks = append(worst.Ranks, lora.MaxRank-i)
	}
	if n := MetaSize(worst.toMeta()); n > MaxMetaBytes {
		t.Fatalf("worst-case metadata takes %d bytes, more than %d", n, MaxMetaBytes)
	} else {
		t.Logf("worst-case metadata: %d of %d bytes", n, MaxMetaBytes)
	}
}

// TestValidateBoundsMemory is the store side of issue 16 item 3: crafted
// uploads that passed validation cost far more memory than their size
// (1 M junk keys: 148 MB; 3.9 M empty strings: 194 MB; 220 k pairs: 141
// MB). Scaled down tenfold (the cost grew linearly), each is refused
// while parsing with little allocated (runtime.MemStats: a bound, not a
// timing).
func TestValidateBoundsMemory(t *testing.T) {
	junk := adapterKVs(8)
	for i := range 100_000 {
		junk = append(junk, gguf.KV{Key: "junk." + strconv.Itoa(i), Value: gguf.Uint8(0)})
	}
	var pairs []tspec
	for i := range 22_000 {
		base := fmt.Sprintf("blk.%d.%s.weight", i/7, lora.BlockTargets()[i%7])
		pairs = append(pairs, tspec{base + ".lora_a", gguf.TypeF32, []uint64{32, 1}}, tspec{base + ".lora_b", gguf.TypeF32, []uint64{1, 32}})
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"100 k junk keys", build(t, fileSpec{kvs: junk, tensors: loraPairs(1, 64, 4)}, 1)},
		{"390 k empty strings", build(t, fileSpec{kvs: with(adapterKVs(8), "junk", gguf.Strings(make([]string, 390_000))), tensors: loraPairs(1, 64, 4)}, 1)},
		{"22 k pairs", build(t, fileSpec{kvs: adapterKVs(8), tensors: pairs}, 1)},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ValidateAdapter(tc.data)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) || !errors.Is(err, gguf.ErrTooLarge) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s (%d-byte file): validation allocated %d bytes", tc.name, len(tc.data), n)
		}
	}
}

// TestErrorsEchoShortNames is the regression test of issue 16 item 8's
// messages: a 10 kB name was echoed in full, and store errors read
// "store: store: ...".
func TestErrorsEchoShortNames(t *testing.T) {
	h, _ := newTestHandler(t, 0)
	long := strings.Repeat("n", 10<<10)
	for _, target := range []string{"/api/adapters/" + long, "/api/adapters?limit=" + long, "/api/adapters/x?overwrite=" + long} {
		method := "GET"
		if strings.Contains(target, "overwrite") {
			method = "PUT"
		}
		w := do(h, req{method: method, target: target, body: []byte("GGUF"), header: authed(testToken)})
		if w.Code != 400 || w.Body.Len() > 400 || !strings.Contains(w.Body.String(), "…") {
			t.Errorf("%s %.40s…: %d, %d-byte body %.120s", method, target, w.Code, w.Body.Len(), w.Body)
		}
	}
	// A store failure is reported with the store's own prefix, once.
	rec := httptest.NewRecorder()
	writeStoreError(rec, fmt.Errorf("%w: disk on fire", errors.New("store: backend")), "x")
	if body := rec.Body.String(); rec.Code != 500 || strings.Contains(body, "store: store:") {
		t.Errorf("%d %s", rec.Code, body)
	}
}
