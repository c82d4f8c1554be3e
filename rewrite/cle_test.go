package rewrite_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// preparedModel loads a test model and runs the preparation passes.
func preparedModel(t *testing.T, path string) *graph.Model {
	t.Helper()
	mp, err := onnxio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := rewrite.RunPasses(m, rewrite.Prepare(13), nil); err != nil {
		t.Fatal(err)
	}
	return m
}

func cloneModel(t *testing.T, m *graph.Model) *graph.Model {
	t.Helper()
	p, err := m.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.FromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runFirst runs m on x through the engine and returns its first output.
func runFirst(t *testing.T, m *graph.Model, inputs map[string]*tensor.Tensor) []float32 {
	t.Helper()
	eng, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := eng.Run(inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return outs[eng.Outputs()[0].Name].Float32()
}

func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(a[i]) * float64(a[i])
	}
	return math.Sqrt(num / den)
}

// weightRanges returns max|w| per output channel of a Conv's weight.
func weightRanges(t *testing.T, n *graph.Node) []float64 {
	t.Helper()
	w, err := onnxio.ToTensor(n.Inputs[1].Initializer)
	if err != nil {
		t.Fatal(err)
	}
	d := w.Float32()
	per := len(d) / w.Shape[0]
	r := make([]float64, w.Shape[0])
	for i := range r {
		for _, v := range d[i*per : (i+1)*per] {
			r[i] = max(r[i], math.Abs(float64(v)))
		}
	}
	return r
}

// TestCrossLayerEqualization equalizes the Fashion-MNIST MobileNetV2-style
// net (Conv, depthwise Conv, Clip(0, 6) after BatchNorm folding): the
// float outputs must stay the same up to rounding, every Clip between two
// layers becomes Relu and a per-channel Min, and the spread of per-channel
// weight ranges of the depthwise convolutions must shrink.
func TestCrossLayerEqualization(t *testing.T) {
	path := filepath.Join(oracle.TestModelsDir(), "fmnist", "mobilenetv2.onnx")
	before := preparedModel(t, path)
	after := cloneModel(t, before)
	if err := rewrite.CrossLayerEqualization(after); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4*28*28)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	in := map[string]*tensor.Tensor{before.Graph.Inputs[0].Name: tensor.FromFloat32(x, 4, 1, 28, 28)}
	a, b := runFirst(t, before, in), runFirst(t, after, in)
	if e := relErr(a, b); e > 1e-5 {
		t.Errorf("float outputs changed: relative error %.3g", e)
	}
	count := func(m *graph.Model, op string) int {
		k := 0
		for _, n := range m.Graph.Nodes {
			if n.OpType == op {
				k++
			}
		}
		return k
	}
	if c, mins := count(after, "Clip"), count(after, "Min"); mins == 0 || c+mins != count(before, "Clip") {
		t.Errorf("after CLE: %d Clip and %d Min, from %d Clip", c, mins, count(before, "Clip"))
	}
	// spread is the ratio of the largest to the median channel range,
	// summed in log over the depthwise convolutions.
	spread := func(m *graph.Model) float64 {
		var s float64
		for _, n := range m.Graph.Nodes {
			if n.OpType != "Conv" || n.AttrInt("group", 1) == 1 {
				continue
			}
			r := weightRanges(t, n)
			lo, hi := math.Inf(1), 0.0
			for _, v := range r {
				if v > 0 {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			s += math.Log(hi / lo)
		}
		return s
	}
	sb, sa := spread(before), spread(after)
	t.Logf("depthwise weight range spread (sum of log max/min): %.2f before, %.2f after", sb, sa)
	if !(sa < 0.75*sb) {
		t.Errorf("CLE did not even out the depthwise ranges: spread %.2f before, %.2f after", sb, sa)
	}
}
