package train

import (
	"github.com/webtune/webtune/nn"
	"github.com/webtune/webtune/tensor"
)

// snapshot is what one optimizer step changes — the trainable values,
// AdamW's moments and step count — and the data position before it: enough
// to undo that step. Its buffers are reused from step to step, so keeping a
// snapshot every step allocates nothing on the training path.
type snapshot[T tensor.Numeric] struct {
	values, m, v [][]T // [parameter][size]
	optStep      int
	pos          cursor
}

// save copies the state of params, opt and the data position pos.
func (s *snapshot[T]) save(params []*nn.Parameter[T], opt *nn.AdamW[T], pos cursor) {
	if len(s.values) != len(params) {
		s.values, s.m, s.v = make([][]T, len(params)), make([][]T, len(params)), make([][]T, len(params))
	}
	for i, p := range params {
		m, v := opt.Moments(p)
		s.values[i] = append(s.values[i][:0], p.Value.Data()...)
		s.m[i] = append(s.m[i][:0], m...)
		s.v[i] = append(s.v[i][:0], v...)
	}
	s.optStep, s.pos = opt.StepCount(), pos
}

// restore puts the saved values and optimizer state back into params and
// opt (which must be those given to save) and returns the saved data
// position. It runs only when a step fails, so rebuilding the optimizer's
// state map is fine.
func (s *snapshot[T]) restore(params []*nn.Parameter[T], opt *nn.AdamW[T]) cursor {
	ms := make(map[string][2][]T, len(params))
	for i, p := range params {
		copy(p.Value.Data(), s.values[i])
		if len(s.m[i]) > 0 {
			ms[p.Name] = [2][]T{s.m[i], s.v[i]}
		}
	}
	opt.SetState(s.optStep, ms)
	return s.pos
}
