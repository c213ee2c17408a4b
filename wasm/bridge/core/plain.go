package core

import (
	"errors"
	"fmt"
	"strings"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/llama"
	"github.com/webtune/webtune/lora"
	"github.com/webtune/webtune/train"
)

// Plain words err for a person using the page: what went wrong and what to
// do, followed by the technical detail. A nil err gives "".
func Plain(err error) string {
	if err == nil {
		return ""
	}
	detail := err.Error()
	var lead string
	switch {
	case errors.Is(err, ErrTooLarge):
		lead = "This model is too large for the browser."
	case errors.Is(err, gguf.ErrFormat), errors.Is(err, gguf.ErrTooLarge):
		lead = "This file is not a valid GGUF model file (it may be corrupt or truncated)."
	case errors.Is(err, llama.ErrUnsupported):
		lead = "This model cannot be used here: webtune fine-tunes llama-architecture models (" + strings.Join(llama.Architectures(), ", ") + ")."
	case errors.Is(err, gguf.ErrUnsupported):
		lead = "This model uses a weight format webtune cannot read."
	case errors.Is(err, llama.ErrShape), errors.Is(err, llama.ErrConfig), errors.Is(err, gguf.ErrNotFound), errors.Is(err, gguf.ErrType):
		lead = "This model file is incomplete or inconsistent."
	case errors.Is(err, ErrNoTokenizer):
		lead = "This model file has no tokenizer, so it cannot be trained on text."
	case errors.Is(err, train.ErrDiverged):
		lead = "Training stopped: it diverged (the model's values overflowed and it stopped learning). The adapter keeps the last good step. Lower the learning rate or alpha and train again."
	case errors.Is(err, train.ErrNonFinite):
		lead = "Training stopped: the loss became NaN or infinite. The adapter keeps the last good step; try a lower learning rate."
	case errors.Is(err, train.ErrConfig):
		lead = "These training settings cannot be used with this text."
	case errors.Is(err, train.ErrCorrupt):
		lead = "The saved checkpoint is damaged (its checksum does not match), so it cannot be resumed."
	case errors.Is(err, train.ErrCheckpoint), errors.Is(err, ErrCheckpoint):
		lead = "The saved checkpoint does not match this model or text."
	case errors.Is(err, lora.ErrArchitecture), errors.Is(err, lora.ErrRank), errors.Is(err, lora.ErrShape),
		errors.Is(err, lora.ErrUnknownLayer), errors.Is(err, lora.ErrMissingPair):
		lead = "This adapter does not fit the loaded model."
	case errors.Is(err, lora.ErrFormat):
		lead = "This file is not a LoRA adapter."
	case errors.Is(err, lora.ErrNoTarget):
		lead = "None of the chosen layers exists in this model."
	case errors.Is(err, lora.ErrAlreadyInjected):
		lead = "The model already has a LoRA adapter; reload the model to change rank or layers."
	case errors.Is(err, ErrWorkerLost):
		lead = "Training stopped: one of the training workers stopped (most likely it ran out of memory). The adapter keeps the last step done; the next run trains without that worker."
	case errors.Is(err, ErrBusy):
		lead = "Training is running: pause or stop it first."
	case isOOM(detail):
		lead = "The browser ran out of memory. Try QLoRA, a smaller batch or sequence length, or a smaller model."
	}
	if lead == "" {
		return detail
	}
	return fmt.Sprintf("%s (%s)", lead, detail)
}

// isOOM recognises the Go runtime's and the browser's out-of-memory messages.
func isOOM(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "out of memory") || strings.Contains(s, "cannot allocate")
}
