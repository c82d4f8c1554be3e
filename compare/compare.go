// Package compare measures how far a model's outputs drift from a reference
// model's on the same samples: signal-to-quantization-noise ratio, cosine
// similarity, largest error, argmax agreement, and top-1 accuracy when
// labels are given. It streams: memory does not grow with the samples.
package compare

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/tensor"
)

// Stats accumulates the difference between a reference tensor and a test
// tensor over many samples.
type Stats struct {
	Name     string
	signal   float64 // Σ ref²
	noise    float64 // Σ (ref - test)²
	dot      float64 // Σ ref·test
	testSq   float64 // Σ test²
	maxAbs   float64
	agree    int // rows whose argmax matches
	rows     int
	elements int
}

// Add accumulates one pair of same-shaped float tensors. Rows for argmax
// agreement are taken along the last axis.
func (s *Stats) Add(ref, test *tensor.Tensor) error {
	if ref.DType != tensor.Float || test.DType != tensor.Float {
		return fmt.Errorf("%s: compare needs float32 outputs, got %v and %v", s.Name, ref.DType, test.DType)
	}
	a, b := ref.Float32(), test.Float32()
	if len(a) != len(b) {
		return fmt.Errorf("%s: shapes differ: %v vs %v", s.Name, ref.Shape, test.Shape)
	}
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		d := x - y
		s.signal += x * x
		s.noise += d * d
		s.dot += x * y
		s.testSq += y * y
		if ad := math.Abs(d); ad > s.maxAbs || ad != ad {
			s.maxAbs = ad
		}
	}
	s.elements += len(a)
	if len(ref.Shape) > 0 && ref.Shape[len(ref.Shape)-1] > 1 {
		c := ref.Shape[len(ref.Shape)-1]
		for off := 0; off+c <= len(a); off += c {
			if argmax(a[off:off+c]) == argmax(b[off:off+c]) {
				s.agree++
			}
			s.rows++
		}
	}
	return nil
}

// SQNR is 10·log10(Σ ref² / Σ (ref - test)²) in dB; +Inf when identical.
func (s *Stats) SQNR() float64 {
	if s.noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s.signal/s.noise)
}

// Cosine is the cosine similarity of the two, seen as long vectors.
func (s *Stats) Cosine() float64 {
	if s.signal == 0 || s.testSq == 0 {
		if s.signal == s.testSq {
			return 1
		}
		return 0
	}
	return s.dot / math.Sqrt(s.signal*s.testSq)
}

// MaxAbs is the largest absolute difference seen.
func (s *Stats) MaxAbs() float64 { return s.maxAbs }

// ArgmaxAgreement is the share of rows (along the last axis) whose argmax is
// the same in both; NaN when the tensors have no such rows.
func (s *Stats) ArgmaxAgreement() float64 {
	if s.rows == 0 {
		return math.NaN()
	}
	return float64(s.agree) / float64(s.rows)
}

func argmax(xs []float32) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// OutputReport is the comparison of one model output.
type OutputReport struct {
	Name            string  `json:"name"`
	SQNR            float64 `json:"sqnr_db"`
	Cosine          float64 `json:"cosine"`
	MaxAbs          float64 `json:"max_abs_error"`
	ArgmaxAgreement float64 `json:"argmax_agreement"`
}

// Report is the comparison of two models over a data set.
type Report struct {
	Samples int            `json:"samples"`
	Outputs []OutputReport `json:"outputs"`
	// Accuracy of each model's first output against the labels (top-1),
	// NaN without labels.
	RefAccuracy  float64 `json:"reference_top1"`
	TestAccuracy float64 `json:"test_top1"`
}

// Models runs both engines on every batch of data and compares their outputs
// by name. labels, when not nil, hold one class per sample for top-1
// accuracy of the first output.
func Models(ref, test *kernels.Engine, data dataset.Reader, labels []int64) (*Report, error) {
	acc := newOutputs(ref, labels)
	for {
		batch, err := data.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		ro, err := ref.Run(batch, nil)
		if err != nil {
			return nil, fmt.Errorf("reference model: %w", err)
		}
		to, err := test.Run(batch, nil)
		if err != nil {
			return nil, fmt.Errorf("test model: %w", err)
		}
		if err := acc.add(ro, to, batchLen(batch)); err != nil {
			return nil, err
		}
	}
	return acc.report()
}

// outputs accumulates the comparison of two models' outputs, batch by batch.
type outputs struct {
	names               []string
	stats               map[string]*Stats
	labels              []int64
	samples             int
	refRight, testRight int
}

func newOutputs(ref *kernels.Engine, labels []int64) *outputs {
	o := &outputs{stats: map[string]*Stats{}, labels: labels}
	for _, spec := range ref.Outputs() {
		o.names = append(o.names, spec.Name)
		o.stats[spec.Name] = &Stats{Name: spec.Name}
	}
	return o
}

// add compares one batch of n samples.
func (o *outputs) add(ro, to map[string]*tensor.Tensor, n int) error {
	for _, name := range o.names {
		a, b := ro[name], to[name]
		if b == nil {
			return fmt.Errorf("test model has no output %q", name)
		}
		if a.DType != tensor.Float {
			continue
		}
		if err := o.stats[name].Add(a, b); err != nil {
			return err
		}
	}
	if o.labels != nil && len(o.names) > 0 {
		a, b := ro[o.names[0]], to[o.names[0]]
		if a.DType == tensor.Float && len(a.Shape) >= 1 {
			c := a.Len() / max(n, 1)
			for i := 0; i < n; i++ {
				k := o.samples + i
				if k >= len(o.labels) {
					return fmt.Errorf("more samples than labels (%d)", len(o.labels))
				}
				if int64(argmax(a.Float32()[i*c:(i+1)*c])) == o.labels[k] {
					o.refRight++
				}
				if int64(argmax(b.Float32()[i*c:(i+1)*c])) == o.labels[k] {
					o.testRight++
				}
			}
		}
	}
	o.samples += n
	return nil
}

// report summarises what add saw.
func (o *outputs) report() (*Report, error) {
	if o.samples == 0 {
		return nil, errors.New("compare: no samples")
	}
	rep := &Report{Samples: o.samples, RefAccuracy: math.NaN(), TestAccuracy: math.NaN()}
	if o.labels != nil {
		rep.RefAccuracy = float64(o.refRight) / float64(o.samples)
		rep.TestAccuracy = float64(o.testRight) / float64(o.samples)
	}
	for _, name := range o.names {
		s := o.stats[name]
		if s.elements == 0 {
			continue
		}
		rep.Outputs = append(rep.Outputs, OutputReport{Name: name, SQNR: s.SQNR(), Cosine: s.Cosine(), MaxAbs: s.MaxAbs(), ArgmaxAgreement: s.ArgmaxAgreement()})
	}
	return rep, nil
}

func batchLen(b map[string]*tensor.Tensor) int {
	for _, t := range b {
		if len(t.Shape) > 0 {
			return t.Shape[0]
		}
		return 1
	}
	return 0
}
