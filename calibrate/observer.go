package calibrate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ptq-dev/ptq/tensor"
)

// Observer collects statistics of the tensors shown to it, one pass, in
// memory that does not grow with the number of tensors. Ranges apply a
// Method to what was collected.
type Observer interface {
	Observe(t *tensor.Tensor) error
	// Merge adds what other collected. Both must have been created with the
	// same granularity and needs.
	Merge(other Observer) error
	// Ranges returns one clipping range per slot of the granularity.
	Ranges(m Method, t Target) ([]Range, error)
}

// Kind is how the elements of a tensor are split into slots, each with its
// own statistics and range.
type Kind string

// The granularities. A group is a block of Size consecutive channels along
// Axis (the seed's groupwise calibration; Size 1 is per channel); a block is
// a block of Size consecutive elements along Axis for every index of the
// other axes (ONNX's blocked quantization, scales shaped like the tensor with
// Axis divided by Size).
const (
	PerTensor  Kind = "tensor"
	PerChannel Kind = "channel"
	PerGroup   Kind = "group"
	PerBlock   Kind = "block"
)

// Granularity chooses the slots of a tensor. The zero value is per tensor.
type Granularity struct {
	Kind Kind `json:"kind,omitempty"`
	// Axis is the channel axis; negative counts from the end.
	Axis int `json:"axis,omitempty"`
	// Size is the group or block size (PerGroup, PerBlock).
	Size int `json:"size,omitempty"`
}

func (g Granularity) kind() Kind {
	if g.Kind == "" {
		return PerTensor
	}
	return g.Kind
}

// layout is a granularity resolved for one shape.
type layout struct {
	outer, dim, inner, size int
	kind                    Kind
	slots                   []int // the shape of the slot grid
}

func (g Granularity) layout(shape []int) (layout, error) {
	k := g.kind()
	if k == PerTensor {
		return layout{kind: k, outer: 1, dim: 1, inner: tensor.NumElements(shape), size: 1, slots: []int{}}, nil
	}
	ax := g.Axis
	if ax < 0 {
		ax += len(shape)
	}
	if ax < 0 || ax >= len(shape) {
		return layout{}, fmt.Errorf("axis %d out of range for shape %v", g.Axis, shape)
	}
	l := layout{kind: k, outer: tensor.NumElements(shape[:ax]), dim: shape[ax], inner: tensor.NumElements(shape[ax+1:]), size: g.Size}
	switch k {
	case PerChannel:
		l.size = 1
	case PerGroup, PerBlock:
		if g.Size < 1 {
			return layout{}, fmt.Errorf("%s granularity needs a size of at least 1, got %d", k, g.Size)
		}
	default:
		return layout{}, fmt.Errorf("unknown granularity %q", k)
	}
	n := (l.dim + l.size - 1) / l.size
	if k == PerBlock {
		l.slots = append(append(append([]int{}, shape[:ax]...), n), shape[ax+1:]...)
	} else {
		l.slots = []int{n}
	}
	return l, nil
}

// runs splits data into contiguous runs per slot.
func (l layout) runs(data []float32, nslots int) [][][]float32 {
	r := make([][][]float32, nslots)
	if l.kind == PerTensor {
		r[0] = [][]float32{data}
		return r
	}
	nb := (l.dim + l.size - 1) / l.size
	for o := 0; o < l.outer; o++ {
		for c := 0; c < l.dim; c++ {
			run := data[(o*l.dim+c)*l.inner : (o*l.dim+c+1)*l.inner]
			if l.kind != PerBlock {
				r[c/l.size] = append(r[c/l.size], run)
				continue
			}
			for i := range run {
				s := (o*nb+c/l.size)*l.inner + i
				r[s] = append(r[s], run[i:i+1])
			}
		}
	}
	return r
}

// TensorStats is the Observer of one tensor: its granularity, the shape of
// its slot grid (empty for per tensor) and a Summary per slot, in row-major
// order of the grid.
type TensorStats struct {
	Granularity Granularity `json:"granularity"`
	Needs       Needs       `json:"needs"`
	Slots       []int       `json:"slots"`
	Summaries   []Summary   `json:"summaries"`
}

