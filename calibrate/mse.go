package calibrate

import (
	"math"

	"github.com/ptq-dev/ptq/quant"
)

// MSE clips where the expected squared quantization error over the
// histogram is least. Values inside the range cost the rounding noise of a
// uniform quantizer, step²/12 each; values outside cost their squared
// distance to the range end (plus the spread of their bin, w²/12). Unlike
// PyTorch's HistogramObserver, which stops at the first increase of the
// error, the whole curve is searched: for a bound of a symmetric or
// one-sided range, every edge on a grid of about 512 bin edges, then every
// edge near the best, with the rounding error integrated exactly; for an
// asymmetric two-sided range every pair of edges on such a grid per side,
// then every pair near the best, with the step²/12 noise model. Exact zeros
// cost nothing: the zero point represents them exactly.
type MSE struct{}

func (MSE) String() string { return "mse" }

// Needs asks for a histogram.
func (MSE) Needs() Needs { return Needs{HistogramBins: DefaultHistogramBins} }

// Range returns the range of least expected error.
func (MSE) Range(s *Summary, t Target) (Range, error) {
	if err := needHist(s); err != nil {
		return Range{}, err
	}
	if s.Min == s.Max {
		return Range{s.Min, s.Max}, nil
	}
	twoSided := s.Min < 0 && s.Max > 0
	if t.Symmetric || !twoSided {
		T := bestBound(s, t)
		return Range{Lo: max(s.Min, float32(-T)), Hi: min(s.Max, float32(T))}, nil
	}
	lo, hi := bestPair(s, float64(int(1)<<t.Type.Bits-1))
	return Range{Lo: float32(lo), Hi: float32(hi)}, nil
}

// moments are prefix sums of count, count·x and count·x² over bins.
type moments struct{ n, s1, s2 []float64 }

func prefix(counts []float64, center func(i int) float64) moments {
	m := moments{make([]float64, len(counts)+1), make([]float64, len(counts)+1), make([]float64, len(counts)+1)}
	for i, c := range counts {
		x := center(i)
		m.n[i+1] = m.n[i] + c
		m.s1[i+1] = m.s1[i] + c*x
		m.s2[i+1] = m.s2[i] + c*x*x
	}
	return m
}

// clipCost is Σ count·((x - v)² + w²/12) over bins [i, j).
func (m moments) clipCost(i, j int, v, w float64) float64 {
	n := m.n[j] - m.n[i]
	s1 := m.s1[j] - m.s1[i]
	s2 := m.s2[j] - m.s2[i]
	return math.Max(0, s2-2*v*s1+v*v*n) + n*w*w/12
}

// roundingIntegral is ∫_0^x (t - s·round(t/s))² dt, the squared rounding
// error of a grid of step s integrated from 0 to x: k whole periods of
// s³/12 and the cubic of the remainder.
func roundingIntegral(x, s float64) float64 {
	k := math.Floor(x/s + 0.5)
	u := x - k*s
	return k*s*s*s/12 + u*u*u/3
}

// bestBound searches the bound T of a symmetric range, or of the one end
// of a one-sided range, among the edges of the histogram of |x| (every
// stride-th edge, then every edge near the best). The representable interval
// is what quant.ParamsFor and saturation give: [-(h+1)·s, h·s] with
// s = T/h, h = 2^(bits-1)-1, for symmetric parameters (the most negative
// code is usable), [0, T] or [-T, 0] in 2^bits-1 steps otherwise. The error
// of every bin is integrated exactly, values taken uniform within a bin:
// rounding error inside the interval, squared distance to its end outside.
// Exact zeros cost nothing.
func bestBound(s *Summary, t Target) float64 {
	bins := s.Hist.bins()
	folded, base, w := s.Hist.folded()
	amax := math.Max(math.Abs(float64(s.Min)), math.Abs(float64(s.Max)))
	half := float64(int(1)<<(t.Type.Bits-1) - 1)
	full := float64(int(1)<<t.Type.Bits - 1)
	zeros := float64(s.Zeros)
	interval := func(T float64) (lo, hi, step float64) {
		switch {
		case t.Symmetric:
			step = T / half
			return -(half + 1) * step, T, step
		case s.Min >= 0:
			return 0, T, T / full
		default:
			return -T, 0, T / full
		}
	}
	cost := func(T float64) float64 {
		lo, hi, step := interval(T)
		return expectedError(bins, zeros, lo, hi, step)
	}
	k := len(folded)
	best, bestT, bestE := math.Inf(1), amax, k
	try := func(e int) {
		T := math.Min(float64(base+int64(e))*w, amax)
		if T <= 0 {
			return
		}
		if c := cost(T); c < best {
			best, bestT, bestE = c, T, e
		}
	}
	stride := max(1, k/512)
	for e := 0; e <= k; e += stride {
		try(e)
	}
	try(k)
	if stride > 1 {
		c := bestE
		for e := max(0, c-stride); e <= min(k, c+stride); e++ {
			try(e)
		}
	}
	return bestT
}

