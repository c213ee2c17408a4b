package lora

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Sentinel errors. Every error of this package wraps one of them (test with
// errors.Is) and starts with "lora: ".
var (
	// ErrConfig reports an invalid argument: rank, alpha, dropout, init, a
	// nil model, base, engine or optimizer, or dimensions that disagree with
	// the base layer.
	ErrConfig = errors.New("lora: invalid configuration")
	// ErrNoTarget reports a target module that matches no linear layer; the
	// message lists the names available.
	ErrNoTarget = errors.New("lora: target module not found")
	// ErrAlreadyInjected reports InjectLoRA (or NewQLoRATrainer) on a model
	// that already holds LoRA layers.
	ErrAlreadyInjected = errors.New("lora: model already has LoRA layers")
	// ErrNotInjected reports a model without LoRA layers where some are
	// needed (saving, merging), or an adapter file naming a layer that is
	// not LoRA-wrapped in a model where others are.
	ErrNotInjected = errors.New("lora: layer is not LoRA-wrapped")
	// ErrFormat reports a file that is not a LoRA adapter or is malformed:
	// not GGUF, a key of the wrong type, a tensor that is neither half of a
	// pair, a tensor type llama.cpp adapters do not use, a duplicate pair.
	ErrFormat = errors.New("lora: invalid adapter file")
	// ErrNotAdapter reports a GGUF file that is not a LoRA adapter at all:
	// general.type or adapter.type missing, not a STRING, or not "adapter" /
	// "lora" (a model, a control vector). It wraps ErrFormat, so
	// errors.Is(err, ErrFormat) holds too.
	ErrNotAdapter error = &subError{"lora: not a LoRA adapter", ErrFormat}
	// ErrArchitecture reports an adapter whose general.architecture is not
	// the model's.
	ErrArchitecture = errors.New("lora: architecture mismatch")
	// ErrRank reports an adapter whose rank is not the rank injected in the
	// model, or disagrees with its own rank keys.
	ErrRank = errors.New("lora: rank mismatch")
	// ErrShape reports an A or B whose dimensions do not fit the layer.
	ErrShape = errors.New("lora: shape mismatch")
	// ErrMissingPair reports a lora_a without its lora_b (or the reverse),
	// or a LoRA layer of the model that the file does not cover.
	ErrMissingPair = errors.New("lora: missing half of a LoRA pair")
	// ErrUnknownLayer reports an adapter tensor for a layer the model lacks.
	ErrUnknownLayer = errors.New("lora: layer not in model")
	// ErrState reports a Backward that does not follow the Forward of the
	// same input while dropout is active (the mask would be unknown).
	ErrState = errors.New("lora: backward without matching forward")
)

// subError is a sentinel that is also a case of a broader one.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

// configErr returns an error wrapping ErrConfig.
func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// Init selects how A is initialised; B always starts at zero so that an
// injected model computes exactly what the base computes.
type Init int

const (
	// InitKaiming draws A ~ U(−1/√in, 1/√in): PEFT's default
	// kaiming_uniform_(a=√5), the default here.
	InitKaiming Init = iota
	// InitGaussian draws A ~ N(0, σ = 1/r): PEFT's init_lora_weights="gaussian".
	InitGaussian
	// InitNormal draws A ~ N(0, 1): the LoRA paper's "random Gaussian
	// initialization" (the published API's).
	InitNormal
)

// String returns "kaiming", "gaussian" or "normal".
func (i Init) String() string {
	switch i {
	case InitKaiming:
		return "kaiming"
	case InitGaussian:
		return "gaussian"
	case InitNormal:
		return "normal"
	}
	return fmt.Sprintf("Init(%d)", int(i))
}

// config is what the Options set.
type config struct {
	rslora  bool
	init    Init
	dropout float64
	seed    int64
}

// Option configures InjectLoRA beyond the published arguments.
type Option func(*config)

// WithRSLoRA scales the adapter by alpha/√r (rank-stabilised LoRA, PEFT's
// use_rslora) instead of alpha/r.
func WithRSLoRA() Option { return func(c *config) { c.rslora = true } }

// WithInit selects A's initialisation (default InitKaiming).
func WithInit(i Init) Option { return func(c *config) { c.init = i } }

// WithDropout applies inverted dropout with probability p, 0 ≤ p < 1, to the
// adapter's input only (PEFT's lora_dropout), while training (SetTraining).
func WithDropout(p float64) Option { return func(c *config) { c.dropout = p } }

// WithSeed seeds every random draw (A's initialisation, dropout masks); each
// layer's stream is derived from the seed and the layer's name. Default 0.
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

func newConfig(opts []Option) (config, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if !(c.dropout >= 0 && c.dropout < 1) {
		return c, configErr("dropout %v outside [0, 1)", c.dropout)
	}
	if c.init < InitKaiming || c.init > InitNormal {
		return c, configErr("unknown init %v", c.init)
	}
	return c, nil
}

// validRankAlpha checks rank ≥ 1 and a finite alpha > 0. Alpha 0 is refused
// because llama.cpp reads adapter.lora.alpha = 0 as "scale 1", not 0.
func validRankAlpha(rank int, alpha float32) error {
	if rank < 1 || rank > MaxRank {
		return configErr("rank %d outside [1, %d]", rank, MaxRank)
	}
	a := float64(alpha)
	if !(a > 0) || math.IsInf(a, 0) {
		return configErr("alpha %v must be finite and > 0", alpha)
	}
	return nil
}

// MaxRank is the largest rank accepted (also a bound on adapter files).
const MaxRank = 1 << 16

// layerRand returns the random stream of one layer: PCG seeded with the
// configured seed and an FNV-1a hash of the layer name, so a layer gets the
// same A whatever else is injected.
func layerRand(seed int64, name string) *rand.Rand {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return rand.New(rand.NewPCG(uint64(seed), h))
}
