package store

import (
	"errors"
	"testing"
)

// FuzzValidateAdapter: any bytes give either an AdapterInfo with a rank and a
// target, or an error wrapping exactly one of the three sentinels; never a panic.
func FuzzValidateAdapter(f *testing.F) {
	f.Add(build(f, goodSpec(4), 1))
	for _, r := range refusals(f) {
		f.Add(r.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ValidateAdapter(data)
		if err == nil {
			if info.Rank < 1 || len(info.Targets) == 0 || info.Pairs < 1 || info.Architecture == "" {
				t.Fatalf("accepted with info %+v", info)
			}
			meta := Metadata{SHA256: sha256Hex(data), Size: int64(len(data)), Architecture: info.Architecture, Rank: info.Rank,
				Ranks: info.Ranks, Alpha: info.Alpha, Targets: info.Targets, Pairs: info.Pairs, Created: "2026-01-01T00:00:00Z"}
			if n := MetaSize(meta.toMeta()); n > MaxMetaBytes {
				t.Fatalf("accepted, but its metadata takes %d bytes", n)
			}
			for _, tg := range info.Targets {
				if tg == "" {
					t.Fatalf("accepted with a target that is no llama-family name: %+v", info)
				}
			}
			return
		}
		n := 0
		for _, s := range []error{ErrNotGGUF, ErrNotAdapter, ErrMalformed} {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v wraps %d sentinels", err, n)
		}
	})
}

// FuzzRange: any Range header parses without a panic, and a range that
// resolves against a size lies inside it and is not empty.
func FuzzRange(f *testing.F) {
	for _, h := range []string{"bytes=0-99", "bytes=-10", "bytes=5-", "bytes=+1-+2", "bytes=0-1,5-6", "bytes=-0", "items=1-2", "bytes= 3 - 7 "} {
		f.Add(h, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		br, ok := parseRange(h)
		if !ok {
			return
		}
		if r, ok := br.Resolve(size); ok && (r.Offset < 0 || r.Length < 1 || r.Offset+r.Length > size) {
			t.Fatalf("%q on %d bytes resolved to %+v", h, size, r)
		}
	})
}
