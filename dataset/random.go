package dataset

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/ptq-dev/ptq/tensor"
)

// randomSource generates samples for a model when no data is at hand:
// standard-normal floats, integers uniform in [0, 10), random booleans. It
// is for smoke tests and benchmarks; ranges calibrated on it mean little,
// which is why Open warns.
type randomSource struct {
	inputs []Input
	shapes map[string][]int
	rng    *rand.Rand
	n, i   int
}

func newRandomSource(inputs []Input, opts Options) (source, error) {
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	s := &randomSource{inputs: inputs, shapes: map[string][]int{}, n: opts.Samples,
		rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
	for _, in := range inputs {
		if in.Shape == nil {
			return nil, fmt.Errorf("dataset: random data: input %q declares no shape", in.Name)
		}
		// One sample: the batch axis dropped, other symbolic dimensions
		// taken from ImageSize for image-like inputs.
		var shape []int
		for i, d := range in.Shape {
			if i == 0 {
				continue
			}
			if d < 0 {
				switch {
				case len(in.Shape) == 4 && opts.ImageSize[0] > 0 && (i == 2 || i == 3):
					d = int64(opts.ImageSize[i-2])
				default:
					return nil, fmt.Errorf("dataset: random data: input %q has symbolic dimension %d in %s; give real data (or --image-size for images)", in.Name, i, fmtShape(in.Shape))
				}
			}
			shape = append(shape, int(d))
		}
		s.shapes[in.Name] = shape
	}
	fmt.Fprintf(opts.Warn, "dataset: warning: feeding %d samples of seeded random data (seed %d); ranges calibrated on it do not reflect real inputs\n", s.n, seed)
	return s, nil
}

func (s *randomSource) next() (*sample, error) {
	if s.i >= s.n {
		return nil, io.EOF
	}
	out := &sample{tensors: map[string]*tensor.Tensor{}, where: fmt.Sprintf("random sample %d", s.i)}
	s.i++
	for _, in := range s.inputs {
		dt := in.DType
		if dt == tensor.Undefined {
			dt = tensor.Float
		}
		t := tensor.New(dt, s.shapes[in.Name]...)
		switch d := t.Data.(type) {
		case []float32:
			for i := range d {
				d[i] = float32(s.rng.NormFloat64())
			}
		case []float64:
			for i := range d {
				d[i] = s.rng.NormFloat64()
			}
		case []int64:
			for i := range d {
				d[i] = s.rng.Int64N(10)
			}
		case []int32:
			for i := range d {
				d[i] = s.rng.Int32N(10)
			}
		case []uint8:
			for i := range d {
				d[i] = uint8(s.rng.IntN(256))
			}
		case []int8:
			for i := range d {
				d[i] = int8(s.rng.IntN(256) - 128)
			}
		case []bool:
			for i := range d {
				d[i] = s.rng.IntN(2) == 1
			}
		default:
			return nil, fmt.Errorf("dataset: random data: input %q of type %v not supported", in.Name, dt)
		}
		out.tensors[in.Name] = t
	}
	return out, nil
}

func (s *randomSource) len() int     { return s.n }
func (s *randomSource) close() error { return nil }
