package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// The whole-model cross-check: every output of the engine within 1e-4
// relative or 1e-5 absolute of ONNX Runtime's on the same inputs.
const (
	modelRTol = 1e-4
	modelATol = 1e-5
)

// modelCase is one model to cross-check. path returns the model file (it may
// skip or fail t when an oracle is missing); dims sizes the symbolic
// dimensions of the inputs by name, and fixed shapes pin whole inputs.
type modelCase struct {
	name string
	path func(t *testing.T) string
	// data, when set, gives real inputs (then dims and shapes are unused).
	// The argument is the name of the model's (first) input.
	data   func(t *testing.T, input string) map[string]*tensor.Tensor
	dims   map[string]int   // symbolic dimension name -> size
	shapes map[string][]int // input name -> full shape, overriding the declared one
}

func modelPPOCR(name string) func(t *testing.T) string {
	return func(t *testing.T) string {
		oracle.Require(t, oracle.PPOCROracle)
		return oracle.PPOCRModel(name)
	}
}

// modelPPOCRData feeds the first rendered evaluation sample of file (a text
// page for det, a text line for rec and cls) as input x: random noise would
// leave det's probability map at zero and test nothing.
func modelPPOCRData(file string) func(t *testing.T, input string) map[string]*tensor.Tensor {
	return func(t *testing.T, input string) map[string]*tensor.Tensor {
		return modelFirstSample(t, filepath.Join(oracle.PPOCRData(t), file), input)
	}
}

// modelCommittedData feeds the first sample of a committed .npy file.
func modelCommittedData(rel string) func(t *testing.T, input string) map[string]*tensor.Tensor {
	return func(t *testing.T, input string) map[string]*tensor.Tensor {
		return modelFirstSample(t, filepath.Join(oracle.TestModelsDir(), rel), input)
	}
}

// modelImageData feeds the first evaluation image of oracle.ImageData
// (ImageNet-normalised) to the torchvision classifiers' input.
func modelImageData(t *testing.T, input string) map[string]*tensor.Tensor {
	_, eval := oracle.ImageData(t)
	return modelFirstSample(t, eval, input)
}

// modelFirstSample reads the first sample of an .npy file as a batch of one.
func modelFirstSample(t *testing.T, path, input string) map[string]*tensor.Tensor {
	all, err := oracle.ReadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(all.DType, append([]int{1}, all.Shape[1:]...)...)
	copy(x.Float32(), all.Float32())
	return map[string]*tensor.Tensor{input: x}
}

// modelFile is a committed model under testmodels/.
func modelFile(rel string) func(t *testing.T) string {
	return func(t *testing.T) string {
		p := filepath.Join(oracle.TestModelsDir(), rel)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("committed test model missing: %v", err)
		}
		return p
	}
}

var modelCases = []modelCase{
	// PP-OCR declares every spatial dimension symbolic; the sizes are the
	// ones the models are used at (det on a 640x640 page, rec on a 48-pixel
	// text line, cls on a 48x192 crop).
	{name: "ppocr_det", path: modelPPOCR("det"), data: modelPPOCRData("det_eval.npy")},
	{name: "ppocr_rec", path: modelPPOCR("rec"), data: modelPPOCRData("rec_eval.npy")},
	{name: "ppocr_cls", path: modelPPOCR("cls"), data: modelPPOCRData("cls_eval.npy")},
	{name: "resnet18", path: modelTorchvision("resnet18"), data: modelImageData},
	{name: "mobilenet_v2", path: modelTorchvision("mobilenet_v2"), data: modelImageData},
	{name: "efficientnet_b0", path: modelTorchvision("efficientnet_b0"), data: modelImageData},
	{name: "transformer_encoder", path: modelFile("transformer/encoder.onnx"), data: modelCommittedData("transformer/eval.npy")},
}

func modelTorchvision(name string) func(t *testing.T) string {
	return func(t *testing.T) string { return oracle.TorchvisionModel(t, name) }
}

