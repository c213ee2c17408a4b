package lora

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/webtune/webtune/gguf"
)

// Bounds on what an adapter file may hold, checked while it is parsed
// (AdapterLimits), so reading an untrusted adapter costs memory bounded by
// a small constant plus its tensor table. They are generous for real
// adapters: llama.cpp's converter writes about ten keys and no arrays but
// the optional invocation tokens, and a 1B model with every linear layer
// adapted has about 1,200 tensors.
const (
	// MaxAdapterKVs bounds the metadata key/value pairs of an adapter.
	MaxAdapterKVs = 1024
	// MaxAdapterArrayLength bounds the elements of one metadata array.
	MaxAdapterArrayLength = 1 << 16
	// MaxAdapterStringLength bounds one metadata string in bytes.
	MaxAdapterStringLength = 64 << 10
	// MaxAdapterMetadataBytes bounds the whole encoded metadata section.
	MaxAdapterMetadataBytes = 1 << 20
	// MaxAdapterTensors bounds the tensors of an adapter (lora_a and lora_b
	// count one each).
	MaxAdapterTensors = 16384
)

// AdapterLimits are the gguf.Limits every reader of adapter files in this
// package parses with (OpenAdapter, CheckAdapter, ReadAdapter).
var AdapterLimits = gguf.Limits{
	MaxKVs:           MaxAdapterKVs,
	MaxArrayLength:   MaxAdapterArrayLength,
	MaxStringLength:  MaxAdapterStringLength,
	MaxTensors:       MaxAdapterTensors,
	MaxMetadataBytes: MaxAdapterMetadataBytes,
}

// OpenAdapter parses the GGUF header of an adapter file of size bytes under
// AdapterLimits. Errors wrap ErrFormat and gguf's sentinel (gguf.ErrTooLarge
// for a file over a limit).
func OpenAdapter(r io.ReaderAt, size int64) (*gguf.File, error) {
	f, err := gguf.OpenLimits(r, size, AdapterLimits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return f, nil
}

// CheckAdapter is the one model-free validator of adapter bytes: it parses
// the file under AdapterLimits (OpenAdapter), applies InspectAdapter's rules
// (which include llama-family tensor names, see TargetOf) and reads every
// pair's data once, in chunks, refusing NaN or Inf (ErrFormat), as loading
// the adapter into a model would. Time is linear in size; memory is a
// small constant plus the tensor table.
func CheckAdapter(r io.ReaderAt, size int64) (*gguf.File, *AdapterFile, error) {
	f, err := OpenAdapter(r, size)
	if err != nil {
		return nil, nil, err
	}
	af, err := InspectAdapter(f)
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, finiteChunk)
	for _, p := range af.Pairs {
		for _, ti := range []*gguf.TensorInfo{p.A, p.B} {
			if err := checkFinite(f, ti, buf); err != nil {
				return nil, nil, err
			}
		}
	}
	return f, af, nil
}

// finiteChunk is the read size of checkFinite: a multiple of every
// adapter type's block (4, 2 and 34 bytes: 34·2·4 divides it).
const finiteChunk = 34 * 2 * 4 * 240

// checkFinite reads ti's data in chunks and refuses a NaN or Inf value:
// F32, F16 and BF16 elements, and the f16 scale of every Q8_0 block (its
// int8 quants are always finite).
func checkFinite(f *gguf.File, ti *gguf.TensorInfo, buf []byte) error {
	sr, err := f.TensorData(ti.Name)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	for off := int64(0); off < sr.Size(); {
		chunk := buf[:min(int64(len(buf)), sr.Size()-off)]
		if _, err := sr.ReadAt(chunk, off); err != nil {
			return fmt.Errorf("%w: tensor %q: reading data: %w", ErrFormat, ti.Name, err)
		}
		if i := firstNonFinite(ti.Type, chunk); i >= 0 {
			return fmt.Errorf("%w: tensor %q holds NaN or Inf (byte %d of its data)", ErrFormat, ti.Name, off+int64(i))
		}
		off += int64(len(chunk))
	}
	return nil
}

// firstNonFinite returns the byte offset in b of the first non-finite
// value of type t (b holds whole elements or blocks), or -1.
func firstNonFinite(t gguf.TensorType, b []byte) int {
	switch t {
	case gguf.TypeF32:
		for i := 0; i+4 <= len(b); i += 4 {
			if binary.LittleEndian.Uint32(b[i:])&0x7f800000 == 0x7f800000 {
				return i
			}
		}
	case gguf.TypeF16, gguf.TypeBF16:
		mask := uint16(0x7c00) // f16 exponent
		if t == gguf.TypeBF16 {
			mask = 0x7f80
		}
		for i := 0; i+2 <= len(b); i += 2 {
			if binary.LittleEndian.Uint16(b[i:])&mask == mask {
				return i
			}
		}
	case gguf.TypeQ8_0:
		for i := 0; i+34 <= len(b); i += 34 {
			if binary.LittleEndian.Uint16(b[i:])&0x7c00 == 0x7c00 {
				return i
			}
		}
	}
	return -1
}
