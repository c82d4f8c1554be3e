package calibrate

import (
	"fmt"
	"math"
)

// minExp is the finest bin width, 2^-149: every float32 is a multiple of it,
// so finer bins could not separate more values.
const minExp = -149

// maxIndex bounds bin indices so that they fit an int64 with room to spare.
const maxIndex = 1 << 62

// A Histogram counts values in bins of width 2^Exp aligned on multiples of
// that width: bin i holds the values x with i·2^Exp <= x < (i+1)·2^Exp.
// Counts[j] is bin Offset+j; Counts starts and ends with a non-zero count.
//
// The width is the finest power of two (not below 2^-149) at which all the
// values seen fit in MaxBins bins. When new values widen the range, the width
// doubles and pairs of bins are added together, which is exact because
// floor(floor(x/w)/2) = floor(x/2w). The histogram is therefore a function of
// the multiset of values alone: the order in which they arrive, the way they
// are split into batches and the order in which histograms are merged do not
// change a single count.
type Histogram struct {
	MaxBins int      `json:"max_bins"`
	Exp     int      `json:"exp"`
	Offset  int64    `json:"offset"`
	Counts  []uint64 `json:"counts"`
}

// NewHistogram returns an empty histogram of at most maxBins bins (at least 2).
func NewHistogram(maxBins int) *Histogram {
	if maxBins < 2 {
		maxBins = 2
	}
	return &Histogram{MaxBins: maxBins, Exp: minExp}
}

// Width is the bin width, 2^Exp.
func (h *Histogram) Width() float64 { return math.Ldexp(1, h.Exp) }

// Total is the number of values counted.
func (h *Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

func floorDiv2(i int64) int64 { return i >> 1 } // arithmetic shift floors

func indexAt(x float64, exp int) float64 { return math.Floor(math.Ldexp(x, -exp)) }

// fits reports whether [lo, hi] (values) fits at width 2^exp.
func fitsAt(lo, hi float64, exp, maxBins int) bool {
	a, b := indexAt(lo, exp), indexAt(hi, exp)
	return b-a+1 <= float64(maxBins) && math.Abs(a) < maxIndex && math.Abs(b) < maxIndex
}

// grow makes the histogram able to hold values in [lo, hi] (finite), by
// coarsening as little as needed.
func (h *Histogram) grow(lo, hi float64) {
	if len(h.Counts) > 0 {
		w := h.Width()
		lo = math.Min(lo, float64(h.Offset)*w)
		hi = math.Max(hi, float64(h.Offset+int64(len(h.Counts))-1)*w)
	} else {
		// Jump close to the answer; the loop below settles it exactly.
		e := minExp
		if d := hi - lo; d > 0 {
			e = max(e, int(math.Ceil(math.Log2(d/float64(h.MaxBins))))-1)
		}
		if m := math.Max(math.Abs(lo), math.Abs(hi)); m > 0 {
			e = max(e, int(math.Floor(math.Log2(m)))-63)
		}
		h.Exp = e
	}
	e := h.Exp
	for !fitsAt(lo, hi, e, h.MaxBins) {
		e++
	}
	h.coarsen(e)
	h.cover(int64(indexAt(lo, h.Exp)), int64(indexAt(hi, h.Exp)))
}

// coarsen re-bins to width 2^exp (exp >= h.Exp).
func (h *Histogram) coarsen(exp int) {
	if exp <= h.Exp {
		return
	}
	if len(h.Counts) == 0 {
		h.Exp = exp
		return
	}
	shift := uint(exp - h.Exp)
	first := h.Offset >> shift
	last := (h.Offset + int64(len(h.Counts)) - 1) >> shift
	c := make([]uint64, last-first+1)
	for j, n := range h.Counts {
		c[((h.Offset+int64(j))>>shift)-first] += n
	}
	h.Exp, h.Offset, h.Counts = exp, first, c
}

// cover extends Counts to hold bins first..last.
func (h *Histogram) cover(first, last int64) {
	if len(h.Counts) == 0 {
		h.Offset, h.Counts = first, make([]uint64, last-first+1)
		return
	}
	curLast := h.Offset + int64(len(h.Counts)) - 1
	if first >= h.Offset && last <= curLast {
		return
	}
	nf, nl := min(first, h.Offset), max(last, curLast)
	c := make([]uint64, nl-nf+1)
	copy(c[h.Offset-nf:], h.Counts)
	h.Offset, h.Counts = nf, c
}

// trim drops empty bins at both ends, the canonical form.
func (h *Histogram) trim() {
	i, j := 0, len(h.Counts)
	for i < j && h.Counts[i] == 0 {
		i++
	}
	for j > i && h.Counts[j-1] == 0 {
		j--
	}
	if i == j {
		h.Counts, h.Offset = nil, 0
		return
	}
	h.Offset += int64(i)
	h.Counts = h.Counts[i:j:j]
}

// addRuns counts the values of runs, which must be finite and lie in
// [lo, hi].
func (h *Histogram) addRuns(runs [][]float32, lo, hi float32) {
	h.grow(float64(lo), float64(hi))
	scale := math.Ldexp(1, -h.Exp)
	off := h.Offset
	for _, r := range runs {
		for _, x := range r {
			h.Counts[int64(math.Floor(float64(x)*scale))-off]++
		}
	}
	h.trim()
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) error {
	if h.MaxBins != o.MaxBins {
		return fmt.Errorf("histograms of %d and %d bins", h.MaxBins, o.MaxBins)
	}
	if len(o.Counts) == 0 {
		return nil
	}
	oc := &Histogram{MaxBins: o.MaxBins, Exp: o.Exp, Offset: o.Offset, Counts: append([]uint64(nil), o.Counts...)}
	if len(h.Counts) == 0 {
		*h = *oc
		return nil
	}
	e := max(h.Exp, oc.Exp)
	h.coarsen(e)
	oc.coarsen(e)
	w := math.Ldexp(1, e)
	lo, hi := float64(oc.Offset)*w, float64(oc.Offset+int64(len(oc.Counts))-1)*w
	h.grow(lo, hi)
	oc.coarsen(h.Exp)
	for j, n := range oc.Counts {
		h.Counts[oc.Offset+int64(j)-h.Offset] += n
	}
	h.trim()
	return nil
}

// bin is one non-empty histogram bin: [Lo, Hi) holding N values.
type bin struct {
	Lo, Hi float64
	N      float64
}

func (h *Histogram) bins() []bin {
	w := h.Width()
	b := make([]bin, 0, len(h.Counts))
	for j, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo := float64(h.Offset+int64(j)) * w
		b = append(b, bin{lo, lo + w, float64(n)})
	}
	return b
}

// folded returns the histogram of |x|: counts[i] for |x| in
// [(base+i)·w, (base+i+1)·w). The grid is symmetric about 0, so folding is
// exact.
func (h *Histogram) folded() (counts []float64, base int64, w float64) {
	w = h.Width()
	fold := func(i int64) int64 {
		if i < 0 {
			return -i - 1
		}
		return i
	}
	base, top := int64(math.MaxInt64), int64(math.MinInt64)
	for j := range h.Counts {
		i := fold(h.Offset + int64(j))
		base, top = min(base, i), max(top, i)
	}
	if top < base {
		return nil, 0, w
	}
	counts = make([]float64, top-base+1)
	for j, n := range h.Counts {
		counts[fold(h.Offset+int64(j))-base] += float64(n)
	}
	return counts, base, w
}