// expectedError is the squared error of quantizing the histogram's values
// onto the grid of the given step through 0, saturated to [lo, hi]: the
// rounding error inside, the distance to the nearer end outside, values
// taken uniform within a bin and integrated exactly. The first zeros
// values of the bin starting at 0 are exact zeros and cost nothing.
func expectedError(bins []bin, zeros, lo, hi, step float64) float64 {
	var c float64
	for _, b := range bins {
		n := b.N
		if b.Lo == 0 && zeros > 0 {
			n -= math.Min(n, zeros)
		}
		if n == 0 {
			continue
		}
		d := n / (b.Hi - b.Lo)
		if a, e := math.Max(b.Lo, lo), math.Min(b.Hi, hi); e > a {
			c += d * (roundingIntegral(e, step) - roundingIntegral(a, step))
		}
		if b.Hi > hi {
			a := math.Max(b.Lo, hi)
			c += d * cube(b.Hi-hi) / 3
			c -= d * cube(a-hi) / 3
		}
		if b.Lo < lo {
			e := math.Min(b.Hi, lo)
			c += d * cube(lo-b.Lo) / 3
			c -= d * cube(lo-e) / 3
		}
	}
	return c
}

// rangeError is expectedError for the parameters quant.ParamsFor gives r.
func rangeError(s *Summary, t Target, r Range) float64 {
	p := quant.ParamsFor(r.Lo, r.Hi, t.Type, t.Symmetric)
	step := float64(p.Scale)
	lo := float64(t.Type.Min()-p.ZeroPoint) * step
	hi := float64(t.Type.Max()-p.ZeroPoint) * step
	return expectedError(s.Hist.bins(), float64(s.Zeros), lo, hi, step)
}

// guardClip returns r, the range a model-based method (Entropy, ACIQ)
// chose, unless quantizing over it costs more than guardRatio times the
// expected squared error of not clipping at all; then the MSE range. Such
// methods fit a shape, not values, and misfit tensors far from their
// model: on PP-OCR rec, entropy clipped hard-swish outputs over
// [-0.375, 5.4] at 0.38 and sigmoid gates over [0, 1] at 0.23 (200 to
// 17,000 times the error of the whole range), and decoded no line right.
// Clipping a few far outliers, what these methods are for, costs a few
// times the whole range's error and is left alone.
func guardClip(s *Summary, t Target, r Range) Range {
	if s.Hist == nil || s.Min == s.Max {
		return r
	}
	if rangeError(s, t, r) <= guardRatio*rangeError(s, t, Range{Lo: s.Min, Hi: s.Max}) {
		return r
	}
	m, err := MSE{}.Range(s, t)
	if err != nil {
		return r
	}
	return m
}

// guardRatio is 10 dB.
const guardRatio = 10

func cube(x float64) float64 { return x * x * x }

// bestPair searches lo <= 0 <= hi on the histogram's edges.
func bestPair(s *Summary, steps float64) (float64, float64) {
	h := s.Hist
	w := h.Width()
	counts := make([]float64, len(h.Counts))
	for i, c := range h.Counts {
		counts[i] = float64(c)
	}
	m := prefix(counts, func(i int) float64 { return (float64(h.Offset+int64(i)) + 0.5) * w })
	k := len(counts)
	// Edge e is the lower edge of bin e (e = k: the upper edge of the last).
	// The edge at 0 is bin index 0 (Offset <= 0 < Offset+k for two-sided data).
	zero := int(-h.Offset)
	zeros := float64(s.Zeros) // exact, whatever the step
	edge := func(e int) float64 { return float64(h.Offset+int64(e)) * w }
	loAt := func(e int) float64 {
		if e == 0 {
			return float64(s.Min)
		}
		return edge(e)
	}
	hiAt := func(e int) float64 {
		if e == k {
			return float64(s.Max)
		}
		return edge(e)
	}
	cost := func(a, b int) float64 {
		lo, hi := loAt(a), hiAt(b)
		step := (hi - lo) / steps
		return (m.n[b]-m.n[a]-zeros)*step*step/12 + m.clipCost(0, a, lo, w) + m.clipCost(b, k, hi, w)
	}
	best, ba, bb := math.Inf(1), 0, k
	search := func(a0, a1, b0, b1, stride int) {
		for a := max(0, a0); a <= min(zero, a1); a += stride {
			for b := max(zero, b0); b <= min(k, b1); b += stride {
				if c := cost(a, b); c < best {
					best, ba, bb = c, a, b
				}
			}
		}
	}
	stride := max(1, max(zero, k-zero)/512)
	search(0, zero, zero, k, stride)
	// The coarse grid may miss the ends themselves.
	search(0, 0, zero, k, stride)
	search(0, zero, k, k, stride)
	if stride > 1 {
		search(ba-stride, ba+stride, bb-stride, bb+stride, 1)
	}
	return loAt(ba), hiAt(bb)
}
