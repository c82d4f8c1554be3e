package graph

import (
	"fmt"
	"strconv"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// Value returns the value with the given name as seen from this graph: one
// defined here, or else one of an enclosing graph. It returns nil when no
// scope defines the name.
func (g *Graph) Value(name string) *Value {
	for s := g; s != nil; s = s.Parent {
		if v := s.values[name]; v != nil {
			return v
		}
	}
	return nil
}

// Values returns every value defined in this graph (not in subgraphs), in
// no particular order.
func (g *Graph) Values() []*Value {
	vs := make([]*Value, 0, len(g.values))
	for _, v := range g.values {
		vs = append(vs, v)
	}
	return vs
}

// Initializers returns the graph's initializers in order.
func (g *Graph) Initializers() []*Value { return g.initializers }

// Owner is the node whose attribute holds this subgraph, or nil for the
// main graph.
func (g *Graph) Owner() *Node { return g.owner }

// Walk calls fn for g and every subgraph below it, parents first.
func (g *Graph) Walk(fn func(*Graph) error) error {
	if err := fn(g); err != nil {
		return err
	}
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			for _, sg := range n.Subgraphs[a.GetName()] {
				if err := sg.Walk(fn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// IsOutput reports whether v is one of the graph's outputs.
func (g *Graph) IsOutput(v *Value) bool {
	for _, o := range g.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

// UniqueName returns base if no value or node anywhere in the model has
// that name, else base with the smallest free numeric suffix. The name is
// reserved.
func (g *Graph) UniqueName(base string) string {
	name := base
	for g.ns.used[name] {
		g.ns.next[base]++
		name = base + "_" + strconv.Itoa(g.ns.next[base])
	}
	g.ns.used[name] = true
	return name
}

// NewValue defines a new value in g with a unique name derived from base.
func (g *Graph) NewValue(base string) *Value {
	name := g.UniqueName(base)
	v := &Value{Name: name, Graph: g}
	g.values[name] = v
	return v
}

// AddInitializer defines a new initializer with a unique name derived from
// base; the tensor's name is set to match.
func (g *Graph) AddInitializer(base string, t *onnx.TensorProto) *Value {
	v := g.NewValue(base)
	name := v.Name
	t.Name = &name
	v.Initializer = t
	g.initializers = append(g.initializers, v)
	return v
}

// SetInitializer replaces the data of an existing initializer.
func (g *Graph) SetInitializer(v *Value, t *onnx.TensorProto) {
	name := v.Name
	t.Name = &name
	v.Initializer = t
}

// AddNode creates a node reading inputs (nil for an absent optional input)
// and producing new values named after outputs (made unique; "" for an
// absent optional output). The node is placed right after the last producer
// of its inputs, so g.Nodes stays topologically sorted.
func (g *Graph) AddNode(opType, domain string, inputs []*Value, outputs []string, attrs ...*onnx.AttributeProto) *Node {
	n := &Node{OpType: opType, Domain: domain, Attrs: attrs, Graph: g}
	n.Name = g.UniqueName(opType + "_" + firstName(outputs))
	for _, o := range outputs {
		if o == "" {
			n.Outputs = append(n.Outputs, nil)
			continue
		}
		v := g.NewValue(o)
		v.Producer = n
		n.Outputs = append(n.Outputs, v)
	}
	n.Inputs = append([]*Value(nil), inputs...)
	for _, v := range inputs {
		if v != nil {
			v.addConsumer(n)
		}
	}
	g.insertSorted(n)
	return n
}

func firstName(outs []string) string {
	for _, o := range outs {
		if o != "" {
			return o
		}
	}
	return "node"
}

// insertSorted puts n after the last node of g that produces one of its
// inputs (directly, or through a node it contains).
func (g *Graph) insertSorted(n *Node) {
	pos := 0
	for i, m := range g.Nodes {
		for _, v := range n.Inputs {
			if v != nil && v.Producer != nil && v.Producer.ancestorIn(g) == m {
				pos = i + 1
			}
		}
	}
	g.Nodes = append(g.Nodes, nil)
	copy(g.Nodes[pos+1:], g.Nodes[pos:])
	g.Nodes[pos] = n
}

// ancestorIn returns the node of g that is n or contains n in a subgraph.
func (n *Node) ancestorIn(g *Graph) *Node {
	for m := n; m != nil; m = m.Graph.owner {
		if m.Graph == g {
			return m
		}
	}
	return nil
}

// SetInput points input i of n at v, keeping consumer lists right.
func (n *Node) SetInput(i int, v *Value) {
	old := n.Inputs[i]
	n.Inputs[i] = v
	if v != nil {
		v.addConsumer(n)
	}
	if old != nil && !n.reads(old) {
		old.removeConsumer(n)
	}
}

func (n *Node) reads(v *Value) bool {
	for _, in := range n.Inputs {
		if in == v {
			return true
		}
	}
	return false
}

// ReplaceUses makes every node that reads old (in any graph) read new
// instead. Graph outputs are not changed.
func ReplaceUses(old, new *Value) {
	for _, c := range append([]*Node(nil), old.Consumers...) {
		for i, in := range c.Inputs {
			if in == old {
				c.SetInput(i, new)
			}
		}
	}
}

// RemoveNode deletes n from g. Its outputs lose their producer; values that
// nothing reads any more are forgotten.
func (g *Graph) RemoveNode(n *Node) {
	for i, m := range g.Nodes {
		if m == n {
			g.Nodes = append(g.Nodes[:i], g.Nodes[i+1:]...)
			break
		}
	}
	for _, v := range n.Inputs {
		if v != nil {
			v.removeConsumer(n)
		}
	}
	// Nodes inside n's subgraphs read outer values directly; they go with n.
	for _, a := range n.Attrs {
		for _, sg := range n.Subgraphs[a.GetName()] {
			sg.Walk(func(h *Graph) error {
				for _, m := range h.Nodes {
					for _, v := range m.Inputs {
						if v != nil && !v.Graph.within(n) {
							v.removeConsumer(m)
						}
					}
				}
				return nil
			})
		}
	}
	for _, v := range n.Outputs {
		if v == nil {
			continue
		}
		v.Producer = nil
		if len(v.Consumers) == 0 && !g.IsOutput(v) {
			delete(g.values, v.Name)
		}
	}
}

// RemoveInitializer deletes an initializer that nothing reads. When it is
// also listed among the graph inputs (as IR versions before 4 require), the
// input goes too: it was only ever the initializer's overridable default.
func (g *Graph) RemoveInitializer(v *Value) error {
	if len(v.Consumers) > 0 {
		return fmt.Errorf("initializer %q is still read by %s", v.Name, v.Consumers[0])
	}
	for i, w := range g.initializers {
		if w == v {
			g.initializers = append(g.initializers[:i], g.initializers[i+1:]...)
			break
		}
	}
	for i, in := range g.Inputs {
		if in == v {
			g.Inputs = append(g.Inputs[:i:i], g.Inputs[i+1:]...)
			break
		}
	}
	v.Initializer = nil
	delete(g.values, v.Name)
	return nil
}

// RemoveDead deletes nodes whose outputs nobody reads and that are not
// graph outputs, repeatedly, then initializers nobody reads (unless they are
// graph inputs too). It returns how many nodes it removed.
func (g *Graph) RemoveDead() int {
	removed := 0
	for changed := true; changed; {
		changed = false
		for i := len(g.Nodes) - 1; i >= 0; i-- {
			n := g.Nodes[i]
			if n.used() {
				continue
			}
			g.RemoveNode(n)
			removed++
			changed = true
		}
	}
	keep := g.initializers[:0]
	for _, v := range g.initializers {
		if len(v.Consumers) > 0 || g.IsOutput(v) || g.isInput(v) {
			keep = append(keep, v)
			continue
		}
		delete(g.values, v.Name)
	}
	g.initializers = keep
	return removed
}

func (g *Graph) isInput(v *Value) bool {
	for _, in := range g.Inputs {
		if in == v {
			return true
		}
	}
	return false
}

func (n *Node) used() bool {
	for _, v := range n.Outputs {
		if v != nil && (len(v.Consumers) > 0 || n.Graph.IsOutput(v)) {
			return true
		}
	}
	return false
}

// Detach gives v's producer a new output value, named after base, in v's
// place and returns it. v keeps its consumers and its place among the graph
// outputs but has no producer, so another node can produce it: this is how
// a DequantizeLinear comes to feed a graph output under its original name.
func (v *Value) Detach(base string) (*Value, error) {
	p := v.Producer
	if p == nil {
		return nil, fmt.Errorf("value %q has no producer to detach", v.Name)
	}
	nv := v.Graph.NewValue(base)
	nv.Type = v.Type
	nv.Producer = p
	for i, o := range p.Outputs {
		if o == v {
			p.Outputs[i] = nv
		}
	}
	v.Producer = nil
	return nv, nil
}

// AddNodeProducing is AddNode for outputs that already exist in g and have
// no producer (see Detach).
func (g *Graph) AddNodeProducing(opType, domain string, inputs, outputs []*Value, attrs ...*onnx.AttributeProto) (*Node, error) {
	for _, o := range outputs {
		if o != nil && (o.Producer != nil || o.Initializer != nil || o.Graph != g) {
			return nil, fmt.Errorf("value %q cannot be produced by a new node: it has a producer or is defined elsewhere", o.Name)
		}
	}
	n := &Node{OpType: opType, Domain: domain, Attrs: attrs, Graph: g}
	n.Name = g.UniqueName(opType + "_" + nameOf(outputs[0]))
	n.Outputs = append([]*Value(nil), outputs...)
	for _, o := range outputs {
		if o != nil {
			o.Producer = n
		}
	}
	n.Inputs = append([]*Value(nil), inputs...)
	for _, v := range inputs {
		if v != nil {
			v.addConsumer(n)
		}
	}
	g.insertSorted(n)
	return n, nil
}
