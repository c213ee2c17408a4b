package gpu

import "errors"

// ErrNoStep: the worker opened no GPU engine for whole training steps
// (globalThis.webtuneGPU and webtuneGPUCreateModel are unset, or this is
// not a GOOS=js build).
var ErrNoStep = errors.New("gpu: no WebGPU engine for the training step")

// StepStats counts a StepModel's GPU steps and what crossed for the last
// one.
type StepStats struct {
	Steps, Evals     int
	LoRAFloats       int   // LoRAFloats is the size of the packed parameters (and gradients)
	WeightBytes      int64 // WeightBytes is the frozen weights' stored bytes
	LastUp, LastDown int64 // LastUp, LastDown are the bytes uploaded and read back by the last call (the JS engine's counters)
	LastDispatches   int
	UploadedWeights  int // UploadedWeights counts float32 weights uploaded for this model (quantized ones are resident)
	LastError        string
}
