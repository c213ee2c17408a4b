package gguf

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every error returned by Open for a bad file wraps one of ErrFormat, ErrUnsupported or
// ErrTooLarge inside a *FormatError; the getters wrap ErrNotFound or ErrType.
var (
	// ErrFormat reports a file that is not valid GGUF (bad magic, truncation, bad value, inconsistent sizes).
	ErrFormat = errors.New("gguf: invalid format")
	// ErrUnsupported reports a valid-looking file using something this package does not handle
	// (version 1 or > 3, big-endian, an unknown tensor type, a type without a decoder).
	ErrUnsupported = errors.New("gguf: unsupported")
	// ErrTooLarge reports a count or length above one of the package limits (MaxStringLength, ...).
	ErrTooLarge = errors.New("gguf: too large")
	// ErrNotFound reports a missing metadata key or tensor.
	ErrNotFound = errors.New("gguf: not found")
	// ErrType reports a metadata key whose value has another type than the one asked for.
	ErrType = errors.New("gguf: wrong type")
)

// Limits on what Open accepts. Each count read from a file is checked against its limit and against
// the bytes left in the file before anything is allocated for it.
const (
	// MaxStringLength is the longest string value in bytes (ggml's GGUF_MAX_STRING_LENGTH, 1 GiB).
	MaxStringLength = 1 << 30
	// MaxKeyLength is the longest metadata key in bytes (the GGUF spec's 65535).
	MaxKeyLength = 65535
	// MaxArrayLength is the largest element count of an array value (2^30, as ggml's reader).
	MaxArrayLength = 1 << 30
	// MaxTensorCount is the largest number of tensors in one file.
	MaxTensorCount = 1 << 20
	// MaxKVCount is the largest number of metadata key/value pairs in one file.
	MaxKVCount = 1 << 20
	// MaxDims is the largest number of dimensions of a tensor (GGML_MAX_DIMS).
	MaxDims = 4
	// MaxTensorNameLength is the longest tensor name in bytes (GGML_MAX_NAME-1 = 63).
	MaxTensorNameLength = 63
	// MaxAlignment is the largest general.alignment accepted.
	MaxAlignment = 1 << 16
	// DefaultAlignment is the data alignment used when general.alignment is absent (GGUF_DEFAULT_ALIGNMENT).
	DefaultAlignment = 32
	// Version is the GGUF version the Writer emits.
	Version = 3
)

// FormatError describes where and why a file could not be read. Err is ErrFormat, ErrUnsupported,
// ErrTooLarge or an I/O error from the underlying reader.
type FormatError struct {
	Offset int64  // Offset is the byte offset in the file of the offending field.
	Msg    string // Msg says what was wrong.
	Err    error  // Err is the sentinel (or I/O error) the error wraps.
}

// Error formats the error as "gguf: offset N: msg: sentinel".
func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: offset %d: %s: %v", e.Offset, e.Msg, e.Err)
}

// Unwrap returns e.Err so errors.Is(err, ErrFormat) works.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, kind error, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...), Err: kind}
}

// maxEcho is the most bytes of a key from a file that an error message repeats (keys may have
// MaxKeyLength bytes).
const maxEcho = 200

// quoteKey quotes a key for an error message, cut to maxEcho bytes (on a rune boundary) with "…"
// and its length when longer.
func quoteKey(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]+"…") + " (" + strconv.Itoa(len(s)) + " bytes)"
}
