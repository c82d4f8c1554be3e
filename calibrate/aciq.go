package calibrate

import (
	"fmt"
	"math"
)

// Dist is the distribution ACIQ assumes for a tensor's values.
type Dist int

// The distributions ACIQ has a closed-form error model for.
const (
	Laplace Dist = iota
	Gauss
)

func (d Dist) String() string {
	switch d {
	case Laplace:
		return "laplace"
	case Gauss:
		return "gauss"
	}
	return fmt.Sprintf("Dist(%d)", int(d))
}

// ClipRatio is ACIQ's optimal clipping value α for a unit-scale
// distribution (Laplace with b = 1, Gauss with σ = 1) quantized with levels
// uniform steps on [0, α]: the α that minimises the expected squared error
//
//	clip(α) + α²/(12·levels²)
//
// where clip(α) is the error of the values beyond ±α: 2·e^-α for Laplace
// (the seed's 2b²e^(-α/b)) and 2·((1+α²)·Q(α) - α·φ(α)) for Gauss, and the
// second term is the rounding noise of a step α/levels. Both sides of a
// zero-centred distribution and the one side of a half-distribution (ReLU
// output, values beyond 0 only) have the same clipping error, so a
// two-sided M-bit range uses levels = 2^(M-1) and a one-sided M-bit range
// levels = 2^M. The derivative of the error is increasing in α, so its one
// root is found by bisection to full float64 precision.
func ClipRatio(d Dist, levels float64) float64 {
	noise := 1 / (6 * levels * levels) // d/dα of α²/(12 L²) is α/(6 L²)
	deriv := func(a float64) float64 {
		switch d {
		case Gauss:
			q := 0.5 * math.Erfc(a/math.Sqrt2)
			phi := math.Exp(-a*a/2) / math.Sqrt(2*math.Pi)
			return 4*(a*q-phi) + a*noise
		default:
			return -2*math.Exp(-a) + a*noise
		}
	}
	lo, hi := 0.0, 1.0
	for deriv(hi) < 0 {
		lo, hi = hi, 2*hi
	}
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if deriv(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// ACIQAlpha is the optimal α/b (Laplace) or α/σ (Gauss) of a symmetric
// range [-α, α] quantized to bits bits: ClipRatio with 2^(bits-1) levels.
func ACIQAlpha(d Dist, bits int) float64 {
	return ClipRatio(d, math.Ldexp(1, bits-1))
}

// ACIQ is the analytic clipping of Banner et al. ("ACIQ: Analytical Clipping
// for Integer Quantization"): it fits a Laplace or Gauss distribution to the
// tensor and clips at the α that minimises the model's expected squared
// error for the target bit width.
//
// A two-sided tensor is centred at its mean μ; b = E|X - μ| (Laplace) or σ
// (Gauss) is estimated from the histogram, and the range is [μ-α, μ+α]
// intersected with [min, max]. A one-sided tensor (all values >= 0, as after
// ReLU; or all <= 0) is taken as the half-distribution of its non-zero
// values: b = E[X | X > 0] (exponential fit) or σ² = E[X² | X > 0]
// (half-normal fit), with one range end at 0; exact zeros are counted apart
// so that a large fraction of ReLU zeros does not shrink the estimate.
type ACIQ struct {
	Dist Dist
}

func (m ACIQ) String() string { return "aciq-" + m.Dist.String() }

// Needs reports that ACIQ reads the histogram.
func (ACIQ) Needs() Needs { return Needs{HistogramBins: DefaultHistogramBins} }

// Range estimates the distribution's scale and clips at the optimal α, or
// returns [min, max] where that clips at a loss (see guardClip).
func (m ACIQ) Range(s *Summary, t Target) (Range, error) {
	if err := needHist(s); err != nil {
		return Range{}, err
	}
	r := m.fit(s, t)
	return guardClip(s, t, r), nil
}

// fit is ACIQ's range for s's fitted distribution.
func (m ACIQ) fit(s *Summary, t Target) Range {
	bins := s.Hist.bins()
	if s.Min == s.Max {
		return Range{s.Min, s.Max}
	}
	bits := t.Type.Bits
	if s.Min < 0 && s.Max > 0 {
		var n, sum float64
		for _, b := range bins {
			n += b.N
			sum += b.N * (b.Lo + b.Hi) / 2
		}
		mu := sum / n
		var dev, sq float64
		for _, b := range bins {
			d := (b.Lo+b.Hi)/2 - mu
			dev += b.N * math.Abs(d)
			sq += b.N * d * d
		}
		scale := dev / n
		if m.Dist == Gauss {
			scale = math.Sqrt(sq / n)
		}
		a := ClipRatio(m.Dist, math.Ldexp(1, bits-1)) * scale
		return Range{
			Lo: max(s.Min, float32(mu-a)),
			Hi: min(s.Max, float32(mu+a)),
		}
	}
	// One-sided: fold to x >= 0.
	sign := 1.0
	if s.Max <= 0 {
		sign = -1
	}
	var pos, sum, sq float64
	zeros := float64(s.Zeros)
	for _, b := range bins {
		lo, hi := b.Lo*sign, b.Hi*sign
		if lo > hi {
			lo, hi = hi, lo
		}
		c, n := (lo+hi)/2, b.N
		if lo <= 0 && hi >= 0 && zeros > 0 { // the bin that holds the exact zeros
			take := math.Min(zeros, n)
			n -= take
			zeros -= take
		}
		pos += n
		sum += n * c
		sq += n * c * c
	}
	if pos == 0 {
		return Range{}
	}
	scale := sum / pos
	if m.Dist == Gauss {
		scale = math.Sqrt(sq / pos)
	}
	levels := math.Ldexp(1, bits)
	if t.Symmetric {
		levels = math.Ldexp(1, bits-1)
	}
	a := ClipRatio(m.Dist, levels) * scale
	if sign > 0 {
		return Range{Lo: 0, Hi: min(s.Max, float32(a))}
	}
	return Range{Lo: max(s.Min, float32(-a)), Hi: 0}
}
