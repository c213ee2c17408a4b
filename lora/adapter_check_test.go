package lora

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/webtune/webtune/gguf"
)

// checkBytes runs CheckAdapter on data.
func checkBytes(data []byte) (*AdapterFile, error) {
	_, af, err := CheckAdapter(bytes.NewReader(data), int64(len(data)))
	return af, err
}

// allocDuring returns the bytes allocated while fn runs (runtime.MemStats
// TotalAlloc: a count, independent of when the GC runs).
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCheckAdapterRefusesNonFinite is the regression test of issue 16 item
// 6: the store accepted an adapter holding NaN or Inf, which webtune refuses
// to load. Every adapter type is scanned.
func TestCheckAdapterRefusesNonFinite(t *testing.T) {
	q := "blk.0.attn_q.weight"
	for _, typ := range adapterTypes {
		for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			s := converterSpec().withPair(q, typ, []uint64{32, 32}, []uint64{32, 32})
			if _, err := checkBytes(s.bytes(t)); err != nil {
				t.Fatalf("%v finite: %v", typ, err)
			}
			s.tensors[1].data[700] = float32(bad)
			_, err := checkBytes(s.bytes(t))
			wantErr(t, err, ErrFormat)
			if err != nil && !strings.Contains(err.Error(), "NaN or Inf") {
				t.Errorf("%v %v: %v", typ, bad, err)
			}
		}
	}
}

// TestInspectAdapterRefusesForeignNames is the regression test of issue 16
// item 6: tensor names no llama-family model has (../../etc.lora_a) passed.
func TestInspectAdapterRefusesForeignNames(t *testing.T) {
	a, b := []uint64{32, 4}, []uint64{4, 32}
	for _, base := range []string{
		"../../etc", "../../etc.weight", "blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.-1.attn_q.weight",
		"blk.10000.attn_q.weight", "blk.0.attn_q.bias", "blk.0.attn_qq.weight", "blk.0.0.attn_q.weight",
		"attn_q.weight", "rope_freqs.weight", "blk..attn_q.weight", "output", "token_embd",
	} {
		_, err := inspectBytes(t, converterSpec().withPair(base, gguf.TypeF32, a, b).bytes(t))
		wantErr(t, err, ErrFormat)
	}
	for _, norm := range []string{"../x_norm.weight", "blk.0.a.b_norm.weight", "_norm.weight", "blk.0._norm.weight"} {
		s := converterSpec()
		s.tensors = append(s.tensors, zt(norm, gguf.TypeF32, 32))
		_, err := inspectBytes(t, s.bytes(t))
		wantErr(t, err, ErrFormat)
	}
	s := converterSpec()
	s.tensors = append(s.tensors, zt("blk.12.ffn_down.weight.lora_a", gguf.TypeF32, 32, 4), zt("blk.12.ffn_down.weight.lora_b", gguf.TypeF32, 4, 32),
		zt("output.weight.lora_a", gguf.TypeF32, 32, 4), zt("output.weight.lora_b", gguf.TypeF32, 4, 32),
		zt("blk.9999.attn_output.weight.lora_a", gguf.TypeF32, 32, 4), zt("blk.9999.attn_output.weight.lora_b", gguf.TypeF32, 4, 32),
		zt("blk.3.attn_norm.weight", gguf.TypeF32, 32), zt("output_norm.weight", gguf.TypeF32, 32))
	af, err := inspectBytes(t, s.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(af.Pairs) != 5 || len(af.Skipped) != 2 {
		t.Errorf("pairs %d, skipped %v", len(af.Pairs), af.Skipped)
	}
}

// TestInspectAdapterRefusesOddArchitecture: general.architecture must look
// like an architecture name (a 1 MiB one could not even be stored), and the
// error echoes at most about 200 bytes of it.
func TestInspectAdapterRefusesOddArchitecture(t *testing.T) {
	for _, arch := range []string{strings.Repeat("l", MaxArchitectureLength+1), "../llama", "Llama", "lla ma", "-llama"} {
		_, err := inspectBytes(t, converterSpec().setKV("general.architecture", gguf.String(arch)).bytes(t))
		wantErr(t, err, ErrFormat)
	}
	long := strings.Repeat("x", 10<<10) + "!"
	_, err := inspectBytes(t, converterSpec().setKV("general.architecture", gguf.String(long)).bytes(t))
	if err == nil || len(err.Error()) > 600 || !strings.Contains(err.Error(), "…") {
		t.Errorf("error of %d bytes: %.300v", len(fmt.Sprint(err)), err)
	}
	for _, arch := range []string{"llama", "qwen2", "gemma3", "command-r", "webtune"} {
		if _, err := inspectBytes(t, converterSpec().setKV("general.architecture", gguf.String(arch)).bytes(t)); err != nil {
			t.Errorf("%s: %v", arch, err)
		}
	}
}

// bigKVs returns the converter adapter's bytes with extra metadata added.
func withKVs(t testing.TB, extra ...gguf.KV) []byte {
	s := converterSpec()
	s.kvs = append(s.kvs, extra...)
	return s.bytes(t)
}

// TestCheckAdapterBoundsMemory is the regression test of issue 16 item 3:
// crafted uploads that passed validation made it allocate far more than
// the file (1 M junk keys: 148 MB of heap for an 18 MB file; 3.9 M empty
// strings: 194 MB; 220 k pairs: 141 MB). Scaled down tenfold here (what
// was allocated grew linearly), each is now refused while parsing, with a
// few hundred kilobytes allocated.
func TestCheckAdapterBoundsMemory(t *testing.T) {
	junk := make([]gguf.KV, 100_000)
	for i := range junk {
		junk[i] = gguf.KV{Key: fmt.Sprintf("junk.%06d", i), Value: gguf.Uint8(0)}
	}
	var pairs []tensorSpec
	for i := range 22_000 {
		base := fmt.Sprintf("blk.%d.%s.weight", i/7, blockTargets[i%7])
		pairs = append(pairs, zt(base+".lora_a", gguf.TypeF32, 32, 1), zt(base+".lora_b", gguf.TypeF32, 1, 32))
	}
	longs := make([]gguf.KV, 20)
	for i := range longs {
		longs[i] = gguf.KV{Key: fmt.Sprintf("long.%d", i), Value: gguf.String(strings.Repeat("z", MaxAdapterStringLength))}
	}
	const small = 512 << 10
	for _, tc := range []struct {
		name  string
		data  []byte
		bound uint64 // bytes that refusing it may allocate
	}{
		{"100k junk keys", withKVs(t, junk...), small},
		{"390k empty strings", withKVs(t, gguf.KV{Key: "junk", Value: gguf.Strings(make([]string, 390_000))}), small},
		{"22k pairs", (&fileSpec{kvs: converterSpec().kvs, tensors: pairs}).bytes(t), small},
		{"a string over the limit", withKVs(t, gguf.KV{Key: "junk", Value: gguf.String(strings.Repeat("z", MaxAdapterStringLength+1))}), small},
		// The strings inside the budget are read (bytes, then a string: twice the budget at most).
		{"metadata over the limit", withKVs(t, longs...), 2*MaxAdapterMetadataBytes + small},
	} {
		var err error
		n := allocDuring(func() { _, err = checkBytes(tc.data) })
		if !errors.Is(err, gguf.ErrTooLarge) || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat and gguf.ErrTooLarge", tc.name, err)
		}
		if n > tc.bound {
			t.Errorf("%s (%d-byte file): refusing it allocated %d bytes", tc.name, len(tc.data), n)
		}
	}
}

