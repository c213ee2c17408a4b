//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"unsafe"

	"syscall/js"

	"github.com/norunners/vert"
	"github.com/webtune/webtune/wasm/bridge/core"
)

var (
	jsObject     = js.Global().Get("Object")
	jsPromise    = js.Global().Get("Promise")
	jsError      = js.Global().Get("Error")
	jsUint8Array = js.Global().Get("Uint8Array")
	jsFloat32Arr = js.Global().Get("Float32Array")
	jsArrayBuf   = js.Global().Get("ArrayBuffer")
)

// async returns a JS function that returns a Promise and runs fn in a
// goroutine: a blocking callback would deadlock the page. An error rejects
// the promise with an Error whose message is in plain words (core.Plain);
// a panic rejects it with the panic's message and the instance stays
// usable.
func async(fn func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		var resolve, reject js.Value
		executor := js.FuncOf(func(_ js.Value, p []js.Value) any {
			resolve, reject = p[0], p[1]
			return nil
		})
		promise := jsPromise.New(executor) // calls executor synchronously
		executor.Release()
		go func() {
			defer func() {
				if r := recover(); r != nil {
					reject.Invoke(newError(fmt.Sprintf("webtune: internal error: %v", r), "panic", string(debug.Stack())))
				}
			}()
			v, err := fn(args)
			if err != nil {
				reject.Invoke(newError(core.Plain(err), code(err), err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return promise
	})
}

// newError returns a JS Error with message msg, a short code and the
// technical detail.
func newError(msg, code, detail string) js.Value {
	e := jsError.New(msg)
	e.Set("code", code)
	e.Set("detail", detail)
	return e
}

// code classifies err for programs: "nan", "too-large", "format", "busy" or "error".
func code(err error) string {
	s := core.Plain(err)
	switch {
	case errors.Is(err, core.ErrTooLarge):
		return "too-large"
	case errors.Is(err, core.ErrBusy):
		return "busy"
	case contains(s, "NaN"):
		return "nan"
	case contains(s, "not a valid GGUF"), contains(s, "not a LoRA adapter"):
		return "format"
	}
	return "error"
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// arg returns args[i] or undefined.
func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// options assigns a small JS option object to o (vert); undefined or null
// leaves o as it is.
func options(v js.Value, o any) error {
	if v.IsUndefined() || v.IsNull() {
		return nil
	}
	if v.Type() != js.TypeObject {
		return fmt.Errorf("webtune: options must be an object, got %s", v.Type())
	}
	if err := vert.ValueOf(v).AssignTo(o); err != nil {
		return fmt.Errorf("webtune: bad options: %v", err)
	}
	return nil
}

// toJS converts a small Go result (struct, slice, scalar) to JS (vert).
func toJS(v any) js.Value { return vert.ValueOf(v).JSValue() }

// bytesArg copies a Uint8Array (or ArrayBuffer) into Go in one copy.
func bytesArg(v js.Value, what string) ([]byte, error) {
	if v.InstanceOf(jsArrayBuf) {
		v = jsUint8Array.New(v)
	}
	if !v.InstanceOf(jsUint8Array) {
		return nil, fmt.Errorf("webtune: %s must be a Uint8Array", what)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

// jsReader reads a Uint8Array in place (io.ReaderAt): a model file is
// decoded tensor by tensor into Go memory without a Go copy of the whole
// file.
type jsReader struct {
	u    js.Value
	size int64
}

// newJSReader reads v, a Uint8Array or an ArrayBuffer.
func newJSReader(v js.Value, what string) (*jsReader, error) {
	if v.InstanceOf(jsArrayBuf) {
		v = jsUint8Array.New(v)
	}
	if !v.InstanceOf(jsUint8Array) {
		return nil, fmt.Errorf("webtune: %s must be a Uint8Array", what)
	}
	return &jsReader{u: v, size: int64(v.Get("length").Int())}, nil
}

func (r *jsReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("webtune: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	n := js.CopyBytesToGo(p[:end-off], r.u.Call("subarray", off, end))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// bytesJS copies b into a new Uint8Array in one copy.
func bytesJS(b []byte) js.Value {
	u := jsUint8Array.New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// floatsArg copies a Float32Array into Go through its bytes (one copy).
func floatsArg(v js.Value, what string) ([]float32, error) {
	if !v.InstanceOf(jsFloat32Arr) {
		return nil, fmt.Errorf("webtune: %s must be a Float32Array", what)
	}
	n := v.Get("length").Int()
	f := make([]float32, n)
	if n == 0 {
		return f, nil
	}
	view := jsUint8Array.New(v.Get("buffer"), v.Get("byteOffset"), 4*n)
	js.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*n), view)
	return f, nil
}

// floatsJS copies f into a new Float32Array in one copy.
func floatsJS(f []float32) js.Value {
	out := jsFloat32Arr.New(len(f))
	if len(f) > 0 {
		view := jsUint8Array.New(out.Get("buffer"))
		js.CopyBytesToJS(view, unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f)))
	}
	return out
}

// intsArg reads a small JS array of integers (shapes).
func intsArg(v js.Value, what string) ([]int, error) {
	if v.IsUndefined() || v.IsNull() || v.Get("length").IsUndefined() {
		return nil, fmt.Errorf("webtune: %s must be an array of integers", what)
	}
	n := v.Get("length").Int()
	if n > 8 {
		return nil, fmt.Errorf("webtune: %s has %d dimensions (at most 8)", what, n)
	}
	out := make([]int, n)
	for i := range out {
		f := v.Index(i).Float()
		if f != math.Trunc(f) || f < 0 || f > 1<<30 {
			return nil, fmt.Errorf("webtune: %s[%d] = %v is not a size", what, i, f)
		}
		out[i] = int(f)
	}
	return out, nil
}

// object returns a new JS object with the given async methods and a
// dispose() method that calls onDispose (if not nil) and releases every
// method, itself included, so that the Go values they hold (a whole model)
// can be collected.
func object(methods map[string]func(args []js.Value) (any, error), onDispose func()) js.Value {
	o := jsObject.New()
	funcs := make([]js.Func, 0, len(methods)+1)
	names := make([]string, 0, len(methods))
	for name, fn := range methods {
		f := async(fn)
		funcs = append(funcs, f)
		names = append(names, name)
		o.Set(name, f)
	}
	dispose := async(func([]js.Value) (any, error) {
		if onDispose != nil {
			onDispose()
			onDispose = nil
		}
		// A released method would throw "call to released function":
		// remove them so that a later call fails clearly in JS.
		for _, n := range names {
			o.Delete(n)
		}
		o.Delete("dispose")
		for _, f := range funcs {
			f.Release()
		}
		funcs = nil
		return nil, nil
	})
	funcs = append(funcs, dispose)
	o.Set("dispose", dispose)
	return o
}
