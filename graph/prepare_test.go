package graph

import (
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

func prepModel(t *testing.T) *Model {
	t.Helper()
	s := func(v string) *string { return &v }
	op := func(typ string, in, out []string) *onnx.NodeProto {
		return &onnx.NodeProto{OpType: s(typ), Name: s(typ + out[0]), Input: in, Output: out}
	}
	gp := &onnx.GraphProto{
		Name:        s("g"),
		Input:       []*onnx.ValueInfoProto{{Name: s("x")}},
		Initializer: []*onnx.TensorProto{{Name: s("w"), Dims: []int64{1}, DataType: new(int32), FloatData: []float32{1}}},
		Node: []*onnx.NodeProto{
			op("Relu", []string{"x"}, []string{"a"}),
			op("Identity", []string{"a"}, []string{"y"}),
			op("Constant", nil, []string{"k"}),
			op("Add", []string{"a", "k"}, []string{"z"}),
		},
		Output: []*onnx.ValueInfoProto{{Name: s("y")}, {Name: s("z")}},
	}
	*gp.Initializer[0].DataType = 1
	m, err := FromProto(&onnx.ModelProto{Graph: gp})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMakeInitializer(t *testing.T) {
	cases := []struct {
		name  string
		value string
		drop  bool // remove the producer first
		err   string
	}{
		{"constant-output", "k", true, ""},
		{"still-produced", "k", false, "still produced"},
		{"initializer", "w", false, "already an initializer"},
		{"input", "x", false, "graph input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := prepModel(t)
			g := m.Graph
			v := g.Value(c.value)
			if c.drop {
				g.RemoveNode(v.Producer)
			}
			err := g.MakeInitializer(v, &onnx.TensorProto{Dims: []int64{1}})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mp, err := m.ToProto()
			if err != nil {
				t.Fatal(err)
			}
			if len(mp.Graph.Initializer) != 2 || mp.Graph.Initializer[1].GetName() != "k" || len(mp.Graph.Node) != 3 {
				t.Errorf("initializers %v, %d nodes", mp.Graph.Initializer, len(mp.Graph.Node))
			}
		})
	}
}

func TestMerge(t *testing.T) {
	m := prepModel(t)
	g := m.Graph
	a, y := g.Value("a"), g.Value("y")
	if err := g.Merge(a, g.Value("x")); err == nil {
		t.Error("merging into a graph input succeeded")
	}
	if err := g.Merge(a, y); err == nil {
		t.Error("merging into a produced value succeeded")
	}
	g.RemoveNode(y.Producer)
	if err := g.Merge(a, y); err != nil {
		t.Fatal(err)
	}
	mp, err := m.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	// Relu now produces y, and Add reads y.
	if got := mp.Graph.Node[0].GetOutput()[0]; got != "y" {
		t.Errorf("Relu produces %q, want y", got)
	}
	if got := mp.Graph.Node[2].GetInput()[0]; got != "y" {
		t.Errorf("Add reads %q, want y", got)
	}
	if g.Value("a") != nil {
		t.Error("a is still defined")
	}
}
