package calibrate

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ptq-dev/ptq/quant"
)

// DefaultHistogramBins is the histogram size the histogram methods ask for.
// The histogram keeps between half of it and all of it in use (its bin
// width is a power of two), so 8192 gives at least 4096 bins over the data.
const DefaultHistogramBins = 8192

// Target is what a range will be used for: the integer type and whether the
// parameters will be symmetric. Methods that weigh rounding error against
// clipping error need it.
type Target struct {
	Type      quant.Type
	Symmetric bool
}

// Range is a clipping range [Lo, Hi]. quant.ParamsFor turns it into a scale
// and a zero point (extending it to contain 0).
type Range struct {
	Lo, Hi float32
}

// A Method turns the statistics of one slot into a clipping range. It does
// not see the data: everything it reads is in the Summary, so ranges from
// merged statistics equal ranges from one run over all the data.
type Method interface {
	// Needs reports the statistics the method reads.
	Needs() Needs
	// Range computes the range of one slot.
	Range(s *Summary, t Target) (Range, error)
	// String is the method's name as ParseMethod accepts it.
	String() string
}

// MinMax is the range of the values: [min, max].
type MinMax struct{}

func (MinMax) String() string { return "minmax" }

// Needs reports that MinMax reads only min and max.
func (MinMax) Needs() Needs { return Needs{} }

// Range returns [min, max].
func (MinMax) Range(s *Summary, t Target) (Range, error) {
	if s.Count == 0 {
		return Range{}, ErrNoData
	}
	return Range{s.Min, s.Max}, nil
}

// MovingAverageMinMax is the exponential moving average of each batch's
// minimum and maximum with the given constant (0 means 0.01, the constant of
// ONNX Runtime and PyTorch). It depends on the order of the batches and on
// the batch size; see MovingAverage for how shards combine.
type MovingAverageMinMax struct {
	Constant float64
}

func (m MovingAverageMinMax) constant() float64 {
	if m.Constant == 0 {
		return 0.01
	}
	return m.Constant
}

func (m MovingAverageMinMax) String() string {
	return "moving-average:" + strconv.FormatFloat(m.constant(), 'g', -1, 64)
}

// Needs asks for the moving average with m's constant.
func (m MovingAverageMinMax) Needs() Needs { return Needs{MovingAverage: m.constant()} }

// Range returns the averaged minimum and maximum.
func (m MovingAverageMinMax) Range(s *Summary, t Target) (Range, error) {
	if s.Count == 0 {
		return Range{}, ErrNoData
	}
	if s.EMA == nil || s.EMA.Constant != m.constant() {
		return Range{}, fmt.Errorf("the statistics have no moving average with constant %g (collect them with --method %s)", m.constant(), m)
	}
	lo, hi := s.EMA.Value()
	return Range{float32(lo), float32(hi)}, nil
}

// Percentile clips at a percentile of the values. One-sided (the default)
// it takes the Percentile-th percentile of |x| as the bound of both ends,
// [-T, T] cut to [min, max]; TwoSided takes the lower and upper percentiles
// that leave (100-Percentile)/2 per cent of the values out at each end.
// Percentiles are interpolated linearly within a histogram bin. Percentile 0
// means 99.999.
type Percentile struct {
	Percentile float64
	TwoSided   bool
}

func (m Percentile) p() float64 {
	if m.Percentile == 0 {
		return 99.999
	}
	return m.Percentile
}

func (m Percentile) String() string {
	name := "percentile"
	if m.TwoSided {
		name = "percentile-two-sided"
	}
	return name + ":" + strconv.FormatFloat(m.p(), 'g', -1, 64)
}

// Needs asks for a histogram.
func (Percentile) Needs() Needs { return Needs{HistogramBins: DefaultHistogramBins} }

