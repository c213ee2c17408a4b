package core

import (
	"errors"

	"github.com/webtune/webtune/train"
	"github.com/webtune/webtune/wasm/gpu"
)

// GPUStepInfo says whether the last run trains with whole steps on the GPU
// and, when a GPU engine was opened but does not train it, why.
type GPUStepInfo struct {
	On     bool   `js:"on" json:"on"`
	Reason string `js:"reason" json:"reason"`
	// Per call, from the GPU engine's counters: what crossed for the last
	// step (bytes up and down) and the dispatches it recorded.
	Steps       int     `js:"steps" json:"steps"`
	BytesUp     float64 `js:"bytesUp" json:"bytesUp"`
	BytesDown   float64 `js:"bytesDown" json:"bytesDown"`
	Dispatches  int     `js:"dispatches" json:"dispatches"`
	LoRAFloats  int     `js:"loraFloats" json:"loraFloats"`
	WeightBytes float64 `js:"weightBytes" json:"weightBytes"`
	LastError   string  `js:"lastError" json:"lastError"`
}

// trainModel returns what a new run trains: the whole-step GPU trainer
// when the worker opened WebGPU for training and the model's settings run
// there (wasm/gpu.StepModel), else the model itself, keeping the reason.
// Called with m.mu held.
func (m *Model) trainModel(o TrainOptions) train.Model[float32] {
	if m.gpu != nil {
		m.gpu.Close()
		m.gpu = nil
	}
	m.gpuReason = ""
	seqLen := o.SeqLen
	if seqLen <= 0 {
		seqLen = 128
	}
	s, err := gpu.NewStepModel(m.m, seqLen)
	switch {
	case err == nil:
		m.gpu = s
		return s
	case !errors.Is(err, gpu.ErrNoStep):
		m.gpuReason = err.Error()
	}
	return m.m
}

// GPUStep reports how the last run trains (see GPUStepInfo).
func (m *Model) GPUStep() GPUStepInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gpu == nil {
		return GPUStepInfo{Reason: m.gpuReason}
	}
	st := m.gpu.Stats()
	return GPUStepInfo{On: true, Steps: st.Steps, BytesUp: float64(st.LastUp), BytesDown: float64(st.LastDown),
		Dispatches: st.LastDispatches, LoRAFloats: st.LoRAFloats, WeightBytes: float64(st.WeightBytes), LastError: st.LastError}
}
