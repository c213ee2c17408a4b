package core

import (
	"bytes"
	"fmt"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/lora"
)

// LoRAOptions configure Model.InjectLoRA. Zero fields take the defaults.
type LoRAOptions struct {
	Rank    int      `js:"rank" json:"rank"`       // Rank r (default 8).
	Alpha   float64  `js:"alpha" json:"alpha"`     // Alpha, the scale numerator (default 2·Rank).
	Targets []string `js:"targets" json:"targets"` // Targets are layer kinds (default attn_q, attn_v).
	RSLoRA  bool     `js:"rslora" json:"rslora"`   // RSLoRA scales by alpha/√r.
	Dropout float64  `js:"dropout" json:"dropout"` // Dropout on the adapter input while training.
	Seed    int64    `js:"seed" json:"seed"`       // Seed of A's initialisation and dropout masks.
}

// withDefaults fills zero fields.
func (o LoRAOptions) withDefaults() LoRAOptions {
	if o.Rank == 0 {
		o.Rank = 8
	}
	if o.Alpha == 0 {
		o.Alpha = float64(2 * o.Rank)
	}
	if len(o.Targets) == 0 {
		o.Targets = []string{"attn_q", "attn_v"}
	}
	o.Targets = append([]string(nil), o.Targets...)
	return o
}

// InjectLoRA wraps the targeted layers with LoRA adapters; it returns the
// options as applied (defaults filled).
func (m *Model) InjectLoRA(o LoRAOptions) (LoRAOptions, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.idle(); err != nil {
		return o, err
	}
	return m.inject(o)
}

// inject is InjectLoRA with m.mu held.
func (m *Model) inject(o LoRAOptions) (LoRAOptions, error) {
	o = o.withDefaults()
	opts := []lora.Option{lora.WithSeed(o.Seed), lora.WithDropout(o.Dropout)}
	if o.RSLoRA {
		opts = append(opts, lora.WithRSLoRA())
	}
	if err := lora.InjectLoRA[float32](m.m, o.Rank, float32(o.Alpha), o.Targets, m.m.Engine(), opts...); err != nil {
		return o, err
	}
	lora.SetTraining[float32](m.m, false)
	m.lora = &o
	return o, nil
}

// idle returns ErrBusy while a run is training (not paused or finished).
func (m *Model) idle() error {
	if m.run != nil && m.run.State() == StateTraining {
		return ErrBusy
	}
	return nil
}

// Summary counts parameters.
type Summary struct {
	Trainable int     `js:"trainable" json:"trainable"`
	All       int     `js:"all" json:"all"`
	Percent   float64 `js:"percent" json:"percent"`
	Text      string  `js:"text" json:"text"` // as PEFT prints it
}

// Summary returns the trainable and total parameter counts.
func (m *Model) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{Trainable: lora.TrainableParamCount[float32](m.m), All: lora.TotalParamCount[float32](m.m),
		Text: lora.Summary[float32](m.m)}
	if s.All > 0 {
		s.Percent = 100 * float64(s.Trainable) / float64(s.All)
	}
	return s
}

// SaveAdapter returns the adapter as llama.cpp-loadable GGUF bytes.
func (m *Model) SaveAdapter() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.adapterBytes()
}

func (m *Model) adapterBytes() ([]byte, error) {
	if m.lora == nil {
		return nil, fmt.Errorf("%w: inject LoRA or train before saving an adapter", lora.ErrNotInjected)
	}
	var buf bytes.Buffer
	if err := lora.WriteAdapter[float32](&buf, m.m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AdapterFileName returns "<model>-lora-r<rank>.gguf".
func (m *Model) AdapterFileName() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := 0
	if m.lora != nil {
		r = m.lora.Rank
	}
	return fmt.Sprintf("%s-lora-r%d.gguf", ModelFileName(m.name), r)
}

// LoadAdapter reads an adapter GGUF onto the model. Without LoRA layers yet,
// it first injects them with the file's rank, alpha and targets (read from
// its webtune.* keys or, failing those, its tensors). It returns the LoRA
// options in force.
func (m *Model) LoadAdapter(data []byte) (LoRAOptions, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.idle(); err != nil {
		return LoRAOptions{}, err
	}
	fresh := m.lora == nil
	if fresh {
		o, err := adapterOptions(data)
		if err != nil {
			return o, err
		}
		if _, err := m.inject(o); err != nil {
			return o, err
		}
	}
	if err := m.readAdapter(data); err != nil {
		if fresh {
			m.uninject()
		}
		return LoRAOptions{}, err
	}
	return *m.lora, nil
}

// uninject puts the base layers back in place of the LoRA layers.
func (m *Model) uninject() {
	for _, l := range lora.Adapters[float32](m.m) {
		_ = m.m.ReplaceLayer(l.Name(), l.Base())
	}
	m.lora = nil
}

// adapterOptions reads the LoRA options an adapter file was made with: rank,
// alpha and rsLoRA from its keys, targets from its tensor names.
func adapterOptions(data []byte) (LoRAOptions, error) {
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return LoRAOptions{}, err
	}
	var o LoRAOptions
	kinds := map[string]bool{}
	for _, t := range f.Tensors {
		name, ok := cutSuffix(t.Name, ".weight.lora_a")
		if !ok {
			if name, ok = cutLegacy(t.Name); !ok {
				continue
			}
		}
		kind := name[lastDot(name)+1:]
		if !kinds[kind] {
			kinds[kind] = true
			o.Targets = append(o.Targets, kind)
		}
		if o.Rank == 0 && len(t.Dims) == 2 {
			o.Rank = int(t.Dims[1]) // lora_a has ne [in, r]
		}
	}
	if len(o.Targets) == 0 {
		return o, fmt.Errorf("%w: the file holds no LoRA tensors", lora.ErrFormat)
	}
	if r, err := f.GetUint32("webtune.lora.rank"); err == nil {
		o.Rank = int(r)
	}
	if a, err := f.GetFloat32("webtune.lora.alpha"); err == nil {
		o.Alpha = float64(a)
	} else if a, err := f.GetFloat32("adapter.lora.alpha"); err == nil {
		o.Alpha = float64(a)
	}
	if b, err := f.GetBool("webtune.lora.use_rslora"); err == nil {
		o.RSLoRA = b
	}
	return o, nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// cutLegacy returns the layer of a "lora.<layer>.weight_a" name.
func cutLegacy(s string) (string, bool) {
	if len(s) < 5 || s[:5] != "lora." {
		return s, false
	}
	return cutSuffix(s[5:], ".weight_a")
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// readAdapter reads adapter bytes into the injected LoRA layers.
func (m *Model) readAdapter(data []byte) error {
	return lora.ReadAdapter[float32](bytes.NewReader(data), int64(len(data)), m.m)
}
