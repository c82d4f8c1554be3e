package rewrite_test

import (
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// TestFoldAffine folds a PP-LCNetV3-style chain: Conv -> Mul(s) -> Add(t)
// -> Relu -> Mul(s) -> Add(t) -> Conv, where the second Conv is once
// unpadded (everything folds) and once padded (the Add before it must stay,
// the Mul moves into it), with scalar and per-channel constants, a
// depthwise Conv, and a Mul whose output is also a graph output (it folds
// into the Conv, which then produces that output, so the Add after it must
// stay). The outputs must not change.
func TestFoldAffine(t *testing.T) {
	scalar := func(v float32) *tensor.Tensor { return tensor.FromFloat32([]float32{v}, 1) }
	cases := []struct {
		name     string
		pads     []int64
		group    int64
		perChan  bool
		extraOut bool
		wantOps  map[string]int // Mul and Add nodes left
	}{
		{"unpadded, scalar", []int64{0, 0, 0, 0}, 1, false, false, map[string]int{"Mul": 0, "Add": 0}},
		{"unpadded, per channel", []int64{0, 0, 0, 0}, 1, true, false, map[string]int{"Mul": 0, "Add": 0}},
		{"padded depthwise", []int64{1, 1, 1, 1}, 8, true, false, map[string]int{"Mul": 0, "Add": 1}},
		{"padded, scalar", []int64{1, 1, 1, 1}, 1, false, false, map[string]int{"Mul": 0, "Add": 1}},
		{"first Mul is an output", []int64{0, 0, 0, 0}, 1, false, true, map[string]int{"Mul": 0, "Add": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := func(seed uint64, v float32) *tensor.Tensor {
				if !c.perChan {
					return scalar(v)
				}
				r := rnd(seed, 8, 1, 1)
				for i, x := range r.Float32() {
					r.Float32()[i] = v + x/2
				}
				return r
			}
			w2 := rnd(5, 6, 8, 3, 3)
			out := int64(6)
			if c.group > 1 {
				w2 = rnd(5, 8, 1, 3, 3)
				out = 8
			}
			side := int64(4)
			if c.pads[0] == 1 {
				side = 6
			}
			b := newPGraph().in("x", 2, 3, 6, 6).out("y", 2, out, side, side).
				init("w1", rnd(1, 8, 3, 1, 1)).init("b1", rnd(2, 8)).
				init("s1", k(10, 1.5)).init("t1", k(11, 0.4)).
				init("s2", k(12, 0.2)).init("t2", k(13, -0.3)).
				init("w2", w2).init("b2", rnd(6, int(out))).
				node("Conv", []string{"x", "w1", "b1"}, []string{"c1"}).
				node("Mul", []string{"c1", "s1"}, []string{"m1"}).
				node("Add", []string{"t1", "m1"}, []string{"a1"}).
				node("Relu", []string{"a1"}, []string{"r1"}).
				node("Mul", []string{"r1", "s2"}, []string{"m2"}).
				node("Add", []string{"m2", "t2"}, []string{"a2"}).
				node("Conv", []string{"a2", "w2", "b2"}, []string{"y"}, intsAttr("pads", c.pads...), intAttr("group", c.group))
			if c.extraOut {
				b = b.out("m1", 2, 8, 6, 6)
			}
			before := mustGraph(t, b.model(13))
			after := roundTrip(t, before)
			if err := rewrite.FoldAffine(after); err != nil {
				t.Fatal(err)
			}
			in := map[string]*tensor.Tensor{"x": rnd(20, 2, 3, 6, 6)}
			want, got := runEngine(t, before, in), runEngine(t, roundTrip(t, after), in)
			sameOutputs(t, want, got, 1e-5*maxAbs(want["y"]))
			ops := map[string]int{}
			for _, n := range after.Graph.Nodes {
				ops[n.OpType]++
			}
			// Values that remain keep their meaning: a name left in the
			// graph carries what it carried before.
			for _, n := range after.Graph.Nodes {
				for _, o := range n.Outputs {
					if ov := before.Graph.Value(o.Name); ov != nil && ov.Producer != nil {
						w := runEngineValue(t, before, in, o.Name)
						g := runEngineValue(t, roundTrip(t, after), in, o.Name)
						sameOutputs(t, map[string]*tensor.Tensor{o.Name: w}, map[string]*tensor.Tensor{o.Name: g}, 1e-5*maxAbs(w))
					}
				}
			}
			for op, n := range c.wantOps {
				if ops[op] != n {
					t.Errorf("%d %s nodes left, want %d (graph: %v)", ops[op], op, n, ops)
				}
			}
		})
	}
}

// runEngineValue runs m and returns a copy of the named value.
func runEngineValue(t *testing.T, m *graph.Model, in map[string]*tensor.Tensor, name string) *tensor.Tensor {
	t.Helper()
	e, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out *tensor.Tensor
	if _, err := e.Run(in, func(v string, _ *graph.Node, x *tensor.Tensor) error {
		if v == name {
			out = x.Clone()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out == nil {
		t.Fatalf("value %q not produced", name)
	}
	return out
}
