package graph

import (
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// chainModel builds x -> Relu(a) -> Sigmoid(b) -> Add(a, b) = y, plus an
// initializer w read by nothing and an If node whose then-branch reads a.
func chainModel(t *testing.T) *Model {
	t.Helper()
	s := proto.String
	node := func(typ string, in, out []string) *onnx.NodeProto {
		return &onnx.NodeProto{OpType: s(typ), Name: s(typ + "_" + out[0]), Input: in, Output: out}
	}
	branch := func(name, out string) *onnx.GraphProto {
		return &onnx.GraphProto{
			Name:   s(name),
			Node:   []*onnx.NodeProto{node("Neg", []string{"a"}, []string{out})},
			Output: []*onnx.ValueInfoProto{{Name: s(out)}},
		}
	}
	ifNode := node("If", []string{"c"}, []string{"z"})
	ifNode.Attribute = []*onnx.AttributeProto{
		{Name: s("then_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: branch("then", "t")},
		{Name: s("else_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: branch("else", "e")},
	}
	gp := &onnx.GraphProto{
		Name:  s("main"),
		Input: []*onnx.ValueInfoProto{{Name: s("x")}, {Name: s("c")}},
		Initializer: []*onnx.TensorProto{
			{Name: s("w"), Dims: []int64{1}, DataType: proto.Int32(1), FloatData: []float32{2}},
		},
		Node: []*onnx.NodeProto{
			node("Relu", []string{"x"}, []string{"a"}),
			node("Sigmoid", []string{"a"}, []string{"b"}),
			node("Add", []string{"a", "b"}, []string{"y"}),
			ifNode,
		},
		Output: []*onnx.ValueInfoProto{{Name: s("y")}, {Name: s("z")}},
	}
	m, err := FromProto(&onnx.ModelProto{IrVersion: proto.Int64(8), Graph: gp})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func opTypes(nodes []*Node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.OpType)
	}
	return strings.Join(s, " ")
}

// consumerTypes lists the op types reading v, sorted: Consumers promises
// each reader once, not an order.
func consumerTypes(v *Value) string {
	s := strings.Fields(opTypes(v.Consumers))
	sort.Strings(s)
	return strings.Join(s, " ")
}

func TestAddNodePlacement(t *testing.T) {
	cases := []struct {
		name   string
		inputs []string // values of the main graph; "" = absent
		want   string   // op types of g.Nodes afterwards
	}{
		{"graph input goes first", []string{"x"}, "New Relu Sigmoid Add If"},
		{"after the producer", []string{"a"}, "Relu New Sigmoid Add If"},
		{"after the last producer", []string{"b", "a"}, "Relu Sigmoid New Add If"},
		{"initializer only", []string{"w"}, "New Relu Sigmoid Add If"},
		{"absent optional input", []string{"", "y"}, "Relu Sigmoid Add New If"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := chainModel(t)
			g := m.Graph
			var ins []*Value
			for _, name := range c.inputs {
				if name == "" {
					ins = append(ins, nil)
					continue
				}
				ins = append(ins, g.Value(name))
			}
			n := g.AddNode("New", "", ins, []string{"a", ""})
			if got := opTypes(g.Nodes); got != c.want {
				t.Errorf("nodes = %q, want %q", got, c.want)
			}
			if n.Outputs[0].Name == "a" || n.Outputs[0].Producer != n || n.Outputs[1] != nil {
				t.Errorf("outputs %v: want a fresh unique name produced by the node and an absent second output", n.Outputs)
			}
			for _, v := range ins {
				if v != nil && !strings.Contains(consumerTypes(v), "New") {
					t.Errorf("%s: consumers %q lack the new node", v.Name, consumerTypes(v))
				}
			}
			if _, err := g.TopoSort(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSetInputAndReplaceUses(t *testing.T) {
	cases := []struct {
		name string
		edit func(g *Graph)
		// consumer op types of a, b and x afterwards
		a, b, x string
	}{
		{"untouched", func(g *Graph) {}, "Add Neg Neg Sigmoid", "Add", "Relu"},
		{"one of two reads of a", func(g *Graph) {
			add := g.Value("y").Producer
			add.SetInput(0, g.Value("x"))
		}, "Neg Neg Sigmoid", "Add", "Add Relu"},
		{"a read twice loses one read only", func(g *Graph) {
			add := g.Value("y").Producer
			add.SetInput(1, g.Value("a")) // Add(a, a)
			add.SetInput(0, g.Value("x")) // Add(x, a): still reads a
		}, "Add Neg Neg Sigmoid", "", "Add Relu"},
		{"to nil", func(g *Graph) {
			g.Value("b").Producer.SetInput(0, nil)
		}, "Add Neg Neg", "Add", "Relu"},
		{"replace every use, subgraphs too", func(g *Graph) {
			ReplaceUses(g.Value("a"), g.Value("x"))
		}, "", "Add", "Add Neg Neg Relu Sigmoid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := chainModel(t).Graph
			c.edit(g)
			for _, w := range []struct{ v, want string }{{"a", c.a}, {"b", c.b}, {"x", c.x}} {
				if got := consumerTypes(g.Value(w.v)); got != w.want {
					t.Errorf("consumers of %s = %q, want %q", w.v, got, w.want)
				}
			}
		})
	}
}

func TestRemoveNodeAndDead(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(g *Graph) int
		removed int
		nodes   string
		gone    []string // values no longer defined
		kept    []string
	}{
		{"remove Sigmoid", func(g *Graph) int {
			g.RemoveNode(g.Value("b").Producer)
			return 0
		}, 0, "Relu Add If", nil, []string{"b", "a"}},
		{"nothing dead", func(g *Graph) int { return g.RemoveDead() }, 0, "Relu Sigmoid Add If", []string{"w"}, []string{"a", "b"}},
		{"dead chain after output change", func(g *Graph) int {
			g.Outputs = g.Outputs[1:] // drop y: Add, then Sigmoid die; Relu lives for If
			return g.RemoveDead()
		}, 2, "Relu If", []string{"y", "b", "w"}, []string{"a"}},
		{"everything dead", func(g *Graph) int {
			g.Outputs = nil
			return g.RemoveDead()
		}, 4, "", []string{"a", "b", "y", "z", "w"}, []string{"x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := chainModel(t).Graph
			if got := c.edit(g); got != c.removed {
				t.Errorf("removed %d nodes, want %d", got, c.removed)
			}
			if got := opTypes(g.Nodes); got != c.nodes {
				t.Errorf("nodes = %q, want %q", got, c.nodes)
			}
			for _, name := range c.gone {
				if v := g.Value(name); v != nil && (v.Producer != nil || v.Initializer != nil) {
					t.Errorf("%s still defined", name)
				}
			}
			for _, name := range c.kept {
				if g.Value(name) == nil {
					t.Errorf("%s was removed", name)
				}
			}
			for _, v := range g.Values() {
				for _, n := range v.Consumers {
					if n.Graph == g && !containsNode(g.Nodes, n) {
						t.Errorf("%s is still read by removed node %s", v.Name, n)
					}
				}
			}
			if err := g.Sort(); err != nil {
				t.Error(err)
			}
			if _, err := (&Model{Proto: &onnx.ModelProto{}, Graph: g}).ToProto(); err != nil {
				t.Errorf("ToProto after edit: %v", err)
			}
		})
	}
}

func containsNode(ns []*Node, n *Node) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}

func TestUniqueNameAcrossSubgraphs(t *testing.T) {
	cases := []struct {
		base, want string
	}{
		{"fresh", "fresh"},
		{"a", "a_1"},
		{"t", "t_1"},         // defined only in the then-branch
		{"e", "e_1"},         // defined only in the else-branch
		{"Neg_t", "Neg_t_1"}, // a node name inside a subgraph
		{"Relu_a", "Relu_a_1"},
	}
	for _, c := range cases {
		t.Run(c.base, func(t *testing.T) {
			m := chainModel(t)
			sub := m.Graph.Value("z").Producer.Subgraphs["then_branch"][0]
			for _, g := range []*Graph{m.Graph, sub} {
				got := g.UniqueName(c.base)
				if got != c.want {
					t.Errorf("UniqueName(%q) in %s = %q, want %q", c.base, g.Name, got, c.want)
				}
				// Reserved: asking again gives another name.
				c.want = nextName(c.base, c.want)
			}
		})
	}
}

// nextName is the name UniqueName gives after it handed out prev for base.
func nextName(base, prev string) string {
	if prev == base {
		return base + "_1"
	}
	n := prev[len(base)+1:]
	return base + "_" + string(rune(n[0]+1))
}

func TestDetachAndAddNodeProducing(t *testing.T) {
	g := chainModel(t).Graph
	y := g.Value("y")
	add := y.Producer
	nv, err := y.Detach("y_float")
	if err != nil {
		t.Fatal(err)
	}
	if y.Producer != nil || nv.Producer != add || add.Outputs[0] != nv {
		t.Fatalf("after Detach: y.Producer=%v, new producer=%v, Add outputs=%v", y.Producer, nv.Producer, add.Outputs)
	}
	if !g.IsOutput(y) || g.IsOutput(nv) {
		t.Error("Detach must leave y among the outputs and not add the new value")
	}
	n, err := g.AddNodeProducing("Identity", "", []*Value{nv}, []*Value{y})
	if err != nil {
		t.Fatal(err)
	}
	if y.Producer != n || consumerTypes(nv) != "Identity" {
		t.Errorf("y produced by %v, %s read by %q", y.Producer, nv.Name, consumerTypes(nv))
	}
	if got := opTypes(g.Nodes); got != "Relu Sigmoid Add Identity If" {
		t.Errorf("nodes = %q", got)
	}

	bad := []struct {
		name string
		v    func() *Value
	}{
		{"has a producer", func() *Value { return g.Value("a") }},
		{"initializer", func() *Value { return g.Value("w") }},
		{"other graph", func() *Value { return g.Value("z").Producer.Subgraphs["then_branch"][0].Value("t") }},
	}
	for _, c := range bad {
		if _, err := g.AddNodeProducing("Identity", "", []*Value{nv}, []*Value{c.v()}); err == nil {
			t.Errorf("AddNodeProducing of a value that %s: no error", c.name)
		}
	}
	if _, err := g.Value("x").Detach("q"); err == nil {
		t.Error("Detach of a graph input: no error")
	}
	mp, err := (&Model{Proto: &onnx.ModelProto{}, Graph: g}).ToProto()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := FromProto(mp); err != nil {
		t.Fatalf("edited model does not read back: %v", err)
	} else if got := opTypes(back.Graph.Nodes); got != "Relu Sigmoid Add Identity If" {
		t.Errorf("read back nodes = %q", got)
	}
}
