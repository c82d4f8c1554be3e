package rewrite_test

import (
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// pgraph builds small GraphProtos for the prepare and opset tests.
type pgraph struct{ g *onnx.GraphProto }

func newPGraph() *pgraph { return &pgraph{g: &onnx.GraphProto{Name: ptr("g")}} }

func ptr[T any](v T) *T { return &v }

// vinfo is a float tensor value_info; a negative dim is symbolic, nil
// shape means unknown rank.
func vinfo(name string, shape ...int64) *onnx.ValueInfoProto {
	tt := &onnx.TypeProto_Tensor{ElemType: ptr(int32(tensor.Float))}
	if shape != nil {
		tt.Shape = &onnx.TensorShapeProto{}
		for _, d := range shape {
			dim := &onnx.TensorShapeProto_Dimension{}
			if d < 0 {
				dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "n"}
			} else {
				dim.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnx.ValueInfoProto{Name: &name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}}
}

func (b *pgraph) in(name string, shape ...int64) *pgraph {
	b.g.Input = append(b.g.Input, vinfo(name, shape...))
	return b
}

func (b *pgraph) out(name string, shape ...int64) *pgraph {
	b.g.Output = append(b.g.Output, vinfo(name, shape...))
	return b
}

func (b *pgraph) init(name string, t *tensor.Tensor) *pgraph {
	tp, err := onnxio.FromTensor(name, t)
	if err != nil {
		panic(err)
	}
	b.g.Initializer = append(b.g.Initializer, tp)
	return b
}

func (b *pgraph) node(op string, ins, outs []string, attrs ...*onnx.AttributeProto) *pgraph {
	b.g.Node = append(b.g.Node, &onnx.NodeProto{OpType: &op, Input: ins, Output: outs, Attribute: attrs, Name: ptr(op + "_" + outs[0])})
	return b
}

func (b *pgraph) model(opset int64) *onnx.ModelProto {
	ir := int64(7)
	if opset < 13 {
		ir = 6
	}
	return &onnx.ModelProto{IrVersion: &ir, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: ptr(""), Version: &opset}}, Graph: b.g}
}

func graphAttr(name string, g *onnx.GraphProto) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: &name, Type: onnx.AttributeProto_GRAPH.Enum(), G: g}
}

func floatsAttr(name string, v ...float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: &name, Type: onnx.AttributeProto_FLOATS.Enum(), Floats: v}
}

func rnd(seed uint64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	t := tensor.New(tensor.Float, shape...)
	for i := range t.Float32() {
		t.Float32()[i] = float32(r.Float64()*2 - 1)
	}
	return t
}

func positive(seed uint64, n int) *tensor.Tensor {
	t := rnd(seed, n)
	for i, v := range t.Float32() {
		t.Float32()[i] = 0.5 + v*v
	}
	return t
}

func mustGraph(t *testing.T, mp *onnx.ModelProto) *graph.Model {
	t.Helper()
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runEngine runs m in ptq's engine.
func runEngine(t *testing.T, m *graph.Model, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	e, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameOutputs fails unless every output of want has a match in got within tol.
func sameOutputs(t *testing.T, want, got map[string]*tensor.Tensor, tol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Errorf("%d outputs, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("output %q missing", name)
			continue
		}
		d, err := maxAbsDiff(w, g)
		if err != nil {
			t.Errorf("output %q: %v", name, err)
			continue
		}
		if d > tol {
			t.Errorf("output %q differs by %g (tol %g)", name, d, tol)
		}
	}
}

// roundTrip converts m to a proto and back, as saving would.
func roundTrip(t *testing.T, m *graph.Model) *graph.Model {
	t.Helper()
	mp, err := m.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	return mustGraph(t, mp)
}
