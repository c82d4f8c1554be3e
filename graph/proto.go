package graph

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// FromProto builds the in-memory graph of a model. The ModelProto's graph is
// parsed into Nodes and Values; every other field is kept as it is in
// Model.Proto. The input model is not modified.
func FromProto(m *onnx.ModelProto) (*Model, error) {
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	rest := shallowModel(m)
	g, err := fromGraph(m.GetGraph(), nil, newNamespace())
	if err != nil {
		return nil, err
	}
	// A cycle makes the model unusable for every later step: refuse it here.
	if err := g.Walk(func(sg *Graph) error { _, err := sg.TopoSort(); return err }); err != nil {
		return nil, err
	}
	return &Model{Proto: rest, Graph: g}, nil
}

// shallowModel copies the ModelProto's fields except Graph.
func shallowModel(m *onnx.ModelProto) *onnx.ModelProto {
	r := &onnx.ModelProto{
		IrVersion:       m.IrVersion,
		OpsetImport:     m.OpsetImport,
		ProducerName:    m.ProducerName,
		ProducerVersion: m.ProducerVersion,
		Domain:          m.Domain,
		ModelVersion:    m.ModelVersion,
		DocString:       m.DocString,
		MetadataProps:   m.MetadataProps,
		TrainingInfo:    m.TrainingInfo,
		Functions:       m.Functions,
	}
	r.ProtoReflect().SetUnknown(m.ProtoReflect().GetUnknown())
	return r
}

// namespace tracks every value and node name in a model (all graphs), so
// that new names never collide with one in any scope.
type namespace struct {
	used map[string]bool
	next map[string]int
}

func newNamespace() *namespace {
	return &namespace{used: map[string]bool{}, next: map[string]int{}}
}

func fromGraph(gp *onnx.GraphProto, parent *Graph, ns *namespace) (*Graph, error) {
	g := &Graph{
		Name:   gp.GetName(),
		Parent: parent,
		values: map[string]*Value{},
		proto:  gp,
		ns:     ns,
	}
	define := func(name string) *Value {
		v := g.values[name]
		if v == nil {
			v = &Value{Name: name, Graph: g}
			g.values[name] = v
			ns.used[name] = true
		}
		return v
	}
	for _, in := range gp.GetInput() {
		v := define(in.GetName())
		v.Type = in.GetType()
		g.Inputs = append(g.Inputs, v)
	}
	for _, t := range gp.GetInitializer() {
		if t.GetName() == "" {
			return nil, fmt.Errorf("graph %q: initializer without a name", g.Name)
		}
		v := define(t.GetName())
		if v.Initializer != nil {
			return nil, fmt.Errorf("graph %q: two initializers named %q", g.Name, t.GetName())
		}
		v.Initializer = t
		g.initializers = append(g.initializers, v)
	}
	// Outputs first, so forward references in unsorted node lists resolve.
	for _, np := range gp.GetNode() {
		n := &Node{
			Name:   np.GetName(),
			OpType: np.GetOpType(),
			Domain: np.GetDomain(),
			Attrs:  np.GetAttribute(),
			Graph:  g,
			proto:  np,
		}
		if n.Name != "" {
			ns.used[n.Name] = true
		}
		// Attributes are looked up by name (and subgraphs kept by it), so
		// two of one name could not survive a round trip; ONNX's checker
		// rejects them too.
		for i, a := range n.Attrs {
			for _, b := range n.Attrs[:i] {
				if a.GetName() == b.GetName() {
					return nil, fmt.Errorf("graph %q: node %s has two attributes named %q", g.Name, n, a.GetName())
				}
			}
		}
		for _, out := range np.GetOutput() {
			if out == "" {
				n.Outputs = append(n.Outputs, nil)
				continue
			}
			v := define(out)
			if v.Producer != nil {
				return nil, fmt.Errorf("graph %q: value %q is produced by two nodes, %s and %s", g.Name, out, v.Producer, n)
			}
			if v.Initializer != nil {
				return nil, fmt.Errorf("graph %q: node %s outputs %q, which is also an initializer", g.Name, n, out)
			}
			v.Producer = n
			n.Outputs = append(n.Outputs, v)
		}
		g.Nodes = append(g.Nodes, n)
	}
	for _, vi := range gp.GetValueInfo() {
		if v := g.values[vi.GetName()]; v != nil && v.Type == nil {
			v.Type = vi.GetType()
		}
	}
	for _, out := range gp.GetOutput() {
		v := g.Value(out.GetName())
		if v == nil {
			return nil, fmt.Errorf("graph %q: output %q is not produced by any node, input or initializer", g.Name, out.GetName())
		}
		if v.Type == nil {
			v.Type = out.GetType()
		}
		g.Outputs = append(g.Outputs, v)
	}
	// Subgraphs are parsed after this graph's values exist, so their
	// outer-scope references resolve.
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			var gps []*onnx.GraphProto
			if a.G != nil {
				gps = []*onnx.GraphProto{a.G}
			}
			gps = append(gps, a.GetGraphs()...)
			for _, sp := range gps {
				sg, err := fromGraph(sp, g, ns)
				if err != nil {
					return nil, fmt.Errorf("node %s attribute %q: %w", n, a.GetName(), err)
				}
				sg.owner = n
				if n.Subgraphs == nil {
					n.Subgraphs = map[string][]*Graph{}
				}
				n.Subgraphs[a.GetName()] = append(n.Subgraphs[a.GetName()], sg)
			}
		}
	}
	for i, n := range g.Nodes {
		np := gp.GetNode()[i]
		for _, in := range np.GetInput() {
			if in == "" {
				n.Inputs = append(n.Inputs, nil)
				continue
			}
			v := g.Value(in)
			if v == nil {
				return nil, fmt.Errorf("graph %q: node %s reads %q, which no node, input or initializer produces", g.Name, n, in)
			}
			n.Inputs = append(n.Inputs, v)
			v.addConsumer(n)
		}
	}
	return g, nil
}

