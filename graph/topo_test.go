package graph

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// nodesModel builds a graph from "Op:in1,in2>out" specs; "x" is the input,
// and the last node's output the graph output. Node names are the specs'
// outputs.
func nodesModel(t *testing.T, specs ...string) *Model {
	t.Helper()
	gp := &onnx.GraphProto{Name: proto.String("g"), Input: []*onnx.ValueInfoProto{{Name: proto.String("x")}}}
	var last string
	for _, s := range specs {
		op, rest, _ := strings.Cut(s, ":")
		in, out, _ := strings.Cut(rest, ">")
		n := &onnx.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: strings.Split(in, ","), Output: []string{out}}
		if op == "If" {
			// The then-branch reads in's first name from the outer graph.
			body := &onnx.GraphProto{
				Name:   proto.String("body_" + out),
				Node:   []*onnx.NodeProto{{OpType: proto.String("Neg"), Input: n.Input[1:], Output: []string{out + "_t"}}},
				Output: []*onnx.ValueInfoProto{{Name: proto.String(out + "_t")}},
			}
			n.Input = n.Input[:1]
			n.Attribute = []*onnx.AttributeProto{{Name: proto.String("then_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: body}}
		}
		gp.Node = append(gp.Node, n)
		last = out
	}
	gp.Output = []*onnx.ValueInfoProto{{Name: proto.String(last)}}
	m, err := FromProto(&onnx.ModelProto{IrVersion: proto.Int64(8), Graph: gp})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTopoSort(t *testing.T) {
	cases := []struct {
		name  string
		specs []string
		want  string // node names in order, or the error's text
		err   bool
		edit  func(g *Graph) // makes the cycle FromProto would refuse
	}{
		{"sorted stays", []string{"Relu:x>a", "Neg:x>b", "Add:a,b>c"}, "a b c", false, nil},
		{"independent nodes keep their order", []string{"Neg:x>b", "Relu:x>a", "Add:a,b>c"}, "b a c", false, nil},
		{"reversed chain", []string{"Add:a,b>c", "Neg:a>b", "Relu:x>a"}, "a b c", false, nil},
		{"only moves what must move", []string{"Abs:x>p", "Add:a,p>c", "Neg:x>q", "Relu:x>a", "Sum:c,q>r"}, "p q a c r", false, nil},
		{"implicit subgraph input orders the If", []string{"If:x,a>c", "Relu:x>a"}, "a c", false, nil},
		{"cycle", []string{"Relu:x>a", "Add:a,x>b", "Neg:b>c"}, "cycle through b (Add) -> c (Neg)", true,
			func(g *Graph) { g.Value("b").Producer.SetInput(1, g.Value("c")) }},
		{"cycle through a subgraph", []string{"If:x,x>a", "Neg:a>b"}, "cycle through a (If) -> b (Neg)", true,
			func(g *Graph) { g.Value("a").Producer.Subgraphs["then_branch"][0].Nodes[0].SetInput(0, g.Value("b")) }},
		{"self loop", []string{"Add:x,x>a"}, "reads its own output", true,
			func(g *Graph) { g.Value("a").Producer.SetInput(1, g.Value("a")) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := nodesModel(t, c.specs...).Graph
			if c.edit != nil {
				c.edit(g)
			}
			before := names(g.Nodes)
			sorted, err := g.TopoSort()
			if c.err {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want one containing %q", err, c.want)
				}
				if names(g.Nodes) != before {
					t.Error("a failed TopoSort changed g.Nodes")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(sorted); got != c.want {
				t.Errorf("order = %q, want %q", got, c.want)
			}
			if names(g.Nodes) != before {
				t.Error("TopoSort changed g.Nodes; only Sort may")
			}
			if err := g.Sort(); err != nil {
				t.Fatal(err)
			}
			again, err := g.TopoSort()
			if err != nil || names(again) != c.want {
				t.Errorf("sorting a sorted graph gave %q, %v", names(again), err)
			}
		})
	}
}

// TestFromProtoRefusesCycles checks a model whose nodes form a cycle is an
// error when read, naming the nodes.
func TestFromProtoRefusesCycles(t *testing.T) {
	node := func(op, in, out string) *onnx.NodeProto {
		return &onnx.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: []string{in}, Output: []string{out}}
	}
	gp := &onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{{Name: proto.String("x")}},
		Node:   []*onnx.NodeProto{node("Relu", "c", "a"), node("Neg", "a", "b"), node("Abs", "b", "c")},
		Output: []*onnx.ValueInfoProto{{Name: proto.String("c")}},
	}
	_, err := FromProto(&onnx.ModelProto{IrVersion: proto.Int64(8), Graph: gp})
	if err == nil || !strings.Contains(err.Error(), "cycle") || !strings.Contains(err.Error(), "Neg") {
		t.Errorf("err = %v, want a cycle error naming the nodes", err)
	}
}

func names(ns []*Node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Name)
	}
	return strings.Join(s, " ")
}