// NewObserver returns an empty observer with the given granularity
// collecting what needs says.
func NewObserver(g Granularity, needs Needs) *TensorStats {
	return &TensorStats{Granularity: g, Needs: needs}
}

// Observe adds the values of t, which must be a float32 tensor. A tensor
// holding NaN is rejected (the error wraps ErrNonFinite and gives the first
// position) and leaves the statistics unchanged. ±Inf values (an additive
// attention mask) are counted apart from the finite ones, and make Ranges
// fail with ErrInfinite.
func (s *TensorStats) Observe(t *tensor.Tensor) error {
	if t.DType != tensor.Float {
		return fmt.Errorf("calibrate: observing a %v tensor; only float32 is observed", t.DType)
	}
	data := t.Float32()
	l, err := s.Granularity.layout(t.Shape)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	n := tensor.NumElements(l.slots)
	if s.Summaries == nil {
		s.Slots = l.slots
		s.Summaries = make([]Summary, n)
		for i := range s.Summaries {
			s.Summaries[i] = newSummary(s.Needs)
		}
	} else if !slices.Equal(s.Slots, l.slots) {
		return fmt.Errorf("calibrate: shape %v gives %v slots, earlier tensors gave %v", t.Shape, l.slots, s.Slots)
	}
	runs := l.runs(data, n)
	type scanned struct {
		lo, hi        float32
		zeros, n, inf uint64
	}
	sc := make([]scanned, n)
	for i, r := range runs {
		lo, hi, zeros, cnt, inf, at, ok := scan(r)
		if !ok {
			return fmt.Errorf("calibrate: value NaN at position %d of slot %d: %w", at, i, ErrNonFinite)
		}
		sc[i] = scanned{lo, hi, zeros, cnt, inf}
	}
	for i, r := range runs {
		s.Summaries[i].add(finiteRuns(r, sc[i].inf), sc[i].lo, sc[i].hi, sc[i].zeros, sc[i].n)
		s.Summaries[i].Inf += sc[i].inf
	}
	return nil
}

// Merge adds what other (a *TensorStats) collected.
func (s *TensorStats) Merge(other Observer) error {
	o, ok := other.(*TensorStats)
	if !ok {
		return fmt.Errorf("calibrate: cannot merge %T into TensorStats", other)
	}
	if s.Granularity != o.Granularity || s.Needs != o.Needs {
		return fmt.Errorf("calibrate: merging statistics of granularity %+v and needs %+v into %+v, %+v", o.Granularity, o.Needs, s.Granularity, s.Needs)
	}
	if o.Summaries == nil {
		return nil
	}
	if s.Summaries == nil {
		s.Slots = append([]int{}, o.Slots...)
		s.Summaries = make([]Summary, len(o.Summaries))
		for i := range s.Summaries {
			s.Summaries[i] = newSummary(s.Needs)
		}
	}
	if !slices.Equal(s.Slots, o.Slots) {
		return fmt.Errorf("calibrate: merging %v slots into %v", o.Slots, s.Slots)
	}
	for i := range s.Summaries {
		if err := s.Summaries[i].Merge(&o.Summaries[i]); err != nil {
			return fmt.Errorf("calibrate: slot %d: %w", i, err)
		}
	}
	return nil
}

// Ranges applies m to every slot.
func (s *TensorStats) Ranges(m Method, t Target) ([]Range, error) {
	if len(s.Summaries) == 0 {
		return nil, fmt.Errorf("calibrate: %w", ErrNoData)
	}
	var inf uint64
	for i := range s.Summaries {
		inf += s.Summaries[i].Inf
	}
	if inf > 0 {
		return nil, fmt.Errorf("calibrate: %d values were ±Inf: %w", inf, ErrInfinite)
	}
	r := make([]Range, len(s.Summaries))
	var errs []error
	for i := range s.Summaries {
		var err error
		r[i], err = m.Range(&s.Summaries[i], t)
		if err != nil {
			errs = append(errs, fmt.Errorf("slot %d: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("calibrate: %s: %w", m, err)
	}
	return r, nil
}
