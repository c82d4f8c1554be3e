package kernels

import (
	"math"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := float32(-87.3); x < 88.7; x += 0.000731 {
		got := float64(nnExp32(x))
		want := math.Exp(float64(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 3e-7 {
		t.Errorf("worst relative error %g, want <= 3e-7", worst)
	}
	for _, c := range []struct{ x, want float32 }{{0, 1}, {-100, 0}, {100, float32(math.Inf(1))}} {
		if got := nnExp32(c.x); got != c.want {
			t.Errorf("nnExp32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if nan := float32(math.NaN()); !math.IsNaN(float64(nnExp32(nan))) {
		t.Error("nnExp32(NaN) is not NaN")
	}
}

// TestSoftmaxAxisSemantics checks the opset-13 single-axis rule against the
// opset-11 flatten-at-axis rule on the same data: they agree only when the
// axis is the last one.
func TestSoftmaxAxisSemantics(t *testing.T) {
	x := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 1, 2, 3)
	run := func(opset int, axis int64) []float32 {
		n := &graph.Node{OpType: "Softmax"}
		n.SetAttr(graph.IntAttr("axis", axis))
		op, err := buildSoftmax("Softmax")(n, opset)
		if err != nil {
			t.Fatal(err)
		}
		y, err := op.Run(nil, []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		return y[0].Float32()
	}
	// opset 11, axis 1: one softmax over all 6 values
	y11 := run(11, 1)
	var s float64
	for _, v := range y11 {
		s += float64(v)
	}
	if math.Abs(s-1) > 1e-6 {
		t.Errorf("opset 11 axis 1: sum %v, want 1", s)
	}
	// opset 13, axis 1: softmax over the 2 rows at each column
	y13 := run(13, 1)
	for j := range 3 {
		if s := y13[j] + y13[3+j]; math.Abs(float64(s)-1) > 1e-6 {
			t.Errorf("opset 13 axis 1 column %d: sum %v, want 1", j, s)
		}
	}
	want := float32(1 / (1 + math.Exp(3)))
	if math.Abs(float64(y13[0]-want)) > 1e-6 {
		t.Errorf("opset 13: y[0] = %v, want %v", y13[0], want)
	}
}
