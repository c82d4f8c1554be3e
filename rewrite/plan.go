package rewrite

import (
	"fmt"
	"sort"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Plan is what QDQ will do to a model, decided before calibration so that
// only the tensors that need ranges are observed.
type Plan struct {
	m   *graph.Model
	cfg Config

	nodes []*graph.Node // quantized nodes, in graph order
	rule  map[*graph.Node]Rule

	acts    map[*graph.Value]*act
	actList []*act // in creation order, so output is deterministic

	// folded maps a Relu/Clip folded into its producer's output range to
	// that producer; alias maps the clamp's output to the producer's output.
	folded     map[*graph.Node]*graph.Node
	foldedList []*graph.Node // folded's keys in graph order, for deterministic output
	alias      map[*graph.Value]*graph.Value

	// Skipped lists candidate nodes left in float and why.
	Skipped []Skip
}

// Skip is a node that a rule matched but that stays in float.
type Skip struct {
	Node   *graph.Node
	Reason string
}

type use struct {
	node  *graph.Node
	input int
}

// act is an activation tensor that gets a QuantizeLinear.
type act struct {
	v    *graph.Value
	uses []use // quantized consumer inputs
	// all: every consumer reads the quantized form, because the producer
	// is itself quantized (its output must go through Q for the runtime to
	// fuse it).
	all bool
	// rangeOf names the tensor whose calibrated range sets the parameters
	// (a folded Relu's output, for example); "" means v itself.
	rangeOf string
	// sameAs shares the parameters of another tensor (Passthrough ops).
	sameAs *graph.Value
	// constant marks initializer inputs of arithmetic ops, whose range
	// comes from their data.
	constant bool
	dead     bool
}

// Analyze decides which nodes of m to quantize under cfg.
func Analyze(m *graph.Model, cfg Config) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plan{
		m: m, cfg: cfg,
		rule:   map[*graph.Node]Rule{},
		acts:   map[*graph.Value]*act{},
		folded: map[*graph.Node]*graph.Node{},
		alias:  map[*graph.Value]*graph.Value{},
	}
	err := m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			p.visit(n)
		}
		return nil
	})
	return p, err
}

func (p *Plan) skip(n *graph.Node, format string, args ...any) {
	p.Skipped = append(p.Skipped, Skip{n, fmt.Sprintf(format, args...)})
}

func (p *Plan) resolve(v *graph.Value) *graph.Value {
	for {
		a, ok := p.alias[v]
		if !ok {
			return v
		}
		v = a
	}
}

func (p *Plan) actFor(v *graph.Value) *act {
	a := p.acts[v]
	if a == nil {
		a = &act{v: v}
		p.acts[v] = a
		p.actList = append(p.actList, a)
	}
	return a
}

func (p *Plan) visit(n *graph.Node) {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return
	}
	r, ok := Rules[n.OpType]
	if !ok {
		return
	}
	if !p.cfg.opSelected(n.OpType) {
		p.skip(n, "op type %s not selected", n.OpType)
		return
	}
	if p.cfg.excludedNode(n.Name) {
		p.skip(n, "excluded by name")
		return
	}
	if r.Applies != nil {
		if ok, why := r.Applies(n); !ok {
			p.skip(n, "%s", why)
			return
		}
	}
	switch p.cfg.Mode {
	case Static:
	case Dynamic, WeightOnly:
		if r.Kind != Compute {
			return
		}
		if w := input(n, r.Weight); w == nil || !isFloatInit(w) {
			p.skip(n, "weight is not a float constant")
			return
		}
		p.add(n, r)
		return
	}
	switch r.Kind {
	case Compute:
		p.visitCompute(n, r)
	case Arithmetic:
		if n.OpType == "HardSigmoid" && p.foldHardSigmoid(n) {
			return
		}
		p.visitArithmetic(n, r)
	case Passthrough:
		p.visitPassthrough(n, r)
	case Clamp:
		p.visitClamp(n)
	}
}

func (p *Plan) add(n *graph.Node, r Rule) {
	p.nodes = append(p.nodes, n)
	p.rule[n] = r
}

func input(n *graph.Node, i int) *graph.Value {
	if i < 0 || i >= len(n.Inputs) {
		return nil
	}
	return n.Inputs[i]
}

func isFloatInit(v *graph.Value) bool {
	return v.Initializer != nil && tensor.DType(v.Initializer.GetDataType()) == tensor.Float
}

// floatOrUnknown reports whether v may be a float32 tensor: its type says
// so, or its type is unknown (calibration then tells).
func floatOrUnknown(v *graph.Value) bool {
	if v.Initializer != nil {
		return isFloatInit(v)
	}
	if tt := v.Type.GetTensorType(); tt != nil && tt.GetElemType() != 0 {
		return tt.GetElemType() == int32(onnx.TensorProto_FLOAT)
	}
	return true
}

