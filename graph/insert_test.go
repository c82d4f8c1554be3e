package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// build makes a model from "Op(in,in)->out" specs; x is the input, the
// listed outputs are graph outputs and inits are float initializers.
func build(t *testing.T, nodes []string, outputs, inits []string) *onnx.ModelProto {
	t.Helper()
	g := &onnx.GraphProto{Name: proto.String("main"), Input: []*onnx.ValueInfoProto{{Name: proto.String("x")}}}
	for _, o := range outputs {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String(o)})
	}
	for _, n := range inits {
		g.Initializer = append(g.Initializer, &onnx.TensorProto{Name: proto.String(n), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}})
	}
	for _, s := range nodes {
		var op, ins, outs string
		if _, err := fmt.Sscanf(strings.NewReplacer("(", " ", ")->", " ").Replace(s), "%s %s %s", &op, &ins, &outs); err != nil {
			t.Fatalf("spec %q: %v", s, err)
		}
		g.Node = append(g.Node, &onnx.NodeProto{Name: proto.String(op + "_" + outs), OpType: proto.String(op), Input: strings.Split(ins, ","), Output: strings.Split(outs, ",")})
	}
	return &onnx.ModelProto{IrVersion: proto.Int64(8), OpsetImport: []*onnx.OperatorSetIdProto{{Version: proto.Int64(17)}}, Graph: g}
}

// describe writes a graph back in build's notation, in node order, with
// its initializers, after checking it survives ToProto/FromProto and its
// consumer lists agree with the node inputs.
func describe(t *testing.T, m *graph.Model) string {
	t.Helper()
	mp, err := m.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graph.FromProto(mp); err != nil {
		t.Fatalf("edited model does not load: %v", err)
	}
	var parts []string
	for _, n := range m.Graph.Nodes {
		var ins, outs []string
		for _, v := range n.Inputs {
			ins = append(ins, v.Name)
			found := false
			for _, c := range v.Consumers {
				found = found || c == n
			}
			if !found {
				t.Errorf("%s reads %s but is not among its consumers", n, v.Name)
			}
		}
		for _, v := range n.Outputs {
			outs = append(outs, v.Name)
			if v.Producer != n {
				t.Errorf("%s outputs %s but is not its producer", n, v.Name)
			}
		}
		parts = append(parts, fmt.Sprintf("%s(%s)->%s", n.OpType, strings.Join(ins, ","), strings.Join(outs, ",")))
	}
	var inits []string
	for _, v := range m.Graph.Initializers() {
		inits = append(inits, v.Name)
	}
	return strings.Join(parts, " ") + " | " + strings.Join(inits, ",")
}

