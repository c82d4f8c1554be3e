package calibrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/tensor"
)

type sampler func(r *rand.Rand) float64

var dists = map[string]sampler{
	"laplace": func(r *rand.Rand) float64 { return r.ExpFloat64() * float64(1-2*r.IntN(2)) },
	"gauss":   func(r *rand.Rand) float64 { return r.NormFloat64() },
	"uniform": func(r *rand.Rand) float64 { return 2*r.Float64() - 1 },
	"student-t3": func(r *rand.Rand) float64 { // heavy tails
		z := r.NormFloat64()
		var c float64
		for range 3 {
			g := r.NormFloat64()
			c += g * g
		}
		return z / math.Sqrt(c/3)
	},
	"relu-gauss": func(r *rand.Rand) float64 { return math.Max(0, r.NormFloat64()) },
	"shifted":    func(r *rand.Rand) float64 { return 0.5 + r.NormFloat64()*0.2 + r.ExpFloat64()*0.1 },
}

func samples(name string, n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(dists[name](r))
	}
	return x
}

func observeAll(t *testing.T, o *TensorStats, xs []float32, batch int) {
	t.Helper()
	for i := 0; i < len(xs); i += batch {
		j := min(len(xs), i+batch)
		if err := o.Observe(tensor.FromFloat32(xs[i:j], j-i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHistogramKeepsEveryCountAndIsCanonical(t *testing.T) {
	xs := samples("student-t3", 20000, 1)
	// Growing ranges: the later samples widen the range many times.
	for i := range xs {
		xs[i] *= float32(1 + i/1000)
	}
	one := NewObserver(Granularity{}, Needs{HistogramBins: 256})
	observeAll(t, one, xs, 20000)
	small := NewObserver(Granularity{}, Needs{HistogramBins: 256})
	observeAll(t, small, xs, 37)
	h := small.Summaries[0].Hist
	if got := h.Total(); got != uint64(len(xs)) {
		t.Fatalf("histogram holds %d values, want %d", got, len(xs))
	}
	if len(h.Counts) > 256 || len(h.Counts) <= 128 {
		t.Errorf("%d bins in use, want (128, 256]", len(h.Counts))
	}
	a, _ := json.Marshal(one)
	b, _ := json.Marshal(small)
	if !bytes.Equal(a, b) {
		t.Errorf("batching changed the statistics:\n%s\n%s", a[:200], b[:200])
	}
	// Every value is in its bin.
	w := h.Width()
	for _, x := range xs[:500] {
		i := int64(math.Floor(float64(x) / w))
		if i < h.Offset || i >= h.Offset+int64(len(h.Counts)) || h.Counts[i-h.Offset] == 0 {
			t.Fatalf("value %g has no count in bin %d", x, i)
		}
	}
}

// Merging into an empty histogram copies it, whatever its width; merging
// two halves of a set equals observing the set, for small and odd sets too.
func TestHistogramMergeSmallSets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := range 300 {
		n := 1 + r.IntN(40)
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(7)-3)))
			if r.IntN(5) == 0 {
				xs[i] = xs[0] // repeats
			}
		}
		bins := 2 + r.IntN(20)
		whole := NewHistogram(bins)
		whole.addRuns([][]float32{xs}, slicesMin(xs), slicesMax(xs))
		cut := r.IntN(n)
		a, b := NewHistogram(bins), NewHistogram(bins)
		if cut > 0 {
			a.addRuns([][]float32{xs[:cut]}, slicesMin(xs[:cut]), slicesMax(xs[:cut]))
		}
		b.addRuns([][]float32{xs[cut:]}, slicesMin(xs[cut:]), slicesMax(xs[cut:]))
		empty := NewHistogram(bins)
		for _, src := range []*Histogram{a, b} {
			if err := empty.Merge(src); err != nil {
				t.Fatal(err)
			}
		}
		wj, _ := json.Marshal(whole)
		mj, _ := json.Marshal(empty)
		if !bytes.Equal(wj, mj) {
			t.Fatalf("trial %d (%d values, %d bins, cut %d): merged %s, whole %s", trial, n, bins, cut, mj, wj)
		}
	}
}

