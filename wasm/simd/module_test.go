package simd

import (
	"bytes"
	"testing"
)

func TestLEB128(t *testing.T) {
	for _, c := range []struct {
		v    int64
		u, s []byte
	}{
		{0, []byte{0}, []byte{0}},
		{63, []byte{63}, []byte{63}},
		{64, []byte{64}, []byte{0xc0, 0}},
		{127, []byte{127}, []byte{0xff, 0}},
		{128, []byte{0x80, 1}, []byte{0x80, 1}},
		{261, []byte{0x85, 2}, []byte{0x85, 2}},
		{624485, []byte{0xe5, 0x8e, 0x26}, []byte{0xe5, 0x8e, 0x26}},
	} {
		if got := uleb(nil, uint64(c.v)); !bytes.Equal(got, c.u) {
			t.Errorf("uleb(%d) = %x, want %x", c.v, got, c.u)
		}
		if got := sleb(nil, c.v); !bytes.Equal(got, c.s) {
			t.Errorf("sleb(%d) = %x, want %x", c.v, got, c.s)
		}
	}
	for _, c := range []struct {
		v int64
		s []byte
	}{{-1, []byte{0x7f}}, {-8, []byte{0x78}}, {-64, []byte{0x40}}, {-65, []byte{0xbf, 0x7f}}, {-123456, []byte{0xc0, 0xbb, 0x78}}} {
		if got := sleb(nil, c.v); !bytes.Equal(got, c.s) {
			t.Errorf("sleb(%d) = %x, want %x", c.v, got, c.s)
		}
	}
}

// TestModuleShape checks the header, the section order and size of every
// variant: all stay far below the 4 KB that browsers allow for synchronous
// compilation on the main thread.
func TestModuleShape(t *testing.T) {
	for mr := 1; mr <= 6; mr++ {
		for _, u := range []int{1, 2, 4} {
			for _, relaxed := range []bool{false, true} {
				b := Module(Variant{MR: mr, Unroll: u, Relaxed: relaxed})
				if !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
					t.Fatalf("MR=%d: bad header % x", mr, b[:8])
				}
				if len(b) > 4096 {
					t.Errorf("MR=%d U=%d relaxed=%v: %d bytes, want <= 4096", mr, u, relaxed, len(b))
				}
				var ids []byte
				for p := 8; p < len(b); {
					ids = append(ids, b[p])
					n, w := uint64(0), 0
					for s := uint(0); ; s += 7 {
						c := b[p+1+w]
						n |= uint64(c&0x7f) << s
						w++
						if c&0x80 == 0 {
							break
						}
					}
					p += 1 + w + int(n)
					if p > len(b) {
						t.Fatalf("MR=%d: section %d overruns the module", mr, ids[len(ids)-1])
					}
				}
				if !bytes.Equal(ids, []byte{1, 2, 3, 7, 10}) {
					t.Fatalf("MR=%d: sections %v, want type, import, function, export, code", mr, ids)
				}
			}
		}
	}
}

func TestModuleRejectsBadVariant(t *testing.T) {
	for _, v := range []Variant{{MR: 0}, {MR: 7}, {MR: 4, Unroll: 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Module(%+v): no panic", v)
				}
			}()
			Module(v)
		}()
	}
}
