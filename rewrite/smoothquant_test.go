package rewrite_test

import (
	"math"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// absMaxLast measures max |x| per last-axis channel of the named values.
func absMaxLast(t *testing.T, m *graph.Model, in map[string]*tensor.Tensor, names []string) map[string][]float32 {
	t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]float32{}
	e, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Run(in, func(v string, _ *graph.Node, x *tensor.Tensor) error {
		if !want[v] {
			return nil
		}
		d := x.Shape[len(x.Shape)-1]
		a := make([]float32, d)
		for i, f := range x.Float32() {
			a[i%d] = max(a[i%d], float32(math.Abs(float64(f))))
		}
		out[v] = a
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if in[n] != nil {
			d := in[n].Shape[len(in[n].Shape)-1]
			a := make([]float32, d)
			for i, f := range in[n].Float32() {
				a[i%d] = max(a[i%d], float32(math.Abs(float64(f))))
			}
			out[n] = a
		}
	}
	return out
}

// outlierInput is random data with channel 3 a hundred times larger.
func outlierInput(seed uint64, shape ...int) *tensor.Tensor {
	x := rnd(seed, shape...)
	d := shape[len(shape)-1]
	for i := range x.Float32() {
		if i%d == 3 {
			x.Float32()[i] *= 100
		}
	}
	return x
}

// TestSmoothQuant smooths three activations: a decomposed LayerNorm's
// output (Mul by gamma, Add beta) read by two MatMuls, a graph input read
// by a Gemm (explicit Mul needed), and a Relu's output (explicit Mul).
// Float outputs must not change, 1/s must land in gamma and beta, and the
// outlier channel of every smoothed activation must shrink.
func TestSmoothQuant(t *testing.T) {
	b := newPGraph().in("x", 2, 4, 8).out("y", 2, 4, 6).out("z", 2, 4, 6).out("u", 2, 5).in("v", 2, 8).
		init("gamma", positive(1, 8)).init("beta", rnd(2, 8)).
		init("wq", rnd(3, 8, 6)).init("wk", rnd(4, 8, 6)).
		init("wg", rnd(5, 5, 8)).init("cg", rnd(6, 5)).
		node("Mul", []string{"x", "gamma"}, []string{"xg"}).
		node("Add", []string{"xg", "beta"}, []string{"ln"}).
		node("MatMul", []string{"ln", "wq"}, []string{"y"}).
		node("MatMul", []string{"ln", "wk"}, []string{"z"}).
		node("Gemm", []string{"v", "wg", "cg"}, []string{"u"}, intAttr("transB", 1))
	before := mustGraph(t, b.model(13))
	after := roundTrip(t, before)
	in := map[string]*tensor.Tensor{"x": outlierInput(10, 2, 4, 8), "v": outlierInput(11, 2, 8)}
	names := rewrite.SmoothQuantInputs(after)
	if len(names) != 2 || names[0] != "ln" || names[1] != "v" {
		t.Fatalf("SmoothQuantInputs = %v, want [ln v]", names)
	}
	amax := absMaxLast(t, after, in, names)
	if err := rewrite.SmoothQuant(after, 0.5, amax); err != nil {
		t.Fatal(err)
	}
	after = roundTrip(t, after)
	want, got := runEngine(t, before, in), runEngine(t, after, in)
	for name, w := range want {
		sameOutputs(t, map[string]*tensor.Tensor{name: w}, map[string]*tensor.Tensor{name: got[name]}, 1e-4*maxAbs(w))
	}
	muls := 0
	for _, n := range after.Graph.Nodes {
		if n.OpType == "Mul" {
			muls++
		}
	}
	if muls != 2 {
		t.Errorf("%d Mul nodes after SmoothQuant, want 2 (gamma's, and one inserted before the Gemm)", muls)
	}
	g, err := onnxio.ToTensor(after.Graph.Value("gamma").Initializer)
	if err != nil {
		t.Fatal(err)
	}
	g0, _ := onnxio.ToTensor(before.Graph.Value("gamma").Initializer)
	if !(g.Float32()[3] < g0.Float32()[3]/5) {
		t.Errorf("gamma[3] %g -> %g: the outlier channel's 1/s did not fold into gamma", g0.Float32()[3], g.Float32()[3])
	}
	// The activations the MatMuls and the Gemm now read must be flatter.
	var smoothed []string
	for _, n := range after.Graph.Nodes {
		if n.OpType == "MatMul" || n.OpType == "Gemm" {
			smoothed = append(smoothed, n.Inputs[0].Name)
		}
	}
	after2 := absMaxLast(t, after, in, smoothed)
	ratio := func(a []float32) float64 {
		lo, hi := math.Inf(1), 0.0
		for _, v := range a {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		return hi / lo
	}
	for _, s := range smoothed {
		if r := ratio(after2[s]); r > 20 {
			t.Errorf("activation %q: max/min channel range %.1f after smoothing, want at most 20", s, r)
		}
	}
}

// TestSmoothQuantAlpha rejects alphas outside 0..1.
func TestSmoothQuantAlpha(t *testing.T) {
	m := mustGraph(t, newPGraph().in("x", 1, 2).out("y", 1, 2).init("w", rnd(1, 2, 2)).node("MatMul", []string{"x", "w"}, []string{"y"}).model(13))
	for _, a := range []float64{-0.1, 1.5, math.NaN()} {
		if err := rewrite.SmoothQuant(m, a, nil); err == nil {
			t.Errorf("alpha %g accepted", a)
		}
	}
}