// modelAllCases adds every committed Fashion-MNIST model to modelCases, so a
// new one is cross-checked without editing this file.
func modelAllCases(t *testing.T) []modelCase {
	cases := append([]modelCase(nil), modelCases...)
	paths, err := filepath.Glob(filepath.Join(oracle.TestModelsDir(), "fmnist", "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Errorf("no models in testmodels/fmnist")
	}
	for _, p := range paths {
		rel, _ := filepath.Rel(oracle.TestModelsDir(), p)
		cases = append(cases, modelCase{name: "fmnist_" + strings.TrimSuffix(filepath.Base(p), ".onnx"), path: modelFile(rel), data: modelCommittedData("fmnist/test.npy")})
	}
	return cases
}

func TestModelsMatchORT(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	for _, c := range modelAllCases(t) {
		t.Run(c.name, func(t *testing.T) {
			path := c.path(t)
			mp, err := onnxio.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := graph.FromProto(mp)
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewEngine(m, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			var inputs map[string]*tensor.Tensor
			if c.data != nil {
				inputs = c.data(t, e.Inputs()[0].Name)
			} else if inputs, err = modelInputs(e.Inputs(), c.dims, c.shapes); err != nil {
				t.Fatal(err)
			}
			got, err := e.Run(inputs, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A second run reuses the first run's recycled buffers: it must
			// give the same bits, and leave the first run's outputs alone.
			saved := map[string]*tensor.Tensor{}
			for name, v := range got {
				saved[name] = v.Clone()
			}
			again, err := e.Run(inputs, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range saved {
				if fmt.Sprint(again[name].Data) != fmt.Sprint(v.Data) || fmt.Sprint(got[name].Data) != fmt.Sprint(v.Data) {
					t.Fatalf("output %q differs between two runs on the same input", name)
				}
			}
			want, err := oracle.ORT(path, inputs, oracle.ORTOptions{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			var floor map[string]*tensor.Tensor // ONNX Runtime unoptimised, fetched on demand
			for _, o := range e.Outputs() {
				w, ok := want[o.Name]
				if !ok {
					t.Errorf("output %q: ONNX Runtime did not return it", o.Name)
					continue
				}
				abs, rel, err := modelCompare(got[o.Name], w)
				if err != nil && got[o.Name] != nil && slices.Equal(got[o.Name].Shape, w.Shape) {
					// Deep models in float32 can sit at the edge of the
					// tolerance: accept only if ONNX Runtime disagrees with
					// itself (optimised vs unoptimised graph) at least as much.
					if floor == nil {
						var ortErr error
						if floor, ortErr = oracle.ORT(path, inputs, oracle.ORTOptions{Threads: 1, OptLevel: "disabled"}); ortErr != nil {
							t.Fatal(ortErr)
						}
					}
					self, _, _ := modelCompare(floor[o.Name], w)
					if abs <= self {
						fmt.Printf("models: %s output %q: %v; ONNX Runtime's optimised and unoptimised runs differ by up to %.3g, more than ours (%.3g): accepted\n", c.name, o.Name, err, self, abs)
						err = nil
					} else {
						err = fmt.Errorf("%w (ONNX Runtime's own optimised-vs-unoptimised difference is only %.3g)", err, self)
					}
				}
				if err != nil {
					t.Errorf("output %q: %v", o.Name, err)
					continue
				}
				// Printed so the figures show in CI logs without -v.
				fmt.Printf("models: %s output %q %v: max abs err %.3g, max rel err %.3g\n", c.name, o.Name, w.Shape, abs, rel)
			}
		})
	}
}

// modelInputs makes deterministic inputs: floats uniform in [0, 1) like a
// normalised image, integers zero.
func modelInputs(specs []ValueSpec, dims map[string]int, shapes map[string][]int) (map[string]*tensor.Tensor, error) {
	rng := rand.New(rand.NewPCG(7, 11))
	in := map[string]*tensor.Tensor{}
	for _, s := range specs {
		shape, ok := shapes[s.Name]
		if !ok {
			if s.Shape == nil {
				return nil, fmt.Errorf("input %q: no declared shape; give one", s.Name)
			}
			shape = make([]int, len(s.Shape))
			for i, d := range s.Shape {
				switch {
				case d >= 0:
					shape[i] = d
				case dims[s.Params[i]] > 0:
					shape[i] = dims[s.Params[i]]
				case i == 0:
					shape[i] = 1 // a batch
				default:
					shape[i] = 16 // a sequence length or image side
				}
			}
		}
		t := tensor.New(s.DType, shape...)
		if d, ok := t.Data.([]float32); ok {
			for i := range d {
				d[i] = rng.Float32()
			}
		}
		in[s.Name] = t
	}
	return in, nil
}

// modelCompare returns the largest absolute error, the largest relative error
// among elements of magnitude at least modelATol/modelRTol, and an error
// listing the worst element when any exceeds the tolerance.
func modelCompare(got, want *tensor.Tensor) (maxAbs, maxRel float64, err error) {
	if got == nil {
		return 0, 0, fmt.Errorf("not produced")
	}
	if !slices.Equal(got.Shape, want.Shape) {
		return 0, 0, fmt.Errorf("shape %v, ONNX Runtime %v", got.Shape, want.Shape)
	}
	g, gok := confFloats(got)
	w, wok := confFloats(want)
	if !gok || !wok {
		if fmt.Sprint(got.Data) != fmt.Sprint(want.Data) {
			return 0, 0, fmt.Errorf("%v data differs from ONNX Runtime's", got)
		}
		return 0, 0, nil
	}
	bad := []int{}
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(g[i]) != math.IsNaN(w[i]) {
			d = math.Inf(1)
		} else if math.IsNaN(d) {
			d = 0
		}
		maxAbs = max(maxAbs, d)
		// Relative error only where it is what the tolerance tests: near
		// zero the absolute bound applies and ratios mean nothing.
		if math.Abs(w[i]) >= modelATol/modelRTol {
			maxRel = max(maxRel, d/math.Abs(w[i]))
		}
		if d > modelATol && d > modelRTol*math.Abs(w[i]) {
			bad = append(bad, i)
		}
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(a, b int) bool { return math.Abs(g[bad[a]]-w[bad[a]]) > math.Abs(g[bad[b]]-w[bad[b]]) })
		i := bad[0]
		return maxAbs, maxRel, fmt.Errorf("%d of %d elements outside tolerance; worst at %d: got %g, ONNX Runtime %g", len(bad), len(w), i, g[i], w[i])
	}
	return maxAbs, maxRel, nil
}