func TestEditPrimitivesTable(t *testing.T) {
	nodes := []string{"Relu(x)->a", "Add(a,w)->s", "Neg(a)->dead", "Sigmoid(s)->y"}
	tests := []struct {
		name string
		edit func(m *graph.Model) error
		want string
	}{
		{"unchanged", func(*graph.Model) error { return nil },
			"Relu(x)->a Add(a,w)->s Neg(a)->dead Sigmoid(s)->y | w,unused"},
		{"insert after a value", func(m *graph.Model) error {
			m.Graph.Value("a").InsertAfter("Identity", "", "a_q", nil)
			return nil
		}, "Relu(x)->a Identity(a)->a_q Add(a_q,w)->s Neg(a_q)->dead Sigmoid(s)->y | w,unused"},
		{"insert after a graph input, with extra inputs", func(m *graph.Model) error {
			m.Graph.Value("x").InsertAfter("Mul", "", "x", []*graph.Value{m.Graph.Value("w")})
			return nil
		}, "Mul(x,w)->x_1 Relu(x_1)->a Add(a,w)->s Neg(a)->dead Sigmoid(s)->y | w,unused"},
		{"insert before a graph output keeps the output", func(m *graph.Model) error {
			m.Graph.Value("y").InsertAfter("Identity", "", "y", nil)
			return nil
		}, "Relu(x)->a Add(a,w)->s Neg(a)->dead Sigmoid(s)->y Identity(y)->y_1 | w,unused"},
		{"replace uses", func(m *graph.Model) error {
			graph.ReplaceUses(m.Graph.Value("a"), m.Graph.Value("x"))
			if n := len(m.Graph.Value("a").Consumers); n != 0 {
				return fmt.Errorf("a still has %d consumers", n)
			}
			return nil
		}, "Relu(x)->a Add(x,w)->s Neg(x)->dead Sigmoid(s)->y | w,unused"},
		{"remove dead", func(m *graph.Model) error {
			if n := m.Graph.RemoveDead(); n != 1 {
				return fmt.Errorf("removed %d nodes, want 1", n)
			}
			return nil
		}, "Relu(x)->a Add(a,w)->s Sigmoid(s)->y | w"},
		{"remove dead after rewiring removes a chain", func(m *graph.Model) error {
			graph.ReplaceUses(m.Graph.Value("s"), m.Graph.Value("x"))
			if n := m.Graph.RemoveDead(); n != 3 {
				return fmt.Errorf("removed %d nodes, want 3", n)
			}
			return nil
		}, "Sigmoid(x)->y | "},
		{"add initializer gets a unique name", func(m *graph.Model) error {
			v := m.Graph.AddInitializer("w", &onnx.TensorProto{DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{2}})
			m.Graph.Nodes[1].SetInput(1, v)
			return nil
		}, "Relu(x)->a Add(a,w_1)->s Neg(a)->dead Sigmoid(s)->y | w,unused,w_1"},
		{"remove node and initializer", func(m *graph.Model) error {
			m.Graph.RemoveNode(m.Graph.Nodes[2])
			if err := m.Graph.RemoveInitializer(m.Graph.Value("w")); err == nil {
				return fmt.Errorf("removed an initializer that Add reads")
			}
			return m.Graph.RemoveInitializer(m.Graph.Value("unused"))
		}, "Relu(x)->a Add(a,w)->s Sigmoid(s)->y | w"},
		{"add node lands after its inputs' producers", func(m *graph.Model) error {
			m.Graph.AddNode("Mul", "", []*graph.Value{m.Graph.Value("a"), m.Graph.Value("x")}, []string{"m"})
			return nil
		}, "Relu(x)->a Mul(a,x)->m Add(a,w)->s Neg(a)->dead Sigmoid(s)->y | w,unused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := graph.FromProto(build(t, nodes, []string{"y"}, []string{"w", "unused"}))
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.edit(m); err != nil {
				t.Fatal(err)
			}
			if got := describe(t, m); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestUniqueName(t *testing.T) {
	m, err := graph.FromProto(build(t, []string{"Relu(x)->a", "Relu(a)->a_1"}, []string{"a_1"}, []string{"w"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ base, want string }{
		{"fresh", "fresh"}, {"fresh", "fresh_1"}, {"a", "a_2"}, {"w", "w_1"}, {"x", "x_1"}, {"Relu_a", "Relu_a_2"}, // node names count: build named the nodes Relu_a and Relu_a_1
	} {
		if got := m.Graph.UniqueName(tt.base); got != tt.want {
			t.Errorf("UniqueName(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

// TestFromProtoErrors checks the graphs FromProto or TopoSort must refuse.
func TestFromProtoErrors(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		want  string
	}{
		{"unproduced input", []string{"Add(x,ghost)->y"}, `reads "ghost"`},
		{"two producers", []string{"Relu(x)->y", "Neg(x)->y"}, "produced by two nodes"},
		{"cycle", []string{"Relu(b)->a", "Neg(a)->b", "Relu(x)->y"}, "cycle"},
		{"self loop", []string{"Add(x,y)->y"}, "its own output"},
	}
	for _, tt := range tests {
		m, err := graph.FromProto(build(t, tt.nodes, []string{"y"}, nil))
		if err == nil {
			err = m.Graph.Walk(func(g *graph.Graph) error { _, err := g.TopoSort(); return err })
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	// Two attributes of one name (found by FuzzLoadBytes: two If branches
	// with their names dropped) cannot round-trip.
	mp := build(t, []string{"Relu(x)->y"}, []string{"y"}, nil)
	n := mp.GetGraph().GetNode()[0]
	n.Attribute = []*onnx.AttributeProto{{Name: proto.String("alpha"), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(1)}, {Name: proto.String("alpha"), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(2)}}
	if _, err := graph.FromProto(mp); err == nil || !strings.Contains(err.Error(), `two attributes named "alpha"`) {
		t.Errorf("duplicate attributes: error %v", err)
	}
}

// TestTopoSortStable: a sorted graph keeps its order; an unsorted one is
// sorted with ties kept in their original order.
func TestTopoSortStable(t *testing.T) {
	for _, tt := range []struct {
		nodes []string
		want  string
	}{
		{[]string{"Relu(x)->a", "Neg(x)->b", "Add(a,b)->y"}, "a b y"},
		{[]string{"Add(a,b)->y", "Neg(x)->b", "Relu(x)->a"}, "b a y"},
		{[]string{"Neg(a)->y", "Relu(x)->a"}, "a y"},
	} {
		m, err := graph.FromProto(build(t, tt.nodes, []string{"y"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		order, err := m.Graph.TopoSort()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range order {
			got = append(got, n.Outputs[0].Name)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%v: order %v, want %s", tt.nodes, got, tt.want)
		}
	}
}