// TestCheckAdapterAtTheLimits: an adapter with as many tensors as
// MaxAdapterTensors allows and a full metadata budget is accepted, and
// checking it allocates a small constant plus about a kilobyte per tensor
// (the tensor table), not anything proportional to its data or metadata.
func TestCheckAdapterAtTheLimits(t *testing.T) {
	s := converterSpec()
	s.tensors = nil
	for i := range MaxAdapterTensors / 2 {
		base := fmt.Sprintf("blk.%d.%s.weight", i/7, blockTargets[i%7])
		s.tensors = append(s.tensors, zt(base+".lora_a", gguf.TypeF16, 64, 2), zt(base+".lora_b", gguf.TypeF16, 2, 64))
	}
	// Metadata just under the budget: 15 strings of 64 KiB (983 KiB).
	for i := range 15 {
		s.kvs = append(s.kvs, gguf.KV{Key: fmt.Sprintf("card.%d", i), Value: gguf.String(strings.Repeat("c", MaxAdapterStringLength))})
	}
	data := s.bytes(t)
	var af *AdapterFile
	var err error
	n := allocDuring(func() { af, err = checkBytes(data) })
	if err != nil {
		t.Fatal(err)
	}
	if len(af.Pairs) != MaxAdapterTensors/2 {
		t.Fatalf("%d pairs", len(af.Pairs))
	}
	// The metadata (983 KiB of strings) is held once; the tensor table costs
	// well under 1 KiB per tensor.
	if bound := uint64(2<<20 + MaxAdapterTensors*1024); n > bound {
		t.Errorf("checking a %d-byte adapter allocated %d bytes (bound %d)", len(data), n, bound)
	}
	t.Logf("%d-byte adapter, %d tensors: %d bytes allocated", len(data), MaxAdapterTensors, n)
}
