//go:build !(js && wasm)

package gpu

import (
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/tensor"
)

// Wrap returns e: WebGPU exists only in the browser build.
func Wrap(e tensor.Engine[float32]) tensor.Engine[float32] { return e }

// StepModel exists only in the browser build; NewStepModel says so.
type StepModel struct{ *llama.Model[float32] }

// NewStepModel returns ErrNoStep: WebGPU exists only in the browser build.
func NewStepModel(m *llama.Model[float32], seqLen int) (*StepModel, error) { return nil, ErrNoStep }

// Stats returns no counts.
func (s *StepModel) Stats() StepStats { return StepStats{} }

// Reserve returns ErrNoStep.
func (s *StepModel) Reserve(B, T int) error { return ErrNoStep }

// Close does nothing.
func (s *StepModel) Close() {}
