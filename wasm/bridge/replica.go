//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"syscall/js"

	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/wasm/bridge/core"
)

// Data-parallel training across Web Workers. Each worker runs its own wasm
// instance with a copy of the model; a run's batch is split between them
// (train.Run.SetReplica) and after every step's backward pass they sum the
// LoRA gradients and losses through a SharedArrayBuffer. Every worker sums
// the slots in the same order, so all of them apply the same update and
// stay bit-identical.
//
// SharedArrayBuffer layout (count workers, g gradient floats each):
//
//	[0, 64)              Int32 control: [0] arrived, [1] generation,
//	                     [2] ended (0, or the index+1 of the first worker
//	                     whose run loop ended: the others stop waiting)
//	[64, 64+16·count)    Float64 losses [2][count]
//	[.., +8·count·g)     Float32 gradients [2][count][g]
//
// Two sets (even and odd steps) let a fast worker write step s+1's slot
// while a slow one still reads step s's, with one barrier a step.

const (
	ctrlArrived = 0
	ctrlGen     = 1
	ctrlEnded   = 2
)

// replicaBytes is the SharedArrayBuffer size for count workers of g floats.
func replicaBytes(count, g int) int { return 64 + 16*count + 8*count*g }

// errReplicaEnded ends a worker's step when another worker's loop ended
// (the primary stopped, finished or failed; or a replica failed).
var errReplicaEnded = errors.New("another training worker ended the run")

// replicaTimeout bounds one wait at the barrier: a worker that never
// arrives (killed by the browser) must not hang the run forever. Replicas
// wait without limit: the primary may be paused.
const replicaTimeout = 10 * time.Minute

// replicaLink is one worker's end of the shared buffer.
type replicaLink struct {
	index, count, g int
	primary         bool
	atomics         js.Value
	ctrl            js.Value      // Int32Array
	losses          js.Value      // Float64Array [2·count]
	slots           [2][]js.Value // Uint8Array per parity and worker
	buf             []float32
	parity          int
}

// newReplicaLink checks sab against count and g and maps its regions.
func newReplicaLink(sab js.Value, index, count, g int) (*replicaLink, error) {
	if !sab.InstanceOf(js.Global().Get("SharedArrayBuffer")) {
		return nil, errors.New("webtune: replica.sab must be a SharedArrayBuffer")
	}
	if count < 2 || index < 0 || index >= count {
		return nil, fmt.Errorf("webtune: replica %d of %d", index, count)
	}
	if got, want := sab.Get("byteLength").Int(), replicaBytes(count, g); got != want {
		return nil, fmt.Errorf("webtune: the replicas' shared buffer has %d bytes, this model's gradients need %d (the workers hold different models)", got, want)
	}
	l := &replicaLink{index: index, count: count, g: g, primary: index == 0, atomics: js.Global().Get("Atomics"),
		ctrl:   js.Global().Get("Int32Array").New(sab, 0, 16),
		losses: js.Global().Get("Float64Array").New(sab, 64, 2*count),
		buf:    make([]float32, g)}
	for p := range 2 {
		for j := range count {
			off := 64 + 16*count + 4*g*(p*count+j)
			l.slots[p] = append(l.slots[p], jsUint8Array.New(sab, off, 4*g))
		}
	}
	return l, nil
}

// allReduce replaces the gradients of params by their sum over the workers
// and returns the summed loss (train.AllReduce).
func (l *replicaLink) allReduce(ctx context.Context, loss float64, params []*nn.Parameter[float32]) (float64, error) {
	set := l.slots[l.parity]
	base := l.parity * l.count
	l.parity ^= 1
	off := 0
	for _, p := range params {
		off += copy(l.buf[off:], p.Grad.Data())
	}
	if off != l.g {
		return 0, fmt.Errorf("webtune: %d gradient floats, the shared buffer holds %d", off, l.g)
	}
	js.CopyBytesToJS(set[l.index], floatBytes(l.buf))
	l.losses.SetIndex(base+l.index, loss)
	if err := l.barrier(); err != nil {
		return 0, err
	}
	var sum float64
	for j := range l.count {
		sum += l.losses.Index(base + j).Float()
		js.CopyBytesToGo(floatBytes(l.buf), set[j])
		off := 0
		for _, p := range params {
			d := p.Grad.Data()
			src := l.buf[off : off+len(d)]
			if j == 0 {
				copy(d, src)
			} else {
				for i, v := range src {
					d[i] += v
				}
			}
			off += len(d)
		}
	}
	return sum, ctx.Err()
}

// barrier returns when every worker has arrived, or an error when a
// worker's loop ended (or, for the primary, after replicaTimeout).
func (l *replicaLink) barrier() error {
	a := l.atomics
	gen := a.Call("load", l.ctrl, ctrlGen).Int()
	if a.Call("add", l.ctrl, ctrlArrived, 1).Int() == l.count-1 {
		a.Call("store", l.ctrl, ctrlArrived, 0)
		a.Call("add", l.ctrl, ctrlGen, 1)
		a.Call("notify", l.ctrl, ctrlGen)
		return nil
	}
	start, yielded := time.Now(), time.Now()
	for a.Call("load", l.ctrl, ctrlGen).Int() == gen {
		// a long wait (a slower worker, a paused primary) must not freeze
		// this worker's messages
		if time.Since(yielded) > activityEvery {
			yieldToJS()
			yielded = time.Now()
			continue
		}
		if e := a.Call("load", l.ctrl, ctrlEnded).Int(); e != 0 {
			if l.primary {
				return fmt.Errorf("%w: worker %d of %d", core.ErrWorkerLost, e, l.count)
			}
			return fmt.Errorf("%w (worker %d of %d)", errReplicaEnded, e, l.count)
		}
		if l.primary && time.Since(start) > replicaTimeout {
			return fmt.Errorf("webtune: a training worker did not answer for %v", replicaTimeout)
		}
		a.Call("wait", l.ctrl, ctrlGen, gen, 100)
	}
	return nil
}

// end tells the other workers that this worker's loop ended.
func (l *replicaLink) end() {
	l.atomics.Call("compareExchange", l.ctrl, ctrlEnded, 0, l.index+1)
	l.atomics.Call("notify", l.ctrl, ctrlGen)
}

func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}
