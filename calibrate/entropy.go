package calibrate

import (
	"math"
	"strconv"
)

// Entropy is TensorRT's calibration: over a histogram of |x| with Bins bins
// on [0, max|x|] (default 2048), it tries every threshold of i bins from
// StartBins to Bins, quantizes the kept bins into StartBins levels, and keeps
// the threshold whose quantized distribution is closest to the original in
// Kullback-Leibler divergence (the clipped values are added to the last
// kept bin of the original, so clipping costs divergence). StartBins 0 means
// the number of levels of the target on one side: 128 for int8, 256 for
// uint8 data that is one-sided.
//
// ONNX Runtime's default of 128 bins with 128 levels leaves one candidate,
// the whole range, so it is not used as a default here.
type Entropy struct {
	Bins      int
	StartBins int
}

func (m Entropy) bins() int {
	if m.Bins <= 0 {
		return 2048
	}
	return m.Bins
}

func (m Entropy) String() string {
	if m.Bins == 0 && m.StartBins == 0 {
		return "entropy"
	}
	return "entropy(" + strconv.Itoa(m.bins()) + "," + strconv.Itoa(m.StartBins) + ")"
}

// Needs asks for a histogram.
func (Entropy) Needs() Needs { return Needs{HistogramBins: DefaultHistogramBins} }

// Range returns [-T, T] cut to [min, max] for the threshold T of least
// divergence, or [min, max] where that clips at a loss (see guardClip).
func (m Entropy) Range(s *Summary, t Target) (Range, error) {
	if err := needHist(s); err != nil {
		return Range{}, err
	}
	amax := math.Max(math.Abs(float64(s.Min)), math.Abs(float64(s.Max)))
	if amax == 0 {
		return Range{s.Min, s.Max}, nil
	}
	nb := m.bins()
	levels := m.StartBins
	if levels <= 0 {
		levels = levelsOnPositiveSide(s, t) + 1
	}
	counts, base, w := s.Hist.folded()
	// Exact zeros (half of a ReLU's output) are represented exactly by the
	// zero point whatever the threshold. Left in, their spike dominates the
	// divergence, which then favours thresholds so small that the chunk
	// holding the spike stays narrow: post-ReLU ranges came out at a
	// quarter of their sensible size.
	if base == 0 && len(counts) > 0 {
		counts[0] = math.Max(0, counts[0]-float64(s.Zeros))
	}
	h := resample(counts, base, w, amax, nb)
	i := klThreshold(h, levels)
	T := float32(float64(i) * amax / float64(nb))
	return guardClip(s, t, Range{Lo: max(s.Min, -T), Hi: min(s.Max, T)}), nil
}

// resample spreads the counts of bins of width w evenly over nb bins on
// [0, amax], assuming values uniform within a bin (cut at amax).
func resample(counts []float64, base int64, w, amax float64, nb int) []float64 {
	out := make([]float64, nb)
	W := amax / float64(nb)
	for i, n := range counts {
		if n == 0 {
			continue
		}
		a, b := float64(base+int64(i))*w, math.Min(float64(base+int64(i)+1)*w, amax)
		if b <= a { // only values equal to amax in a bin starting at amax
			out[nb-1] += n
			continue
		}
		dens := n / (b - a)
		j0 := min(int(a/W), nb-1)
		j1 := min(int(math.Ceil(b/W)), nb)
		for j := j0; j < j1; j++ {
			lo, hi := math.Max(a, float64(j)*W), math.Min(b, float64(j+1)*W)
			if j == nb-1 {
				hi = b
			}
			if hi > lo {
				out[j] += dens * (hi - lo)
			}
		}
	}
	return out
}

// klThreshold returns the number of kept bins with the least divergence.
func klThreshold(h []float64, levels int) int {
	nb := len(h)
	if levels >= nb {
		return nb
	}
	suffix := make([]float64, nb+1)
	for i := nb - 1; i >= 0; i-- {
		suffix[i] = suffix[i+1] + h[i]
	}
	best, bestI := math.Inf(1), nb
	p := make([]float64, nb)
	q := make([]float64, nb)
	for i := levels; i <= nb; i++ {
		copy(p, h[:i])
		p[i-1] += suffix[i]
		// Quantize h[:i] into levels chunks and spread each chunk's total
		// evenly over the bins of the chunk that p has values in.
		for l := 0; l < levels; l++ {
			start, end := l*i/levels, (l+1)*i/levels
			var sum float64
			nz := 0
			for j := start; j < end; j++ {
				sum += h[j]
				if p[j] != 0 {
					nz++
				}
			}
			for j := start; j < end; j++ {
				q[j] = 0
				if p[j] != 0 {
					q[j] = sum / float64(nz)
				}
			}
		}
		d := divergence(p[:i], q[:i])
		if d < best {
			best, bestI = d, i
		}
	}
	return bestI
}

// divergence is KL(p || q) of the normalised distributions, with q
// smoothed where it is 0 and p is not (as TensorRT and MXNet do).
func divergence(p, q []float64) float64 {
	var sp, sq float64
	zeros := 0
	for j := range p {
		sp += p[j]
		sq += q[j]
		if p[j] != 0 && q[j] == 0 {
			zeros++
		}
	}
	if sp == 0 {
		return 0
	}
	if sq == 0 {
		return math.Inf(1)
	}
	const eps = 1e-4
	shift := 0.0
	nonzero := 0
	for j := range q {
		if q[j] != 0 {
			nonzero++
		}
	}
	if zeros > 0 && nonzero > 0 {
		shift = eps * float64(zeros) / float64(nonzero)
	}
	var d float64
	for j := range p {
		if p[j] == 0 {
			continue
		}
		pj := p[j] / sp
		qj := q[j] / sq
		if qj == 0 {
			qj = eps
		} else {
			qj -= shift
			if qj <= 0 {
				qj = eps
			}
		}
		d += pj * math.Log(pj/qj)
	}
	return d
}