func (p *Plan) visitCompute(n *graph.Node, r Rule) {
	x := input(n, 0)
	if x == nil || !floatOrUnknown(x) {
		p.skip(n, "input is not float32")
		return
	}
	var ins []int
	for _, i := range r.Activations {
		v := input(n, i)
		if v == nil {
			continue
		}
		if i == r.Weight && isFloatInit(v) {
			continue // a constant weight, quantized as a weight
		}
		if !floatOrUnknown(v) {
			p.skip(n, "input %d is not float32", i)
			return
		}
		ins = append(ins, i)
	}
	if w := input(n, r.Weight); w != nil && !isFloatInit(w) && !containsInt(ins, r.Weight) {
		// Conv with a computed weight: quantize it as an activation.
		ins = append(ins, r.Weight)
	}
	p.add(n, r)
	for _, i := range ins {
		v := p.resolve(n.Inputs[i])
		a := p.actFor(v)
		a.uses = append(a.uses, use{n, i})
	}
	p.markOutputs(n, r)
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (p *Plan) markOutputs(n *graph.Node, r Rule) {
	for _, i := range outputIndices(n, r) {
		if v := n.Outputs[i]; v != nil {
			a := p.actFor(v)
			a.all = true
		}
	}
}

func outputIndices(n *graph.Node, r Rule) []int {
	var out []int
	for _, i := range r.Outputs {
		if i < 0 {
			for j := range n.Outputs {
				out = append(out, j)
			}
			return out
		}
		if i < len(n.Outputs) {
			out = append(out, i)
		}
	}
	return out
}

func activationIndices(n *graph.Node, r Rule) []int {
	var out []int
	for _, i := range r.Activations {
		if i < 0 {
			for j := range n.Inputs {
				out = append(out, j)
			}
			return out
		}
		if i < len(n.Inputs) {
			out = append(out, i)
		}
	}
	return out
}

func (p *Plan) visitArithmetic(n *graph.Node, r Rule) {
	ins := activationIndices(n, r)
	for _, i := range ins {
		v := n.Inputs[i]
		if v == nil {
			continue
		}
		if !floatOrUnknown(v) {
			return // shape arithmetic, not a float computation
		}
		if r.InputsQuantized && v.Initializer == nil && p.acts[p.resolve(v)] == nil {
			p.skip(n, "input %q is not quantized", v.Name)
			return
		}
	}
	if n.OpType == "LayerNormalization" && n.AttrInt("axis", -1) != -1 {
		p.skip(n, "LayerNormalization over more than the last axis")
		return
	}
	p.add(n, r)
	for _, i := range ins {
		v := n.Inputs[i]
		if v == nil {
			continue
		}
		v = p.resolve(v)
		a := p.actFor(v)
		if v.Initializer != nil {
			a.constant = true
		}
		a.uses = append(a.uses, use{n, i})
	}
	p.markOutputs(n, r)
}

func (p *Plan) visitPassthrough(n *graph.Node, r Rule) {
	x := input(n, 0)
	if x == nil {
		return
	}
	x = p.resolve(x)
	in := p.acts[x]
	if in == nil {
		p.skip(n, "input not quantized")
		return
	}
	if n.OpType == "Pad" && !padValueZero(n) {
		p.skip(n, "Pad with a non-zero constant")
		return
	}
	p.add(n, r)
	in.uses = append(in.uses, use{n, 0})
	for _, i := range outputIndices(n, r) {
		if v := n.Outputs[i]; v != nil {
			a := p.actFor(v)
			a.all = true
			a.sameAs = x
		}
	}
}

func padValueZero(n *graph.Node) bool {
	if n.AttrString("mode", "constant") != "constant" {
		return true
	}
	if a := n.Attr("value"); a != nil {
		return a.GetF() == 0
	}
	v := input(n, 2)
	if v == nil {
		return true
	}
	if v.Initializer == nil {
		return false
	}
	t, err := tensorOf(v)
	if err != nil || t.DType != tensor.Float {
		return false
	}
	for _, x := range t.Float32() {
		if x != 0 {
			return false
		}
	}
	return true
}

// visitClamp folds Relu or Clip into the preceding quantized op: the op's
// output takes the clamp's range, whose saturation does the clamping, and
// the clamp node goes away, as ONNX Runtime's QDQ fusions expect.
func (p *Plan) visitClamp(n *graph.Node) {
	x := input(n, 0)
	if x == nil || len(n.Outputs) == 0 || n.Outputs[0] == nil {
		return
	}
	prod := x.Producer
	if prod == nil || p.rule[prod].Kind == 0 || p.rule[prod].Kind == Passthrough {
		return
	}
	y := n.Outputs[0]
	// A clamp that cannot be folded still runs between quantized tensors:
	// quantized with its own output range, it keeps the ops after it
	// (MaxPool, Reshape ...) quantized too.
	kept := Rule{Kind: Arithmetic, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}, InputsQuantized: true}
	switch {
	case p.cfg.SymmetricActivations,
		len(x.Consumers) != 1 || x.Graph.IsOutput(x),
		y.Graph.IsOutput(y),
		x.Graph != n.Graph,
		!clampLowNonPositive(n):
		p.visitArithmetic(n, kept)
		return
	}
	a := p.acts[x]
	if a == nil || a.sameAs != nil {
		return
	}
	a.rangeOf = y.Name
	p.folded[n] = prod
	p.foldedList = append(p.foldedList, n)
	p.alias[y] = x
}

func clampLowNonPositive(n *graph.Node) bool {
	if n.OpType == "Relu" {
		return true
	}
	if a := n.Attr("min"); a != nil {
		return a.GetF() <= 0
	}
	v := input(n, 1)
	if v == nil {
		return false // no lower bound: Clip does not clamp at zero
	}
	if v.Initializer == nil {
		return false
	}
	t, err := tensorOf(v)
	if err != nil || t.DType != tensor.Float || t.Len() != 1 {
		return false
	}
	return t.Float32()[0] <= 0
}

// Observe lists the tensors whose ranges calibration must measure, sorted.
func (p *Plan) Observe() []string {
	seen := map[string]bool{}
	for _, a := range p.actList {
		if a.sameAs != nil || a.constant {
			continue
		}
		name := a.v.Name
		if a.rangeOf != "" {
			name = a.rangeOf
		}
		seen[name] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Nodes returns the nodes the plan quantizes.
func (p *Plan) Nodes() []*graph.Node { return p.nodes }
