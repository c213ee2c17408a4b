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