// Range returns the percentile bounds.
func (m Percentile) Range(s *Summary, t Target) (Range, error) {
	if err := needHist(s); err != nil {
		return Range{}, err
	}
	p := m.p()
	if !(p > 0 && p <= 100) {
		return Range{}, fmt.Errorf("percentile %g outside (0, 100]", p)
	}
	if m.TwoSided {
		bins := s.Hist.bins()
		n := float64(s.Count)
		tail := (100 - p) / 200 * n
		return Range{
			Lo: max(s.Min, float32(quantileOf(bins, tail))),
			Hi: min(s.Max, float32(quantileOf(bins, n-tail))),
		}, nil
	}
	counts, base, w := s.Hist.folded()
	T := float32(cumulativeAt(counts, base, w, p/100*float64(s.Count)))
	return Range{Lo: max(s.Min, -T), Hi: min(s.Max, T)}, nil
}

// quantileOf is the value below which k of the values lie.
func quantileOf(bins []bin, k float64) float64 {
	var cum float64
	for _, b := range bins {
		if cum+b.N >= k {
			return b.Lo + (b.Hi-b.Lo)*(k-cum)/b.N
		}
		cum += b.N
	}
	return bins[len(bins)-1].Hi
}

// cumulativeAt is the value below which k of the values of the folded
// histogram counts lie.
func cumulativeAt(counts []float64, base int64, w, k float64) float64 {
	var cum float64
	for i, n := range counts {
		if n > 0 && cum+n >= k {
			return (float64(base+int64(i)) + (k-cum)/n) * w
		}
		cum += n
	}
	return float64(base+int64(len(counts))) * w
}

func needHist(s *Summary) error {
	if s.Count == 0 {
		return ErrNoData
	}
	if s.Hist == nil {
		return fmt.Errorf("the statistics have no histogram (collect them with a histogram method such as --method entropy)")
	}
	return nil
}

// levelsOnPositiveSide is how many quantization steps cover [0, T] when a
// range [-T, T] (or [0, T] for one-sided data) is quantized to t.
func levelsOnPositiveSide(s *Summary, t Target) int {
	oneSided := s.Min >= 0 || s.Max <= 0
	if oneSided && !t.Symmetric {
		return 1<<t.Type.Bits - 1
	}
	return 1<<(t.Type.Bits-1) - 1
}

// ParseMethod reads a method name as the command line gives it: minmax,
// moving-average[:C], percentile[:P], percentile-two-sided[:P], entropy,
// mse, aciq-laplace, aciq-gauss.
func ParseMethod(name string) (Method, error) {
	base, arg, hasArg := strings.Cut(strings.ToLower(strings.TrimSpace(name)), ":")
	num := func() (float64, error) {
		if !hasArg {
			return 0, nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || math.IsNaN(v) {
			return 0, fmt.Errorf("method %q: bad number %q", name, arg)
		}
		return v, nil
	}
	v, err := num()
	if err != nil {
		return nil, err
	}
	noArg := func(m Method) (Method, error) {
		if hasArg {
			return nil, fmt.Errorf("method %q takes no parameter", base)
		}
		return m, nil
	}
	switch base {
	case "minmax":
		return noArg(MinMax{})
	case "moving-average", "ema":
		if hasArg && !(v > 0 && v <= 1) {
			return nil, fmt.Errorf("method %q: constant %g outside (0, 1]", name, v)
		}
		return MovingAverageMinMax{Constant: v}, nil
	case "percentile", "percentile-two-sided":
		if hasArg && !(v > 0 && v <= 100) {
			return nil, fmt.Errorf("method %q: percentile %g outside (0, 100]", name, v)
		}
		return Percentile{Percentile: v, TwoSided: base == "percentile-two-sided"}, nil
	case "entropy", "kl":
		return noArg(Entropy{})
	case "mse":
		return noArg(MSE{})
	case "aciq-laplace":
		return noArg(ACIQ{Dist: Laplace})
	case "aciq-gauss":
		return noArg(ACIQ{Dist: Gauss})
	}
	return nil, fmt.Errorf("unknown calibration method %q (want minmax, moving-average[:C], percentile[:P], percentile-two-sided[:P], entropy, mse, aciq-laplace or aciq-gauss)", name)
}
