package calibrate

import (
	"errors"
	"fmt"
	"math"
)

// ErrNonFinite is wrapped by Observe when a tensor holds NaN.
var ErrNonFinite = errors.New("not finite")

// ErrInfinite is wrapped by Ranges when a tensor held ±Inf: no affine
// range represents it (an additive attention mask of -Inf is the usual
// cause), so the tensor must stay in float.
var ErrInfinite = errors.New("holds infinite values")

// ErrNoData is wrapped by a Method when a slot saw no values.
var ErrNoData = errors.New("no values observed")

// Needs says which statistics to collect besides count, zeros, min and max.
// Methods declare what they read; the needs of several methods combine with
// Union.
type Needs struct {
	// HistogramBins is the most bins a histogram may have; 0: no histogram.
	HistogramBins int `json:"histogram_bins,omitempty"`
	// MovingAverage is the constant of the moving-average min/max; 0: none.
	MovingAverage float64 `json:"moving_average,omitempty"`
}

// Union collects what n and o need. Two different moving-average constants
// cannot be collected at once and are an error.
func (n Needs) Union(o Needs) (Needs, error) {
	n.HistogramBins = max(n.HistogramBins, o.HistogramBins)
	if o.MovingAverage != 0 {
		if n.MovingAverage != 0 && n.MovingAverage != o.MovingAverage {
			return n, fmt.Errorf("moving averages with constants %g and %g", n.MovingAverage, o.MovingAverage)
		}
		n.MovingAverage = o.MovingAverage
	}
	return n, nil
}

// Summary is what is known about the values of one slot (a tensor, a
// channel or a group): exact count, number of exact zeros, minimum and
// maximum, and on request a histogram and a moving average. Everything but
// the moving average merges exactly and independently of order.
type Summary struct {
	Count uint64 `json:"count"`
	Zeros uint64 `json:"zeros"`
	// Inf counts the ±Inf values seen; they are not in Count, Min, Max or
	// the histogram.
	Inf  uint64         `json:"inf,omitempty"`
	Min  float32        `json:"min"`
	Max  float32        `json:"max"`
	Hist *Histogram     `json:"hist,omitempty"`
	EMA  *MovingAverage `json:"ema,omitempty"`
}

func newSummary(n Needs) Summary {
	var s Summary
	if n.HistogramBins > 0 {
		s.Hist = NewHistogram(n.HistogramBins)
	}
	if n.MovingAverage > 0 {
		s.EMA = &MovingAverage{Constant: n.MovingAverage}
	}
	return s
}

// scan returns the extremes, zero count and count of the finite values of
// runs and the number of ±Inf values, or the first NaN's position.
func scan(runs [][]float32) (lo, hi float32, zeros, n, inf uint64, badAt int, ok bool) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	pos := 0
	for _, r := range runs {
		for i, x := range r {
			if x-x != 0 { // NaN or ±Inf
				if x != x {
					return 0, 0, 0, 0, 0, pos + i, false
				}
				inf++
				continue
			}
			if x < lo {
				lo = x
			}
			if x > hi {
				hi = x
			}
			if x == 0 {
				zeros++
			}
		}
		pos += len(r)
		n += uint64(len(r))
	}
	return lo, hi, zeros, n - inf, inf, -1, true
}

// finiteRuns returns runs without their ±Inf values (copied only when
// some are present).
func finiteRuns(runs [][]float32, inf uint64) [][]float32 {
	if inf == 0 {
		return runs
	}
	var out [][]float32
	for _, r := range runs {
		f := make([]float32, 0, len(r))
		for _, x := range r {
			if x-x == 0 {
				f = append(f, x)
			}
		}
		out = append(out, f)
	}
	return out
}

