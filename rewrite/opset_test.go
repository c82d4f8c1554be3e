package rewrite_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

func typed(b *pgraph, dt tensor.DType) *pgraph {
	b.g.Output[len(b.g.Output)-1].Type.GetTensorType().ElemType = ptr(int32(dt))
	return b
}

func stringAttr(name, v string) *onnx.AttributeProto { return graph.StringAttr(name, v) }

// TestUpgradeOpsetORT upgrades one-node models from old opsets and checks,
// in ONNX Runtime, that they compute the same before and after, and that
// the converted node no longer carries what the new opset dropped. The
// checker (ONNX 1.12) knows opsets up to 17 only, so targets above 17 are
// checked by ONNX Runtime alone.
func TestUpgradeOpsetORT(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	x4 := []int{2, 3, 4, 5}
	cases := []struct {
		name     string
		from, to int64
		build    func() *pgraph
		x        []int
		gone     []string // attributes that must be gone from the converted node
		wantOp   string   // op type expected after the upgrade ("" = unchanged)
		extraOps int      // nodes added
	}{
		{"clip-min-max", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Clip", []string{"x"}, []string{"y"}, withFloat("min", -0.2), withFloat("max", 0.3)).out("y")
		}, x4, []string{"min", "max"}, "", 0},
		{"clip-max-only", 7, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Clip", []string{"x"}, []string{"y"}, withFloat("max", 0.3)).out("y")
		}, x4, []string{"max"}, "", 0},
		{"pad-constant", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Pad", []string{"x"}, []string{"y"}, graph.IntsAttr("pads", []int64{0, 0, 1, 2, 0, 1, 0, 1}), withFloat("value", 1.5)).out("y")
		}, x4, []string{"pads", "value"}, "", 0},
		{"pad-reflect", 10, 17, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Pad", []string{"x"}, []string{"y"}, graph.IntsAttr("pads", []int64{0, 0, 1, 2, 0, 0, 2, 1}), stringAttr("mode", "reflect")).out("y")
		}, x4, []string{"pads"}, "", 0},
		{"slice", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Slice", []string{"x"}, []string{"y"}, graph.IntsAttr("starts", []int64{1, 0}), graph.IntsAttr("ends", []int64{3, 1000}), graph.IntsAttr("axes", []int64{1, 3})).out("y")
		}, x4, []string{"starts", "ends", "axes"}, "", 0},
		{"slice-no-axes", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Slice", []string{"x"}, []string{"y"}, graph.IntsAttr("starts", []int64{1, 1}), graph.IntsAttr("ends", []int64{2, -1})).out("y")
		}, x4, []string{"starts", "ends"}, "", 0},
		{"squeeze-unsqueeze", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2, 1, 4, 5).node("Squeeze", []string{"x"}, []string{"s"}, graph.IntsAttr("axes", []int64{1})).
				node("Unsqueeze", []string{"s"}, []string{"y"}, graph.IntsAttr("axes", []int64{0, -1})).out("y")
		}, []int{2, 1, 4, 5}, []string{"axes"}, "", 0},
		{"squeeze-all", 9, 21, func() *pgraph {
			return newPGraph().in("x", 2, 1, 4, 1).node("Squeeze", []string{"x"}, []string{"y"}).out("y")
		}, []int{2, 1, 4, 1}, nil, "", 0},
		{"split-sizes", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("Split", []string{"x"}, []string{"a", "b"}, graph.IntAttr("axis", 3), graph.IntsAttr("split", []int64{2, 3})).out("a").out("b")
		}, x4, []string{"split"}, "", 0},
		{"split-equal-18", 11, 18, func() *pgraph {
			return newPGraph().in("x", 2, 4, 4, 5).node("Split", []string{"x"}, []string{"a", "b"}, graph.IntAttr("axis", 1)).out("a").out("b")
		}, []int{2, 4, 4, 5}, nil, "", 0},
		{"reducesum", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("ReduceSum", []string{"x"}, []string{"y"}, graph.IntsAttr("axes", []int64{1, -1})).out("y")
		}, x4, []string{"axes"}, "", 0},
		{"reducemean-18", 11, 18, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("ReduceMean", []string{"x"}, []string{"y"}, graph.IntsAttr("axes", []int64{2}), graph.IntAttr("keepdims", 0)).out("y")
		}, x4, []string{"axes"}, "", 0},
		{"reducemax-all-18", 9, 18, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("ReduceMax", []string{"x"}, []string{"y"}, graph.IntAttr("keepdims", 0)).out("y")
		}, x4, nil, "", 0},
		{"reducel2-21", 13, 21, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("ReduceL2", []string{"x"}, []string{"y"}, graph.IntsAttr("axes", []int64{0, 3})).out("y")
		}, x4, []string{"axes"}, "", 0},
		{"softmax-2d-default", 9, 13, func() *pgraph {
			return newPGraph().in("x", 3, 7).node("Softmax", []string{"x"}, []string{"y"}).out("y")
		}, []int{3, 7}, nil, "", 0},
		{"softmax-last-axis", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4).node("Softmax", []string{"x"}, []string{"y"}, graph.IntAttr("axis", 2)).out("y")
		}, []int{2, 3, 4}, nil, "", 0},
		{"softmax-coerced", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4).node("Softmax", []string{"x"}, []string{"y"}, graph.IntAttr("axis", 1)).out("y")
		}, []int{2, 3, 4}, nil, "", 3},
		{"softmax-rank-inferred", 11, 13, func() *pgraph {
			// No value_info: the rank comes from the input through
			// Transpose and MatMul, so no Flatten/Reshape is needed.
			return newPGraph().in("x", 2, 3, 4).init("w", rnd(1, 3, 5)).
				node("Transpose", []string{"x"}, []string{"t"}, graph.IntsAttr("perm", []int64{0, 2, 1})).
				node("MatMul", []string{"t", "w"}, []string{"mm"}).
				node("Softmax", []string{"mm"}, []string{"y"}, graph.IntAttr("axis", 2)).out("y")
		}, []int{2, 3, 4}, nil, "", 0},
		{"softmax-unknown-rank", 11, 13, func() *pgraph {
			return newPGraph().in("x").node("Softmax", []string{"x"}, []string{"y"}).out("y")
		}, []int{2, 3, 4}, nil, "", 3},
		{"logsoftmax-coerced", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).node("LogSoftmax", []string{"x"}, []string{"y"}, graph.IntAttr("axis", 2)).out("y")
		}, x4, nil, "", 3},
		{"hardmax-coerced", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4).node("Hardmax", []string{"x"}, []string{"y"}).out("y")
		}, []int{2, 3, 4}, nil, "", 3},
		{"upsample-7-nearest", 7, 13, func() *pgraph {
			return newPGraph().in("x", 1, 2, 3, 4).node("Upsample", []string{"x"}, []string{"y"}, floatsAttr("scales", 1, 1, 2, 3)).out("y")
		}, []int{1, 2, 3, 4}, []string{"scales"}, "Resize", 0},
		{"upsample-9-linear", 9, 13, func() *pgraph {
			return newPGraph().in("x", 1, 2, 3, 4).init("sc", tensor.FromFloat32([]float32{1, 1, 2, 2}, 4)).
				node("Upsample", []string{"x", "sc"}, []string{"y"}, stringAttr("mode", "linear")).out("y")
		}, []int{1, 2, 3, 4}, nil, "Resize", 0},
		{"resize-10-nearest-up", 10, 13, func() *pgraph {
			return newPGraph().in("x", 1, 2, 3, 4).init("sc", tensor.FromFloat32([]float32{1, 1, 2.5, 1.5}, 4)).
				node("Resize", []string{"x", "sc"}, []string{"y"}).out("y")
		}, []int{1, 2, 3, 4}, nil, "Resize", 0},
		{"resize-10-nearest-down", 10, 13, func() *pgraph {
			return newPGraph().in("x", 1, 2, 6, 8).init("sc", tensor.FromFloat32([]float32{1, 1, 0.5, 0.4}, 4)).
				node("Resize", []string{"x", "sc"}, []string{"y"}).out("y")
		}, []int{1, 2, 6, 8}, nil, "Resize", 0},
		{"resize-10-linear", 10, 21, func() *pgraph {
			return newPGraph().in("x", 1, 2, 3, 4).init("sc", tensor.FromFloat32([]float32{1, 1, 2, 1.5}, 4)).
				node("Resize", []string{"x", "sc"}, []string{"y"}, stringAttr("mode", "linear")).out("y")
		}, []int{1, 2, 3, 4}, nil, "Resize", 0},
		{"dropout", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3).node("Dropout", []string{"x"}, []string{"y"}, withFloat("ratio", 0.25)).out("y")
		}, []int{2, 3}, []string{"ratio"}, "", 0},
		{"topk", 9, 13, func() *pgraph {
			b := newPGraph().in("x", 3, 6).node("TopK", []string{"x"}, []string{"v", "i"}, graph.IntAttr("k", 2)).out("v")
			return typed(b.out("i"), tensor.Int64)
		}, []int{3, 6}, []string{"k"}, "", 0},
		{"scatter", 9, 13, func() *pgraph {
			return newPGraph().in("x", 3, 4).init("idx", tensor.FromInt64([]int64{1, 0, 2, 3, 0, 1}, 2, 3)).init("u", rnd(4, 2, 3)).
				node("Scatter", []string{"x", "idx", "u"}, []string{"y"}, graph.IntAttr("axis", 1)).out("y")
		}, []int{3, 4}, nil, "ScatterElements", 0},
		{"batchnorm-7", 7, 15, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).init("s", rnd(1, 3)).init("b", rnd(2, 3)).init("m", rnd(3, 3)).init("v", positive(4, 3)).
				node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"}, graph.IntAttr("spatial", 1)).out("y")
		}, x4, []string{"spatial"}, "", 0},
		{"unchanged-ops", 9, 13, func() *pgraph {
			return newPGraph().in("x", 2, 3, 4, 5).init("w", rnd(1, 4, 3, 3, 3)).
				node("Conv", []string{"x", "w"}, []string{"c"}, graph.IntsAttr("pads", []int64{1, 1, 1, 1})).
				node("Relu", []string{"c"}, []string{"r"}).node("MaxPool", []string{"r"}, []string{"p"}, graph.IntsAttr("kernel_shape", []int64{2, 2})).
				node("Cast", []string{"p"}, []string{"y"}, graph.IntAttr("to", int64(tensor.Float))).out("y")
		}, x4, nil, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mp := c.build().model(c.from)
			// The opset-7 models need IR 3.
			if c.from < 9 {
				mp.IrVersion = ptr(int64(3))
			}
			dir := t.TempDir()
			orig := filepath.Join(dir, "orig.onnx")
			if err := onnxio.Save(orig, mp, onnxio.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			m := mustGraph(t, mp)
			before := 0
			for range m.Graph.Nodes {
				before++
			}
			if err := rewrite.UpgradeOpset(m, int(c.to)); err != nil {
				t.Fatal(err)
			}
			if m.Opset("") != int(c.to) {
				t.Errorf("opset %d, want %d", m.Opset(""), c.to)
			}
			if len(m.Graph.Nodes) != before+c.extraOps {
				t.Errorf("%d nodes after, want %d", len(m.Graph.Nodes), before+c.extraOps)
			}
			for _, n := range m.Graph.Nodes {
				for _, a := range c.gone {
					if n.Attr(a) != nil && n.OpType != "Flatten" {
						t.Errorf("node %s still has attribute %q", n, a)
					}
				}
			}
			if c.wantOp != "" && len(nodesOf(m, c.wantOp)) != 1 {
				t.Errorf("no %s node after the upgrade", c.wantOp)
			}
			out, err := m.ToProto()
			if err != nil {
				t.Fatal(err)
			}
			if out.GetIrVersion() < 7 {
				t.Errorf("IR version %d for opset %d", out.GetIrVersion(), c.to)
			}
			up := filepath.Join(dir, "up.onnx")
			if err := onnxio.Save(up, out, onnxio.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			in := map[string]*tensor.Tensor{"x": rnd(21, c.x...)}
			want, err := oracle.ORT(orig, in, oracle.ORTOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := oracle.ORT(up, in, oracle.ORTOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameOutputs(t, want, got, 1e-6)
			if c.to <= 17 && oracle.Available(oracle.PythonONNXOracle) == nil {
				// The 1.12 checker wants a shape on every graph input and
				// output; the tiny models leave most unknown, so declare
				// the ones ONNX Runtime computed.
				declareShapes(out.Graph.Input, in)
				declareShapes(out.Graph.Output, got)
				if err := onnxio.Save(up, out, onnxio.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
				if err := oracle.CheckModel(up, true); err != nil {
					t.Errorf("checker: %v", err)
				}
			}
		})
	}
}

func declareShapes(vis []*onnx.ValueInfoProto, ts map[string]*tensor.Tensor) {
	for _, vi := range vis {
		tt := vi.GetType().GetTensorType()
		if tt == nil || tt.Shape != nil || ts[vi.GetName()] == nil {
			continue
		}
		tt.Shape = &onnx.TensorShapeProto{}
		for _, d := range ts[vi.GetName()].Shape {
			tt.Shape.Dim = append(tt.Shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
	}
}

// TestUpgradeOpsetSubgraph converts nodes inside If branches too.
func TestUpgradeOpsetSubgraph(t *testing.T) {
	branch := func(axis int64) *onnx.GraphProto {
		return newPGraph().node("Unsqueeze", []string{"x"}, []string{"b"}, graph.IntsAttr("axes", []int64{axis})).out("b").g
	}
	mp := newPGraph().in("x", 2, 3).in("cond").
		node("If", []string{"cond"}, []string{"y"}, graphAttr("then_branch", branch(0)), graphAttr("else_branch", branch(0))).
		out("y").model(11)
	m := mustGraph(t, mp)
	if err := rewrite.UpgradeOpset(m, 13); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodesOf(m, "Unsqueeze") {
		if n.Attr("axes") != nil || len(n.Inputs) != 2 || n.Inputs[1].Initializer == nil || n.Inputs[1].Graph != n.Graph {
			t.Errorf("node %s in %q not converted: %d inputs", n, n.Graph.Name, len(n.Inputs))
		}
	}
}

func TestUpgradeOpsetRefuses(t *testing.T) {
	cases := []struct {
		name     string
		from, to int64
		build    func() *pgraph
		want     string
	}{
		{"unknown-op", 11, 13, func() *pgraph {
			return newPGraph().in("x", 2).node("FancyOp", []string{"x"}, []string{"y"}).out("y")
		}, "FancyOp"},
		{"scan-8", 8, 13, func() *pgraph {
			return newPGraph().in("x", 2).node("Scan", []string{"", "x"}, []string{"y"}).out("y")
		}, "changed meaning at opset 9"},
		{"roialign-across-16", 13, 17, func() *pgraph {
			return newPGraph().in("x", 2).node("RoiAlign", []string{"x", "x", "x"}, []string{"y"}).out("y")
		}, "RoiAlign"},
		{"batchnorm-per-activation", 7, 13, func() *pgraph {
			return newPGraph().in("x", 2).node("BatchNormalization", []string{"x", "x", "x", "x", "x"}, []string{"y"}, graph.IntAttr("spatial", 0)).out("y")
		}, "spatial=0"},
		{"resize-10-mixed-scales", 10, 13, func() *pgraph {
			return newPGraph().in("x", 1, 1, 4, 4).init("sc", tensor.FromFloat32([]float32{1, 1, 2, 0.5}, 4)).
				node("Resize", []string{"x", "sc"}, []string{"y"}).out("y")
		}, "enlarging and shrinking"},
		{"too-old", 6, 13, func() *pgraph {
			return newPGraph().in("x", 2).node("Relu", []string{"x"}, []string{"y"}).out("y")
		}, "oldest opset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustGraph(t, c.build().model(c.from))
			err := rewrite.UpgradeOpset(m, int(c.to))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "cannot upgrade") {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if m.Opset("") != int(c.from) {
				t.Errorf("opset changed to %d on failure", m.Opset(""))
			}
		})
	}
}

// TestUpgradeOpsetNoop leaves models already at or above the target alone.
func TestUpgradeOpsetNoop(t *testing.T) {
	mp := newPGraph().in("x", 2).node("FancyOp", []string{"x"}, []string{"y"}).out("y").model(17)
	m := mustGraph(t, mp)
	if err := rewrite.UpgradeOpset(m, 13); err != nil {
		t.Fatal(err)
	}
	if m.Opset("") != 17 {
		t.Errorf("opset %d, want 17 kept", m.Opset(""))
	}
}