func (v *Value) addConsumer(n *Node) {
	for _, c := range v.Consumers {
		if c == n {
			return
		}
	}
	v.Consumers = append(v.Consumers, n)
}

func (v *Value) removeConsumer(n *Node) {
	for i, c := range v.Consumers {
		if c == n {
			v.Consumers = append(v.Consumers[:i:i], v.Consumers[i+1:]...)
			return
		}
	}
}

// ToProto rebuilds the ModelProto: the kept fields of Model.Proto with the
// graph converted back. Unchanged parts come out as they were read.
func (m *Model) ToProto() (*onnx.ModelProto, error) {
	out := shallowModel(m.Proto)
	gp, err := m.Graph.ToProto()
	if err != nil {
		return nil, err
	}
	out.Graph = gp
	return out, nil
}

// ToProto converts the graph back to a GraphProto. Nodes are emitted in the
// order of g.Nodes, which edits keep topologically sorted.
func (g *Graph) ToProto() (*onnx.GraphProto, error) {
	gp := &onnx.GraphProto{
		Name:                   g.proto.Name,
		DocString:              g.proto.DocString,
		SparseInitializer:      g.proto.SparseInitializer,
		QuantizationAnnotation: g.proto.QuantizationAnnotation,
		MetadataProps:          g.proto.MetadataProps,
	}
	if g.Name != g.proto.GetName() {
		gp.Name = &g.Name
	}
	gp.ProtoReflect().SetUnknown(g.proto.ProtoReflect().GetUnknown())

	for _, n := range g.Nodes {
		np, err := n.toProto()
		if err != nil {
			return nil, err
		}
		gp.Node = append(gp.Node, np)
	}
	for _, v := range g.initializers {
		t := v.Initializer
		if t.GetName() != v.Name {
			name := v.Name
			t.Name = &name
		}
		gp.Initializer = append(gp.Initializer, t)
	}
	orig := map[string]*onnx.ValueInfoProto{}
	for _, vi := range g.proto.GetInput() {
		orig[vi.GetName()] = vi
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, valueInfo(v, orig[v.Name]))
	}
	orig = map[string]*onnx.ValueInfoProto{}
	for _, vi := range g.proto.GetOutput() {
		orig[vi.GetName()] = vi
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, valueInfo(v, orig[v.Name]))
	}
	// value_info keeps its order; entries follow the values' current types,
	// so a pass that changes or forgets a type (nil) is reflected.
	// An entry whose value still has the type read stays as it was, even
	// without a type or repeated, so an untouched model comes back equal.
	seen := map[string]bool{}
	for _, vi := range g.proto.GetValueInfo() {
		name := vi.GetName()
		v := g.values[name]
		if v == nil {
			// Never defined anywhere: kept as read. Defined in an
			// enclosing graph: kept while that value's type is the same.
			// Otherwise a pass removed the value.
			if outer := g.Value(name); !g.ns.used[name] || outer != nil && sameType(outer.Type, vi.GetType()) {
				gp.ValueInfo = append(gp.ValueInfo, vi)
			}
			continue
		}
		if sameType(v.Type, vi.GetType()) {
			seen[name] = true
			gp.ValueInfo = append(gp.ValueInfo, vi)
			continue
		}
		if v.Type == nil || seen[name] {
			continue
		}
		seen[name] = true
		gp.ValueInfo = append(gp.ValueInfo, &onnx.ValueInfoProto{Name: &name, Type: v.Type, DocString: vi.DocString})
	}
	return gp, nil
}

