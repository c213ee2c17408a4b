package core

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/train"
)

// ErrCheckpoint reports checkpoint bytes that are not webtune's or do not
// belong to this model.
var ErrCheckpoint = errors.New("webtune: bad checkpoint")

// A checkpoint is checkpointMagic, the version and the header's length
// (uint32 little-endian each), the JSON header, the payload, and the
// CRC-32C (Castagnoli) of everything before it: a damaged checkpoint is
// refused (train.ErrCorrupt) instead of resuming a different run.
const (
	checkpointMagic   = "WTCKPT"
	checkpointVersion = 2
	maxHeaderBytes    = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpointHeader is the JSON part of a checkpoint.
type checkpointHeader struct {
	Version int           `json:"version"`
	Kind    string        `json:"kind"` // "run": train state follows; "adapter": adapter GGUF follows
	Model   modelShape    `json:"model"`
	LoRA    LoRAOptions   `json:"lora"`
	Train   *TrainOptions `json:"train,omitempty"`
	Step    int           `json:"step"`
}

// modelShape identifies a base model well enough to refuse a checkpoint of
// another one.
type modelShape struct {
	Name   string       `json:"name"`
	Config llama.Config `json:"config"`
	QLoRA  bool         `json:"qlora"`
}

func (m *Model) shape() modelShape {
	return modelShape{Name: m.name, Config: m.m.Config, QLoRA: m.qlora}
}

// Checkpoint returns the state needed to continue: the current run (LoRA
// and training options, text, parameters, optimizer, data position, losses)
// or, without a run, the adapter.
func (m *Model) Checkpoint() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lora == nil {
		return nil, errors.New("webtune: nothing to checkpoint: inject LoRA or train first")
	}
	h := checkpointHeader{Version: checkpointVersion, Model: m.shape(), LoRA: *m.lora}
	var payload bytes.Buffer
	if m.run != nil {
		h.Kind = "run"
		o := m.run.opts
		h.Train, h.Step = &o, m.run.r.StepsDone()
		if err := m.run.r.Checkpoint(&payload); err != nil {
			return nil, err
		}
	} else {
		h.Kind = "adapter"
		b, err := m.adapterBytes()
		if err != nil {
			return nil, err
		}
		payload.Write(b)
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(checkpointMagic)+12+len(hj)+payload.Len())
	out = append(out, checkpointMagic...)
	out = binary.LittleEndian.AppendUint32(out, checkpointVersion)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(hj)))
	out = append(out, hj...)
	out = append(out, payload.Bytes()...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// Restored is what Restore brings back.
type Restored struct {
	Kind    string        `js:"kind" json:"kind"` // "run" or "adapter"
	LoRA    LoRAOptions   `js:"lora" json:"lora"`
	Train   *TrainOptions `js:"train" json:"train"` // nil for an adapter checkpoint
	History *History      `js:"history" json:"history"`
}

// Restore loads a checkpoint written by Checkpoint for this base model. A
// model without LoRA layers gets those the checkpoint names; a run
// checkpoint re-creates the run (continue it with Train{Resume: true}). On
// error the model is unchanged.
func (m *Model) Restore(data []byte) (Restored, error) {
	h, payload, err := parseCheckpoint(data)
	if err != nil {
		return Restored{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.idle(); err != nil {
		return Restored{}, err
	}
	if h.Model.Config != m.m.Config {
		return Restored{}, fmt.Errorf("%w: it was written for another model (%s)", ErrCheckpoint, h.Model.Name)
	}
	fresh := m.lora == nil
	if !fresh && (m.lora.Rank != h.LoRA.Rank || !slices.Equal(m.lora.Targets, h.LoRA.Targets) ||
		m.lora.Alpha != h.LoRA.Alpha || m.lora.RSLoRA != h.LoRA.RSLoRA) {
		return Restored{}, fmt.Errorf("%w: it has rank %d on %v; the model's adapter has rank %d on %v",
			ErrCheckpoint, h.LoRA.Rank, h.LoRA.Targets, m.lora.Rank, m.lora.Targets)
	}
	if fresh {
		if _, err := m.inject(h.LoRA); err != nil {
			return Restored{}, err
		}
	}
	res, err := m.restorePayload(h, payload)
	if err != nil && fresh {
		m.uninject()
	}
	return res, err
}

// restorePayload applies the payload of h with m.mu held.
func (m *Model) restorePayload(h checkpointHeader, payload []byte) (Restored, error) {
	res := Restored{Kind: h.Kind, LoRA: *m.lora}
	switch h.Kind {
	case "adapter":
		if m.run != nil {
			m.run.Stop()
			m.run = nil
		}
		return res, m.readAdapter(payload)
	case "run":
		if h.Train == nil {
			return res, fmt.Errorf("%w: run checkpoint without training options", ErrCheckpoint)
		}
		r, err := m.newRun(*h.Train)
		if err != nil {
			return res, err
		}
		if err := r.r.Restore(bytes.NewReader(payload)); err != nil {
			return res, err
		}
		if m.run != nil {
			m.run.Stop()
		}
		m.run = r
		hist := r.History()
		res.Train, res.History = h.Train, &hist
		return res, nil
	}
	return res, fmt.Errorf("%w: unknown kind %q", ErrCheckpoint, h.Kind)
}

// parseCheckpoint splits data into its header and payload.
func parseCheckpoint(data []byte) (checkpointHeader, []byte, error) {
	var h checkpointHeader
	n := len(checkpointMagic)
	if len(data) < n+12 || string(data[:n]) != checkpointMagic {
		return h, nil, fmt.Errorf("%w: not a webtune checkpoint", ErrCheckpoint)
	}
	if v := binary.LittleEndian.Uint32(data[n:]); v != checkpointVersion {
		return h, nil, fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, v, checkpointVersion)
	}
	data, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(data, castagnoli); got != sum {
		return h, nil, fmt.Errorf("%w: %w: CRC-32C %08x, want %08x", ErrCheckpoint, train.ErrCorrupt, got, sum)
	}
	hl := int64(binary.LittleEndian.Uint32(data[n+4:]))
	if hl > maxHeaderBytes || hl > int64(len(data)-n-8) {
		return h, nil, fmt.Errorf("%w: truncated", ErrCheckpoint)
	}
	body := data[n+8:]
	if err := json.Unmarshal(body[:hl], &h); err != nil {
		return h, nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return h, body[hl:], nil
}