// add observes one batch of values of this slot, already checked finite.
func (s *Summary) add(runs [][]float32, lo, hi float32, zeros, n uint64) {
	if n == 0 {
		return
	}
	if s.Count == 0 {
		s.Min, s.Max = lo, hi
	} else {
		s.Min, s.Max = min(s.Min, lo), max(s.Max, hi)
	}
	s.Count += n
	s.Zeros += zeros
	if s.Hist != nil {
		s.Hist.addRuns(runs, lo, hi)
	}
	if s.EMA != nil {
		s.EMA.add(float64(lo), float64(hi))
	}
}

// Merge adds the values o summarises. For the moving average, o's batches
// count as coming after s's.
func (s *Summary) Merge(o *Summary) error {
	if (s.Hist == nil) != (o.Hist == nil) || (s.EMA == nil) != (o.EMA == nil) {
		return errors.New("summaries collected different statistics")
	}
	s.Inf += o.Inf
	if s.Hist != nil {
		if err := s.Hist.Merge(o.Hist); err != nil {
			return err
		}
	}
	if s.EMA != nil {
		if err := s.EMA.Merge(o.EMA); err != nil {
			return err
		}
	}
	if o.Count == 0 {
		return nil
	}
	if s.Count == 0 {
		s.Min, s.Max = o.Min, o.Max
	} else {
		s.Min, s.Max = min(s.Min, o.Min), max(s.Max, o.Max)
	}
	s.Count += o.Count
	s.Zeros += o.Zeros
	return nil
}

// MovingAverage is the exponential moving average of per-batch minima and
// maxima, as ONNX Runtime's and PyTorch's moving-average observers compute
// it: the first batch sets the value, each later batch b moves it by
// Constant·(b - value).
//
// It is kept as a segment that can be appended to another: after batches
// f, m2, ..., mT the average is D·f + A, where D = (1-c)^(T-1) and A is the
// average of m2..mT started from 0. Appending a segment (T', f', A') to a
// state E gives D'·((1-c)·E + c·f') + A', so shards merged in their order
// give the average over all batches in that order. The result depends on
// the order and the batch boundaries of the data by definition; merged shards
// equal one run up to float64 rounding (about 1e-16 relative, far below
// float32 precision) when the shards are consecutive runs of whole batches,
// which is how Run splits the data.
type MovingAverage struct {
	Constant float64 `json:"constant"`
	Batches  uint64  `json:"batches"`
	FirstMin float64 `json:"first_min"`
	FirstMax float64 `json:"first_max"`
	RestMin  float64 `json:"rest_min"`
	RestMax  float64 `json:"rest_max"`
	// Decay is (1-Constant)^(Batches-1), kept to avoid recomputing powers.
	Decay float64 `json:"decay"`
}

func (m *MovingAverage) add(lo, hi float64) {
	c := m.Constant
	if m.Batches == 0 {
		m.FirstMin, m.FirstMax, m.Decay = lo, hi, 1
	} else {
		m.RestMin = m.RestMin + c*(lo-m.RestMin)
		m.RestMax = m.RestMax + c*(hi-m.RestMax)
		m.Decay *= 1 - c
	}
	m.Batches++
}

// Value is the current average minimum and maximum.
func (m *MovingAverage) Value() (lo, hi float64) {
	return m.Decay*m.FirstMin + m.RestMin, m.Decay*m.FirstMax + m.RestMax
}

// Merge appends o's batches after m's.
func (m *MovingAverage) Merge(o *MovingAverage) error {
	if m.Constant != o.Constant {
		return fmt.Errorf("moving averages with constants %g and %g", m.Constant, o.Constant)
	}
	switch {
	case o.Batches == 0:
		return nil
	case m.Batches == 0:
		*m = *o
		return nil
	}
	c := m.Constant
	m.RestMin = o.Decay*((1-c)*m.RestMin+c*o.FirstMin) + o.RestMin
	m.RestMax = o.Decay*((1-c)*m.RestMax+c*o.FirstMax) + o.RestMax
	m.Decay *= (1 - c) * o.Decay
	m.Batches += o.Batches
	return nil
}