func sameType(a, b *onnx.TypeProto) bool {
	return a == b || a != nil && b != nil && proto.Equal(a, b)
}

func valueInfo(v *Value, orig *onnx.ValueInfoProto) *onnx.ValueInfoProto {
	if orig != nil {
		return orig
	}
	name := v.Name
	return &onnx.ValueInfoProto{Name: &name, Type: v.Type}
}

func (n *Node) toProto() (*onnx.NodeProto, error) {
	np := &onnx.NodeProto{}
	if o := n.proto; o != nil {
		np.Name, np.OpType, np.Domain = o.Name, o.OpType, o.Domain
		np.DocString, np.Overload, np.MetadataProps = o.DocString, o.Overload, o.MetadataProps
		np.ProtoReflect().SetUnknown(o.ProtoReflect().GetUnknown())
	}
	if n.Name != np.GetName() {
		np.Name = &n.Name
	}
	if n.OpType != np.GetOpType() {
		np.OpType = &n.OpType
	}
	if n.Domain != np.GetDomain() {
		np.Domain = &n.Domain
	}
	for _, v := range n.Inputs {
		np.Input = append(np.Input, nameOf(v))
	}
	for _, v := range n.Outputs {
		np.Output = append(np.Output, nameOf(v))
	}
	np.Attribute = n.Attrs
	if len(n.Subgraphs) > 0 {
		np.Attribute = make([]*onnx.AttributeProto, len(n.Attrs))
		for i, a := range n.Attrs {
			sgs, ok := n.Subgraphs[a.GetName()]
			if !ok {
				np.Attribute[i] = a
				continue
			}
			c := shallowAttr(a)
			var gps []*onnx.GraphProto
			for _, sg := range sgs {
				gp, err := sg.ToProto()
				if err != nil {
					return nil, fmt.Errorf("node %s attribute %q: %w", n, a.GetName(), err)
				}
				gps = append(gps, gp)
			}
			if a.G != nil {
				c.G = gps[0]
			} else {
				c.Graphs = gps
			}
			np.Attribute[i] = c
		}
	}
	return np, nil
}

func shallowAttr(a *onnx.AttributeProto) *onnx.AttributeProto {
	c := &onnx.AttributeProto{
		Name: a.Name, RefAttrName: a.RefAttrName, DocString: a.DocString, Type: a.Type,
		F: a.F, I: a.I, S: a.S, T: a.T, G: a.G, SparseTensor: a.SparseTensor, Tp: a.Tp,
		Floats: a.Floats, Ints: a.Ints, Strings: a.Strings, Tensors: a.Tensors, Graphs: a.Graphs,
		SparseTensors: a.SparseTensors, TypeProtos: a.TypeProtos,
	}
	c.ProtoReflect().SetUnknown(a.ProtoReflect().GetUnknown())
	return c
}

func nameOf(v *Value) string {
	if v == nil {
		return ""
	}
	return v.Name
}

// Opset returns the version the model imports for a domain ("" or
// "ai.onnx" for the default domain), or 0 when it imports none.
func (m *Model) Opset(domain string) int {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.Proto.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return int(o.GetVersion())
		}
	}
	return 0
}

// SetOpset sets (or adds) the imported version of a domain.
func (m *Model) SetOpset(domain string, version int) {
	v := int64(version)
	for i, o := range m.Proto.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain || (domain == "ai.onnx" && d == "") {
			c := &onnx.OperatorSetIdProto{Domain: o.Domain, Version: &v}
			ops := append([]*onnx.OperatorSetIdProto(nil), m.Proto.OpsetImport...)
			ops[i] = c
			m.Proto.OpsetImport = ops
			return
		}
	}
	d := domain
	m.Proto.OpsetImport = append(append([]*onnx.OperatorSetIdProto(nil), m.Proto.OpsetImport...),
		&onnx.OperatorSetIdProto{Domain: &d, Version: &v})
}