func TestAllZeroAndConstantTensors(t *testing.T) {
	for _, v := range []float32{0, 3.5, -1e-30, 1e30} {
		o := NewObserver(Granularity{}, allNeeds(t))
		observeAll(t, o, []float32{v, v, v}, 2)
		s := o.Summaries[0]
		if s.Min != v || s.Max != v || s.Hist.Total() != 3 {
			t.Errorf("constant %g: %+v", v, s)
		}
		for _, m := range allMethods() {
			r, err := o.Ranges(m, Target{Type: quant.Int8})
			if err != nil {
				t.Errorf("constant %g, %v: %v", v, m, err)
				continue
			}
			p := quant.ParamsFor(r[0].Lo, r[0].Hi, quant.Int8, false)
			if !(p.Scale > 0) {
				t.Errorf("constant %g, %v: range %v gives scale %g", v, m, r[0], p.Scale)
			}
		}
	}
}

func allMethods() []Method {
	return []Method{MinMax{}, MovingAverageMinMax{Constant: 0.01}, Percentile{}, Percentile{Percentile: 99, TwoSided: true},
		Entropy{}, MSE{}, ACIQ{Dist: Laplace}, ACIQ{Dist: Gauss}}
}

func allNeeds(t *testing.T) Needs {
	var n Needs
	for _, m := range allMethods() {
		var err error
		if n, err = n.Union(m.Needs()); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// Four shards merged give the same statistics (byte for byte in JSON, apart
// from the order-dependent moving average) and the same ranges for every
// method as one run, whatever the order of the merge.
func TestShardsMergeExactly(t *testing.T) {
	needs := allNeeds(t)
	for _, g := range []Granularity{{}, {Kind: PerChannel, Axis: 1}, {Kind: PerGroup, Axis: 1, Size: 2}, {Kind: PerBlock, Axis: 2, Size: 15}} {
		const batches, batch = 24, 2
		data := make([]*tensor.Tensor, batches)
		for i := range data {
			xs := samples([]string{"laplace", "gauss", "student-t3", "relu-gauss"}[i%4], batch*5*30, uint64(i))
			for j := range xs {
				xs[j] *= float32(1 + i%5) // later batches widen the range
			}
			data[i] = tensor.FromFloat32(xs, batch, 5, 30)
		}
		whole := NewStats(needs)
		whole.Tensors["x"] = NewObserver(g, needs)
		for _, d := range data {
			if err := whole.Tensors["x"].Observe(d); err != nil {
				t.Fatal(err)
			}
		}
		shards := make([]*Stats, 4)
		for k := range shards {
			shards[k] = NewStats(needs)
			shards[k].Shards, shards[k].Of = []int{k}, 4
			shards[k].Tensors["x"] = NewObserver(g, needs)
			for _, d := range data[k*batches/4 : (k+1)*batches/4] {
				if err := shards[k].Tensors["x"].Observe(d); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Merge in a scrambled order; MergeStats sorts by shard, and the
		// histograms do not care.
		merged, err := MergeStats(shards[2], shards[0], shards[3], shards[1])
		if err != nil {
			t.Fatal(err)
		}
		pairwise, _ := MergeStats(shards[0], shards[1])
		right, _ := MergeStats(shards[2], shards[3])
		tree, err := MergeStats(pairwise, right)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range allMethods() {
			for _, tg := range []Target{{quant.Int8, true}, {quant.Uint8, false}, {quant.Int4, false}} {
				want, err := whole.Ranges(m, tg)
				if err != nil {
					t.Fatal(err)
				}
				for name, got := range map[string]*Stats{"sorted": merged, "tree": tree} {
					g2, err := got.Ranges(m, tg)
					if err != nil {
						t.Fatal(err)
					}
					for i := range want["x"] {
						a, b := want["x"][i], g2["x"][i]
						if math.Float32bits(a.Lo) != math.Float32bits(b.Lo) || math.Float32bits(a.Hi) != math.Float32bits(b.Hi) {
							t.Errorf("%+v %v %v %s slot %d: merged %v, one run %v", g, m, tg, name, i, b, a)
						}
					}
				}
			}
		}
		strip := func(s *Stats) []byte {
			c := *s.Tensors["x"]
			c.Summaries = append([]Summary(nil), c.Summaries...)
			for i := range c.Summaries {
				c.Summaries[i].EMA = nil
			}
			b, _ := json.Marshal(c)
			return b
		}
		if !bytes.Equal(strip(whole), strip(merged)) || !bytes.Equal(strip(whole), strip(tree)) {
			t.Errorf("%+v: merged statistics differ from one run", g)
		}
		if merged.Tensors["x"].Summaries[0].EMA.Batches != batches {
			t.Errorf("merged moving average covers %d batches, want %d", merged.Tensors["x"].Summaries[0].EMA.Batches, batches)
		}
	}
}

func TestMovingAverageMatchesRecurrence(t *testing.T) {
	o := NewObserver(Granularity{}, Needs{MovingAverage: 0.1})
	lo, hi := 0.0, 0.0
	for i := range 30 {
		xs := samples("gauss", 100, uint64(i))
		observeAll(t, o, xs, 100)
		bl, bh := float64(slicesMin(xs)), float64(slicesMax(xs))
		if i == 0 {
			lo, hi = bl, bh
		} else {
			lo += 0.1 * (bl - lo)
			hi += 0.1 * (bh - hi)
		}
	}
	r, err := o.Ranges(MovingAverageMinMax{Constant: 0.1}, Target{Type: quant.Int8})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(r[0].Lo)-lo) > 1e-6 || math.Abs(float64(r[0].Hi)-hi) > 1e-6 {
		t.Errorf("moving average %v, recurrence gives [%g, %g]", r[0], lo, hi)
	}
	if _, err := o.Ranges(MovingAverageMinMax{}, Target{Type: quant.Int8}); err == nil {
		t.Error("a moving average of another constant was accepted")
	}
}

func slicesMin(x []float32) float32 {
	m := x[0]
	for _, v := range x {
		m = min(m, v)
	}
	return m
}

func slicesMax(x []float32) float32 {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

func TestPercentileKnownAnswers(t *testing.T) {
	// 0, 1, ..., 99999 scaled to [0, 1): the p-th percentile is p/100.
	xs := make([]float32, 100000)
	for i := range xs {
		xs[i] = float32(i) / 100000
	}
	o := NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
	observeAll(t, o, xs, 4096)
	for _, p := range []float64{50, 90, 99, 99.9} {
		r, _ := o.Ranges(Percentile{Percentile: p}, Target{Type: quant.Uint8})
		if want := p / 100; math.Abs(float64(r[0].Hi)-want) > 2e-4 || r[0].Lo != 0 {
			t.Errorf("percentile %g of uniform [0,1): %v, want [0, %g]", p, r[0], want)
		}
	}
	// Symmetric uniform on [-1, 1): two-sided 98 leaves 1% at each end.
	for i := range xs {
		xs[i] = 2*float32(i)/100000 - 1
	}
	o = NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
	observeAll(t, o, xs, 100000)
	r, _ := o.Ranges(Percentile{Percentile: 98, TwoSided: true}, Target{Type: quant.Int8})
	if math.Abs(float64(r[0].Lo)+0.98) > 1e-3 || math.Abs(float64(r[0].Hi)-0.98) > 1e-3 {
		t.Errorf("two-sided 98%% of uniform [-1,1): %v", r[0])
	}
	r, _ = o.Ranges(Percentile{Percentile: 98}, Target{Type: quant.Int8})
	if math.Abs(float64(r[0].Hi)-0.98) > 1e-3 || r[0].Lo != -r[0].Hi {
		t.Errorf("one-sided 98%% of |uniform [-1,1)|: %v", r[0])
	}
	// 100 keeps everything.
	r, _ = o.Ranges(Percentile{Percentile: 100}, Target{Type: quant.Int8})
	if r[0].Lo != -1 || r[0].Hi < 0.9999 {
		t.Errorf("percentile 100: %v", r[0])
	}
}

func TestEntropyKnownAnswers(t *testing.T) {
	// Uniform data: any clipping adds divergence, so the threshold is the max.
	xs := samples("uniform", 200000, 3)
	o := NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
	observeAll(t, o, xs, 50000)
	r, _ := o.Ranges(Entropy{}, Target{Type: quant.Int8, Symmetric: true})
	if amax := max(-o.Summaries[0].Min, o.Summaries[0].Max); r[0].Hi < 0.99*amax {
		t.Errorf("entropy on uniform data clips at %v, max |x| %g", r[0], amax)
	}
	// Gaussian bulk and a few far outliers: the threshold drops to the bulk.
	xs = samples("gauss", 200000, 4)
	xs[0], xs[1], xs[2] = 100, -80, 90
	o = NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
	observeAll(t, o, xs, 50000)
	r, _ = o.Ranges(Entropy{}, Target{Type: quant.Int8, Symmetric: true})
	if r[0].Hi < 2.5 || r[0].Hi > 12 || r[0].Lo != -r[0].Hi {
		t.Errorf("entropy on Gauss + outliers: %v, want about [-T, T] with 2.5 < T < 12", r[0])
	}
	// With as many levels as bins nothing is lost: the whole range.
	r, _ = o.Ranges(Entropy{Bins: 128, StartBins: 128}, Target{Type: quant.Int8, Symmetric: true})
	if r[0].Hi != 100 {
		t.Errorf("entropy with 128 bins and 128 levels: %v, want the max 100", r[0])
	}
}

// quantError is the mean squared error of fake-quantizing xs with range r.
func quantError(xs []float32, r Range, tg Target) float64 {
	p := quant.ParamsFor(r.Lo, r.Hi, tg.Type, tg.Symmetric)
	var e float64
	for _, x := range xs {
		d := float64(quant.FakeQuantize(x, p, tg.Type) - x)
		e += d * d
	}
	return e / float64(len(xs))
}

func TestMSEWithinOnePercentOfBruteForce(t *testing.T) {
	for _, name := range []string{"laplace", "gauss", "uniform", "student-t3", "relu-gauss", "shifted"} {
		for _, tg := range []Target{{quant.Int8, true}, {quant.Uint8, false}, {quant.Int4, true}} {
			n := 100000
			if !tg.Symmetric {
				n = 30000 // the brute force is two-dimensional
			}
			xs := samples(name, n, 11)
			o := NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
			observeAll(t, o, xs, 10000)
			r, err := o.Ranges(MSE{}, tg)
			if err != nil {
				t.Fatal(err)
			}
			got := quantError(xs, r[0], tg)
			// Brute force over the clipping value(s) on the data itself.
			lo, hi := float64(o.Summaries[0].Min), float64(o.Summaries[0].Max)
			best := math.Inf(1)
			const steps = 300
			if tg.Symmetric || lo >= 0 {
				amax := math.Max(-lo, hi)
				for i := 1; i <= steps; i++ {
					a := float32(amax * float64(i) / steps)
					best = math.Min(best, quantError(xs, Range{-a, a}, tg))
				}
			} else {
				for i := 1; i <= 40; i++ {
					for j := 1; j <= 40; j++ {
						best = math.Min(best, quantError(xs, Range{float32(lo * float64(i) / 40), float32(hi * float64(j) / 40)}, tg))
					}
				}
			}
			if got > best*1.01 {
				t.Errorf("%s %v: MSE range %v has error %.4g, brute force %.4g (+%.1f%%)", name, tg, r[0], got, best, 100*(got/best-1))
			}
		}
	}
}

func TestACIQRanges(t *testing.T) {
	for _, c := range []struct {
		dist  string
		d     Dist
		scale float64 // b or sigma of the samples
	}{{"laplace", Laplace, 1}, {"gauss", Gauss, 1}} {
		xs := samples(c.dist, 200000, 5)
		o := NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
		observeAll(t, o, xs, 200000)
		for _, bits := range []int{4, 8} {
			r, _ := o.Ranges(ACIQ{Dist: c.d}, Target{Type: quant.Type{Bits: bits, Signed: true}})
			want := ACIQAlpha(c.d, bits) * c.scale
			if got := float64(r[0].Hi); math.Abs(got-math.Min(want, float64(o.Summaries[0].Max))) > 0.03*want {
				t.Errorf("%s %d bits: hi %g, want about %g", c.dist, bits, got, want)
			}
		}
	}
	// ReLU of a Gaussian: half-normal with sigma 1, zeros counted apart;
	// one-sided uint8 is ClipRatio with 256 levels.
	xs := samples("relu-gauss", 200000, 6)
	o := NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
	observeAll(t, o, xs, 200000)
	r, _ := o.Ranges(ACIQ{Dist: Gauss}, Target{Type: quant.Uint4})
	want := ClipRatio(Gauss, 16)
	if r[0].Lo != 0 || math.Abs(float64(r[0].Hi)-want) > 0.03*want {
		t.Errorf("relu-gauss uint4: %v, want [0, about %g]", r[0], want)
	}
}

func TestGranularities(t *testing.T) {
	// Shape [2, 3, 2]; element value encodes (n, c, i).
	xs := make([]float32, 12)
	for n := range 2 {
		for c := range 3 {
			for i := range 2 {
				xs[n*6+c*2+i] = float32(100*n + 10*c + i)
			}
		}
	}
	for _, tc := range []struct {
		g      Granularity
		slots  []int
		ranges []Range
	}{
		{Granularity{}, []int{}, []Range{{0, 121}}},
		{Granularity{Kind: PerChannel, Axis: 1}, []int{3}, []Range{{0, 101}, {10, 111}, {20, 121}}},
		{Granularity{Kind: PerChannel, Axis: -1}, []int{2}, []Range{{0, 120}, {1, 121}}},
		{Granularity{Kind: PerGroup, Axis: 1, Size: 2}, []int{2}, []Range{{0, 111}, {20, 121}}},
		{Granularity{Kind: PerBlock, Axis: 1, Size: 2}, []int{2, 2, 2}, []Range{{0, 10}, {1, 11}, {20, 20}, {21, 21}, {100, 110}, {101, 111}, {120, 120}, {121, 121}}},
	} {
		o := NewObserver(tc.g, Needs{})
		if err := o.Observe(tensor.FromFloat32(xs, 2, 3, 2)); err != nil {
			t.Fatal(err)
		}
		r, err := o.Ranges(MinMax{}, Target{Type: quant.Int8})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(o.Slots, tc.slots) || len(r) != len(tc.ranges) {
			t.Errorf("%+v: slots %v ranges %v, want %v %v", tc.g, o.Slots, r, tc.slots, tc.ranges)
			continue
		}
		for i := range r {
			if r[i] != tc.ranges[i] {
				t.Errorf("%+v: slot %d range %v, want %v", tc.g, i, r[i], tc.ranges[i])
			}
		}
		if err := o.Observe(tensor.FromFloat32(xs, 2, 6)); err == nil && tc.g.Kind != "" {
			t.Errorf("%+v: a tensor of another slot grid was accepted", tc.g)
		}
	}
}

func TestNaNRejectedWithoutChange(t *testing.T) {
	o := NewObserver(Granularity{}, Needs{HistogramBins: 64})
	observeAll(t, o, []float32{1, 2}, 2)
	before, _ := json.Marshal(o)
	err := o.Observe(tensor.FromFloat32([]float32{5, float32(math.NaN()), 6}, 3))
	if !errors.Is(err, ErrNonFinite) {
		t.Errorf("error %v, want ErrNonFinite", err)
	}
	after, _ := json.Marshal(o)
	if !bytes.Equal(before, after) {
		t.Error("a rejected tensor changed the statistics")
	}
}

// TestInfCounted: ±Inf (an attention mask's) is counted apart, the finite
// values are observed as usual, the count survives merging, and Ranges
// refuses the tensor with ErrInfinite for every method.
func TestInfCounted(t *testing.T) {
	needs := allNeeds(t)
	o := NewObserver(Granularity{Kind: PerChannel}, needs)
	inf := float32(math.Inf(1))
	if err := o.Observe(tensor.FromFloat32([]float32{5, -inf, 6, 1, 2, inf}, 2, 3)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []Summary{{Count: 2, Min: 5, Max: 6, Inf: 1}, {Count: 2, Min: 1, Max: 2, Inf: 1}} {
		s := o.Summaries[i]
		if s.Count != want.Count || s.Min != want.Min || s.Max != want.Max || s.Inf != want.Inf {
			t.Errorf("slot %d: count %d min %g max %g inf %d, want %+v", i, s.Count, s.Min, s.Max, s.Inf, want)
		}
		var n uint64
		for _, c := range s.Hist.Counts {
			n += c
		}
		if n != s.Count {
			t.Errorf("slot %d: histogram holds %d values, want %d", i, n, s.Count)
		}
	}
	m := NewObserver(Granularity{Kind: PerChannel}, needs)
	if err := m.Merge(o); err != nil {
		t.Fatal(err)
	}
	if err := m.Merge(o); err != nil {
		t.Fatal(err)
	}
	if m.Summaries[0].Inf != 2 {
		t.Errorf("merged Inf count %d, want 2", m.Summaries[0].Inf)
	}
	for _, meth := range []Method{MinMax{}, Percentile{Percentile: 99.9}, Entropy{}, MSE{}} {
		if _, err := m.Ranges(meth, Target{Type: quant.Uint8}); !errors.Is(err, ErrInfinite) {
			t.Errorf("%s: error %v, want ErrInfinite", meth, err)
		}
	}
	finite := NewObserver(Granularity{}, needs)
	observeAll(t, finite, []float32{1, 2}, 2)
	if _, err := finite.Ranges(MinMax{}, Target{Type: quant.Uint8}); err != nil {
		t.Errorf("finite tensor: %v", err)
	}
}

func TestStatsFileRoundTrip(t *testing.T) {
	s := NewStats(allNeeds(t))
	s.Tensors["a"] = NewObserver(Granularity{Kind: PerChannel, Axis: 0}, s.Needs)
	if err := s.Tensors["a"].Observe(tensor.FromFloat32(samples("laplace", 300, 1), 3, 100)); err != nil {
		t.Fatal(err)
	}
	s.Samples = 3
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	back.Write(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("write, read, write is not the identity")
	}
	for _, bad := range []string{`{"format":"x","version":1}`, `{"format":"ptq-calibration-stats","version":2}`, `{"format":"ptq-calibration-stats","version":1,"bogus":1}`} {
		if _, err := Read(bytes.NewReader([]byte(bad))); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	other := NewStats(Needs{})
	if err := back.Merge(other); err == nil {
		t.Error("merging statistics with different needs was accepted")
	}
	dup := NewStats(s.Needs)
	dup.Shards, dup.Of = []int{1}, 2
	one := NewStats(s.Needs)
	one.Shards, one.Of = []int{1}, 2
	if err := dup.Merge(one); err == nil {
		t.Error("the same shard merged twice was accepted")
	}
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]Method{
		"minmax": MinMax{}, "mse": MSE{}, "entropy": Entropy{}, "aciq-laplace": ACIQ{Dist: Laplace},
		"aciq-gauss": ACIQ{Dist: Gauss}, "percentile": Percentile{}, "percentile:99.9": Percentile{Percentile: 99.9},
		"percentile-two-sided:99": Percentile{Percentile: 99, TwoSided: true}, "moving-average": MovingAverageMinMax{},
		"moving-average:0.1": MovingAverageMinMax{Constant: 0.1},
	} {
		got, err := ParseMethod(in)
		if err != nil || got != want {
			t.Errorf("ParseMethod(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParseMethod(got.String()); err != nil || back.String() != got.String() {
			t.Errorf("ParseMethod(%q.String()) = %v, %v", in, back, err)
		}
	}
	for _, bad := range []string{"", "max", "percentile:200", "mse:3", "moving-average:2"} {
		if _, err := ParseMethod(bad); err == nil {
			t.Errorf("ParseMethod(%q) accepted", bad)
		}
	}
}
