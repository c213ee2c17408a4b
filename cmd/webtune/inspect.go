package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/webtune/webtune/gguf"
)

const inspectUsage = `usage: webtune inspect [--json] FILE.gguf

Prints a GGUF file's version, alignment, every metadata key with its type and
value, and every tensor's name, type, dims (ggml order: row length first) and
data offset. Text mode shortens long arrays and strings; --json prints one
object with everything in full:
{"version":3,"alignment":32,"metadata":{"key":value,...},
 "tensors":[{"name":"...","type":"F32","dims":[64,260],"offset":0},...]}
Non-finite floats appear in JSON as the strings "NaN", "Inf" and "-Inf".
`

// Text-mode shortening limits.
const (
	maxShownElems   = 8
	maxShownStrChar = 120
)

// runInspect is the inspect command.
func runInspect(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, inspectUsage); fs.PrintDefaults() }
	asJSON := fs.Bool("json", false, "print one JSON object with every value in full")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	path := fs.Arg(0)
	f, fh, err := openGGUF(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	w := bufio.NewWriter(stdout)
	if *asJSON {
		err = writeInspectJSON(w, f)
	} else {
		err = writeInspectText(w, path, f)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// writeInspectJSON writes the --json form, metadata in file order.
func writeInspectJSON(w io.Writer, f *gguf.File) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"version":%d,"alignment":%d,"metadata":{`, f.Version, f.Alignment)
	for i, kv := range f.KVs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshalJSON(kv.Key)
		v, err := marshalJSON(jsonValue(kv.Value.Any()))
		if err != nil {
			return fmt.Errorf("key %q: %w", kv.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteString(`},"tensors":[`)
	for i, ti := range f.Tensors {
		if i > 0 {
			b.WriteByte(',')
		}
		dims := ti.Dims
		if dims == nil {
			dims = []uint64{}
		}
		t, _ := marshalJSON(struct {
			Name   string   `json:"name"`
			Type   string   `json:"type"`
			Dims   []uint64 `json:"dims"`
			Offset uint64   `json:"offset"`
		}{ti.Name, ti.Type.String(), dims, ti.Offset})
		b.Write(t)
	}
	b.WriteString("]}\n")
	_, err := w.Write(b.Bytes())
	return err
}

// marshalJSON is json.Marshal without HTML escaping ("<unk>" stays readable).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jsonValue maps a metadata value to something encoding/json prints as a number, string, bool or
// array: []uint8 as numbers (not base64), non-finite floats as strings.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float32:
		return jsonFloat(float64(x), 32)
	case float64:
		return jsonFloat(x, 64)
	case []uint8:
		out := make([]uint16, len(x))
		for i, e := range x {
			out[i] = uint16(e)
		}
		return out
	case []float32, []float64:
		rv := reflect.ValueOf(x)
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = jsonValue(rv.Index(i).Interface())
		}
		return out
	}
	return v
}

func jsonFloat(x float64, bits int) any {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	}
	if bits == 32 {
		return float32(x)
	}
	return x
}

// writeInspectText writes the human-readable form.
func writeInspectText(w io.Writer, path string, f *gguf.File) error {
	fmt.Fprintf(w, "file:      %s\nversion:   %d\nalignment: %d\ndata at:   %d\n\n", path, f.Version, f.Alignment, f.DataOffset)
	fmt.Fprintf(w, "metadata (%d keys):\n", len(f.KVs))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range f.KVs {
		typ := kv.Value.Type().String()
		if kv.Value.Type() == gguf.ValueArray {
			typ = fmt.Sprintf("ARRAY[%v] (%d)", kv.Value.ElemType(), kv.Value.Len())
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", kv.Key, typ, shortValue(kv.Value))
	}
	tw.Flush()
	var total uint64
	fmt.Fprintf(w, "\ntensors (%d):\n", len(f.Tensors))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  NAME\tTYPE\tDIMS\tOFFSET\tBYTES\n")
	for _, ti := range f.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%d\t%d\n", ti.Name, ti.Type, ti.Dims, ti.Offset, ti.NumBytes())
		total += ti.NumElements()
	}
	tw.Flush()
	_, err := fmt.Fprintf(w, "\n%d parameters\n", total)
	return err
}

// shortValue formats a value for text mode: arrays beyond maxShownElems elements and strings
// beyond maxShownStrChar bytes are cut, saying how much was left out.
func shortValue(v gguf.Value) string {
	if v.Type() == gguf.ValueString {
		return shortString(v.Any().(string))
	}
	if v.Type() != gguf.ValueArray {
		return fmt.Sprint(v.Any())
	}
	rv := reflect.ValueOf(v.Any())
	n := rv.Len()
	parts := make([]string, 0, min(n, maxShownElems)+1)
	for i := 0; i < min(n, maxShownElems); i++ {
		e := rv.Index(i).Interface()
		if s, ok := e.(string); ok {
			parts = append(parts, shortString(s))
		} else {
			parts = append(parts, fmt.Sprint(e))
		}
	}
	if n > maxShownElems {
		parts = append(parts, fmt.Sprintf("... (%d more)", n-maxShownElems))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func shortString(s string) string {
	if len(s) <= maxShownStrChar {
		return fmt.Sprintf("%q", s)
	}
	cut := maxShownStrChar
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:cut], len(s))
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
