package kernels

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Options configure an Engine.
type Options struct {
	// Threads is how many goroutines an operator may use; 0 means
	// runtime.GOMAXPROCS(0).
	Threads int

	// AllowNaN accepts NaN in float inputs. By default Run rejects them: a
	// NaN in calibration data silently poisons every range computed from it.
	AllowNaN bool

	// Fuse folds into each Conv the chain of elementwise nodes after it
	// that only the chain reads (activations, scalar or per-channel
	// affine steps, HardSwish written out as Add/Clip/Mul/Div, a residual
	// Add), folds a Relu or constant-bound Clip into a Gemm, and makes
	// Constant nodes once at planning (see engine_fuse.go and
	// nn_epilogue.go). A hook then never sees the tensors inside a chain,
	// so calibration must leave Fuse off; plain inference gains speed.
	Fuse bool
}

// ErrUnsupported is wrapped by builders for operator versions or attribute
// combinations they do not implement (for example pre-opset-7 broadcasting).
// Such nodes are reported like nodes of an unknown operator: by Unsupported,
// by NewEngine's error and as unsupported (not failed) in the conformance test.
var ErrUnsupported = errors.New("not supported by ptq's engine")

// Hook sees every tensor a node produces, as soon as it is produced: the
// value's name, the producing node and the data. It must not keep or modify
// t; the engine drops the tensor after its last consumer.
//
// Tensors produced inside subgraphs (If branches, Loop and Scan bodies) are
// shown too, under the subgraph's value names and with the subgraph's node as
// producer; a Loop or Scan body shows its values once per iteration. The
// control-flow node's own outputs are then shown under its output names (an
// If output is the same tensor as the branch output it came from). The inputs
// of a subgraph (a Loop's iteration number, condition and carried values, a
// Scan's state and slices) are shown each time the subgraph starts, with a
// nil producer. The main graph's inputs and initializers are not shown.
//
// A non-nil error stops the run and is returned by Run.
type Hook func(value string, producer *graph.Node, t *tensor.Tensor) error

// ValueSpec describes a graph input or output as the model declares it.
type ValueSpec struct {
	Name  string
	DType tensor.DType // Undefined when the model does not say
	// Shape has one entry per dimension, -1 where the dimension is symbolic
	// or unknown; nil when the model declares no shape (any rank).
	Shape []int
	// Params holds the symbolic name of each dimension ("" for fixed or
	// unnamed ones); nil when Shape is nil.
	Params []string
}

// String writes the spec as numpy-like text, e.g. float32[batch,3,224,224].
func (s ValueSpec) String() string {
	if s.Shape == nil {
		return s.DType.String() + "[...]"
	}
	parts := make([]string, len(s.Shape))
	for i, d := range s.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case s.Params[i] != "":
			parts[i] = s.Params[i]
		default:
			parts[i] = "?"
		}
	}
	return s.DType.String() + "[" + strings.Join(parts, ",") + "]"
}

// Engine runs one model. It is planned once by NewEngine (operators built,
// initializers converted, the lifetime of every intermediate tensor computed)
// and may then run any number of times, also from several goroutines at once.
type Engine struct {
	model    *graph.Model
	threads  int
	allowNaN bool
	fuse     bool
	main     *enginePlan
	plans    map[*graph.Graph]*enginePlan // every subgraph, by identity
	pool     *enginePool
	inputs   []ValueSpec
	outputs  []ValueSpec
}

// enginePlan is one graph ready to run: steps in dependency order, constants
// converted, and for each step the values that die after it.
type enginePlan struct {
	g       *graph.Graph
	steps   []engineStep
	consts  map[string]*tensor.Tensor // the graph's own initializers
	inputs  []string                  // formal inputs, in order (initializers excluded for the main graph)
	outputs []string
	// outer lists the names the graph reads from enclosing scopes.
	outer []string
}

type engineStep struct {
	node *graph.Node
	op   Op
	in   []string // "" where an optional input is absent
	out  []string // "" where an optional output is absent
	// producer is the node the hook is told produced out: node itself, or
	// the activation fused into it.
	producer *graph.Node
	free     []string // values defined in this graph whose last use is this step
}

// NewEngine plans m for running. It fails when any node cannot be built,
// listing every such node (name and operator) rather than only the first.
func NewEngine(m *graph.Model, opts Options) (*Engine, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("kernels: nil model")
	}
	e := &Engine{model: m, threads: opts.Threads, allowNaN: opts.AllowNaN, fuse: opts.Fuse, plans: map[*graph.Graph]*enginePlan{}, pool: newEnginePool()}
	if e.threads <= 0 {
		e.threads = runtime.GOMAXPROCS(0)
	}
	opsets := engineOpsetTable(m)
	var errs []error
	e.main = e.planGraph(m.Graph, opsets, true, &errs)
	var bad []*nodeError
	var other []error
	for _, err := range errs {
		var ne *nodeError
		if errors.As(err, &ne) && ne.unsupported {
			bad = append(bad, ne)
		} else {
			other = append(other, err)
		}
	}
	if len(bad) > 0 {
		// Unsupported operators first: they are what a user can act on.
		err := unsupportedError(bad, opsets)
		if len(other) > 0 {
			err = fmt.Errorf("%w\nand %d node(s) failed: %w", err, len(other), errors.Join(other...))
		}
		return nil, err
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("kernels: cannot run model (%d node(s) failed): %w", len(errs), errors.Join(errs...))
	}
	consts := e.main.consts
	for _, v := range m.Graph.Inputs {
		if _, isConst := consts[v.Name]; isConst {
			continue
		}
		e.inputs = append(e.inputs, engineSpec(v))
	}
	for _, v := range m.Graph.Outputs {
		e.outputs = append(e.outputs, engineSpec(v))
	}
	return e, nil
}

// Inputs describes the inputs a caller must feed (initializers excluded).
func (e *Engine) Inputs() []ValueSpec { return e.inputs }

// Outputs describes the graph outputs Run returns.
func (e *Engine) Outputs() []ValueSpec { return e.outputs }

// Unsupported returns every node of m, including nodes inside subgraphs, whose
// operator the engine has no kernel for at the model's opset, or whose
// builder reports ErrUnsupported for its attributes.
func Unsupported(m *graph.Model) []*graph.Node {
	if m == nil || m.Graph == nil {
		return nil
	}
	opsets := engineOpsetTable(m)
	var out []*graph.Node
	var walk func(g *graph.Graph)
	walk = func(g *graph.Graph) {
		for _, n := range g.Nodes {
			if _, err := buildNode(n, opsets.of(n.Domain)); err != nil {
				var ne *nodeError
				if errors.As(err, &ne) && ne.unsupported {
					out = append(out, n)
				}
			}
			for _, name := range engineKeys(n.Subgraphs) {
				for _, sg := range n.Subgraphs[name] {
					walk(sg)
				}
			}
		}
	}
	walk(m.Graph)
	return out
}

// nodeError is a node that could not be built; unsupported marks an unknown
// operator or a builder's ErrUnsupported.
type nodeError struct {
	node        *graph.Node
	unsupported bool
	err         error
}

func (e *nodeError) Error() string { return e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

// buildNode is Build with the failure classified.
func buildNode(n *graph.Node, opset int) (Op, error) {
	if !Supported(n.Domain, n.OpType, opset) {
		return nil, &nodeError{node: n, unsupported: true, err: fmt.Errorf("node %s: unsupported operator %s (opset %d)", n, n.OpType, opset)}
	}
	op, err := Build(n, opset)
	if err != nil {
		return nil, &nodeError{node: n, unsupported: errors.Is(err, ErrUnsupported), err: err}
	}
	return op, nil
}

// unsupportedError names every unsupported node, grouped by operator so that
// a large model's message stays readable.
func unsupportedError(bad []*nodeError, opsets engineOpsets) error {
	type key struct{ domain, op string }
	groups := map[key][]string{}
	var order []key
	var partly []string // supported operators whose attributes or version are not
	for _, ne := range bad {
		n := ne.node
		if Supported(n.Domain, n.OpType, opsets.of(n.Domain)) {
			partly = append(partly, ne.Error())
			continue
		}
		k := key{normDomain(n.Domain), n.OpType}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		name := n.Name
		if name == "" {
			name = n.String()
		}
		groups[k] = append(groups[k], name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kernels: %d node(s) use operators the engine does not support:", len(bad))
	for _, k := range order {
		op := k.op
		if k.domain != "" {
			op = k.domain + "." + k.op
		}
		fmt.Fprintf(&b, "\n  %s (opset %d), %d node(s): %s", op, opsets.of(k.domain), len(groups[k]), strings.Join(groups[k], ", "))
	}
	for _, p := range partly {
		fmt.Fprintf(&b, "\n  %s", p)
	}
	return errors.New(b.String())
}

type engineOpsets map[string]int

func engineOpsetTable(m *graph.Model) engineOpsets {
	t := engineOpsets{}
	if m.Proto != nil {
		for _, o := range m.Proto.GetOpsetImport() {
			t[normDomain(o.GetDomain())] = int(o.GetVersion())
		}
	}
	return t
}

// of returns the imported version of a domain. A model without an explicit
// default-domain import is treated as the newest opset the engine knows.
func (t engineOpsets) of(domain string) int {
	if v, ok := t[normDomain(domain)]; ok {
		return v
	}
	if normDomain(domain) == "" {
		return 21
	}
	return 1
}

func engineKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// planGraph builds the plan of g and, recursively, of its subgraphs. Errors
// are appended to errs so that one call reports every failing node.
func (e *Engine) planGraph(g *graph.Graph, opsets engineOpsets, isMain bool, errs *[]error) *enginePlan {
	p := &enginePlan{g: g, consts: map[string]*tensor.Tensor{}}
	e.plans[g] = p
	for _, v := range g.Initializers() {
		t, err := onnxio.ToTensor(v.Initializer)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("initializer %q: %w", v.Name, err))
			continue
		}
		p.consts[v.Name] = t
	}
	for _, v := range g.Inputs {
		if _, isConst := p.consts[v.Name]; isConst && isMain {
			continue
		}
		p.inputs = append(p.inputs, v.Name)
	}
	for _, v := range g.Outputs {
		p.outputs = append(p.outputs, v.Name)
	}

	// Plan subgraphs first: a node's dependencies include the outer names its
	// subgraphs read.
	for _, n := range g.Nodes {
		for _, name := range engineKeys(n.Subgraphs) {
			for _, sg := range n.Subgraphs[name] {
				e.planGraph(sg, opsets, false, errs)
			}
		}
	}

	order, err := e.order(g)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("graph %q: %w", g.Name, err))
		return p
	}
	defined := map[string]bool{}
	for name := range p.consts {
		defined[name] = true
	}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	var fusions map[*graph.Node]engineFusion
	var chains map[*graph.Node]*engineChain // by last node
	skip := map[*graph.Node]bool{}          // nodes fused into another step
	if e.fuse {
		chains = e.chains(g, opsets, p.outputs)
		for _, c := range chains {
			skip[c.head] = true
			for _, m := range c.nodes[:len(c.nodes)-1] {
				skip[m] = true
			}
		}
		fusions = e.fusions(g, opsets, p.outputs)
	}
	keepOut := map[string]bool{}
	for _, name := range p.outputs {
		keepOut[name] = true
	}
	lastUse := map[string]int{}
	for _, n := range order {
		if skip[n] {
			continue
		}
		i := len(p.steps)
		if e.fuse && engineFoldable(n, keepOut) {
			// With Fuse no hook watches, so a Constant is made once here
			// instead of copied out on every run.
			if op, err := buildNode(n, opsets.of(n.Domain)); err == nil {
				if out, err := op.Run(&Context{Threads: 1}, nil); err == nil && len(out) == 1 && out[0] != nil {
					p.consts[n.Outputs[0].Name] = out[0]
					defined[n.Outputs[0].Name] = true
					continue
				}
			}
		}
		if c := chains[n]; c != nil {
			// The Conv runs here, where its chain's operands are ready.
			s := engineStep{node: c.head, op: c.op, in: c.in, producer: n}
			for _, v := range n.Outputs {
				s.out = append(s.out, v.Name)
				defined[v.Name] = true
				lastUse[v.Name] = i
			}
			for _, name := range c.in {
				if name != "" {
					lastUse[name] = i
				}
			}
			p.steps = append(p.steps, s)
			continue
		}
		s := engineStep{node: n, producer: n}
		op, err := buildNode(n, opsets.of(n.Domain))
		if err != nil {
			*errs = append(*errs, err)
		}
		s.op = op
		outs := n.Outputs
		if f, ok := fusions[n]; ok && op != nil && fuseActivation(op, f.a) {
			skip[f.act] = true
			s.producer = f.act
			outs = f.act.Outputs
		}
		for _, v := range n.Inputs {
			name := ""
			if v != nil {
				name = v.Name
			}
			s.in = append(s.in, name)
		}
		for _, v := range outs {
			name := ""
			if v != nil && v.Name != "" {
				name = v.Name
				defined[name] = true
				lastUse[name] = i // a value nobody reads dies right away
			}
			s.out = append(s.out, name)
		}
		for _, name := range e.reads(n) {
			lastUse[name] = i
		}
		p.steps = append(p.steps, s)
	}
	for _, v := range g.Inputs {
		if _, ok := lastUse[v.Name]; !ok && !engineIsConst(p, v.Name) {
			lastUse[v.Name] = -1 // unused input: never stored past entry
		}
	}
	keep := map[string]bool{}
	for _, name := range p.outputs {
		keep[name] = true
	}
	for name, i := range lastUse {
		if keep[name] || engineIsConst(p, name) || i < 0 {
			continue
		}
		p.steps[i].free = append(p.steps[i].free, name)
	}
	for i := range p.steps {
		sort.Strings(p.steps[i].free)
	}
	// Names read but not defined here come from the enclosing scopes.
	seen := map[string]bool{}
	for _, n := range order {
		if skip[n] {
			continue
		}
		reads := e.reads(n)
		if c := chains[n]; c != nil {
			reads = c.in
		}
		for _, name := range reads {
			if name == "" {
				continue
			}
			if !defined[name] && !seen[name] {
				seen[name] = true
				p.outer = append(p.outer, name)
			}
		}
	}
	for _, name := range p.outputs {
		if !defined[name] && !seen[name] {
			seen[name] = true
			p.outer = append(p.outer, name)
		}
	}
	sort.Strings(p.outer)
	return p
}

func engineIsConst(p *enginePlan, name string) bool { _, ok := p.consts[name]; return ok }

// engineFoldable reports a Constant node whose value may be made once at
// planning: not a graph output, which a caller could modify between runs.
func engineFoldable(n *graph.Node, outputs map[string]bool) bool {
	return n.OpType == "Constant" && normDomain(n.Domain) == "" && len(n.Outputs) == 1 &&
		n.Outputs[0] != nil && n.Outputs[0].Name != "" && !outputs[n.Outputs[0].Name]
}

// reads lists every value name node n needs: its inputs plus the outer-scope
// names its subgraphs read (which must be alive when n runs).
func (e *Engine) reads(n *graph.Node) []string {
	var names []string
	for _, v := range n.Inputs {
		if v != nil && v.Name != "" {
			names = append(names, v.Name)
		}
	}
	for _, key := range engineKeys(n.Subgraphs) {
		for _, sg := range n.Subgraphs[key] {
			if sp := e.plans[sg]; sp != nil {
				names = append(names, sp.outer...)
			}
		}
	}
	return names
}

// order sorts g's nodes so that each runs after the producers of everything
// it reads, keeping the stored order where it already is valid.
func (e *Engine) order(g *graph.Graph) ([]*graph.Node, error) {
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v != nil && v.Name != "" {
				producer[v.Name] = i
			}
		}
	}
	indeg := make([]int, len(g.Nodes))
	users := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		seen := map[int]bool{}
		for _, name := range e.reads(n) {
			if j, ok := producer[name]; ok && !seen[j] {
				seen[j] = true
				indeg[i]++
				users[j] = append(users[j], i)
			}
		}
	}
	// A min-heap on the stored index would be exact; a sorted ready list is
	// simpler and graphs are small enough for it.
	var ready []int
	for i := range g.Nodes {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	order := make([]*graph.Node, 0, len(g.Nodes))
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, g.Nodes[i])
		added := false
		for _, u := range users[i] {
			if indeg[u]--; indeg[u] == 0 {
				ready = append(ready, u)
				added = true
			}
		}
		if added {
			sort.Ints(ready)
		}
	}
	if len(order) != len(g.Nodes) {
		var stuck []string
		for i, n := range g.Nodes {
			if indeg[i] > 0 {
				stuck = append(stuck, n.String())
			}
		}
		return nil, fmt.Errorf("cycle or self-dependency among nodes: %s", strings.Join(stuck, ", "))
	}
	return order, nil
}

// engineSpec reads a value's declared tensor type.
func engineSpec(v *graph.Value) ValueSpec {
	s := ValueSpec{Name: v.Name}
	tt := v.Type.GetTensorType()
	if tt == nil {
		return s
	}
	s.DType = tensor.DType(tt.GetElemType())
	if tt.GetShape() == nil {
		return s
	}
	dims := tt.GetShape().GetDim()
	s.Shape = make([]int, len(dims))
	s.Params = make([]string, len(dims))
	for i, d := range dims {
		s.Shape[i] = -1
		if dv, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); ok && dv.DimValue >= 0 {
			s.Shape[i] = int(dv.DimValue)
		}
		s.Params[i] = d.GetDimParam()
	}
	return s
}

// engineFrame holds the live values of one running graph; parent is the enclosing
// graph's frame, through which subgraphs read outer-scope values.
type engineFrame struct {
	p      *enginePlan
	vals   map[string]*tensor.Tensor
	parent *engineFrame
}

func (f *engineFrame) lookup(name string) (*tensor.Tensor, bool) {
	for ; f != nil; f = f.parent {
		if t, ok := f.vals[name]; ok {
			return t, true
		}
		if t, ok := f.p.consts[name]; ok {
			return t, true
		}
	}
	return nil, false
}

// Run feeds inputs (by graph input name) through the model and returns the
// graph outputs by name. hook, when not nil, sees every produced tensor.
// Inputs are checked against the model's declared types first; the error
// names the input and what was expected.
func (e *Engine) Run(inputs map[string]*tensor.Tensor, hook Hook) (map[string]*tensor.Tensor, error) {
	if err := e.checkInputs(inputs); err != nil {
		return nil, err
	}
	e.pool.startRun()
	outs, err := e.runPlan(e.main, nil, inputs, nil, hook)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*tensor.Tensor, len(outs))
	for i, name := range e.main.outputs {
		res[name] = outs[i]
	}
	return res, nil
}

// runPlan runs p. Formal inputs come from byName (main graph) or positional
// args (subgraphs); parent resolves outer-scope names.
func (e *Engine) runPlan(p *enginePlan, parent *engineFrame, byName map[string]*tensor.Tensor, args []*tensor.Tensor, hook Hook) ([]*tensor.Tensor, error) {
	f := &engineFrame{p: p, vals: make(map[string]*tensor.Tensor, len(p.inputs)+8), parent: parent}
	if byName != nil {
		for _, name := range p.inputs {
			if t, ok := byName[name]; ok {
				f.vals[name] = t
			}
		}
		// Older IRs list initializers as inputs; a caller may override them.
		for name, t := range byName {
			if _, isConst := p.consts[name]; isConst {
				f.vals[name] = t
			}
		}
	} else {
		if len(args) > len(p.inputs) {
			return nil, fmt.Errorf("subgraph %q: got %d inputs, it declares %d", p.g.Name, len(args), len(p.inputs))
		}
		for i, t := range args {
			if t != nil {
				f.vals[p.inputs[i]] = t
				// A subgraph's inputs (a Loop's iteration variables) are
				// produced by no node, yet calibration must see them.
				if hook != nil {
					if err := hook(p.inputs[i], nil, t); err != nil {
						return nil, fmt.Errorf("hook on %q: %w", p.inputs[i], err)
					}
				}
			}
		}
	}
	fa := &frameAlloc{pool: e.pool, owned: map[uintptr]*ownedBuf{}}
	ctx := &Context{Threads: e.threads, alloc: fa.alloc}
	ctx.free = func(t *tensor.Tensor) { fa.release(t, f.vals) }
	ctx.RunSubgraph = func(g *graph.Graph, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		sp := e.plans[g]
		if sp == nil {
			return nil, fmt.Errorf("subgraph %q was not planned", g.Name)
		}
		return e.runPlan(sp, f, nil, in, hook)
	}
	in := make([]*tensor.Tensor, 0, 8)
	for si := range p.steps {
		s := &p.steps[si]
		in = in[:0]
		for _, name := range s.in {
			if name == "" {
				in = append(in, nil)
				continue
			}
			t, ok := f.lookup(name)
			if !ok {
				return nil, fmt.Errorf("node %s: input %q has no value (not fed, not produced)", s.node, name)
			}
			in = append(in, t)
		}
		out, err := s.op.Run(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", s.node, err)
		}
		// An op may return trailing optional outputs the node does not
		// declare (MaxPool's indices); they are dropped below.
		for i, name := range s.out {
			if name == "" || i >= len(out) || out[i] == nil {
				continue
			}
			if hook != nil {
				if err := hook(name, s.producer, out[i]); err != nil {
					return nil, fmt.Errorf("hook on %q: %w", name, err)
				}
			}
			f.vals[name] = out[i]
		}
		for _, name := range s.free {
			t := f.vals[name]
			delete(f.vals, name)
			fa.release(t, f.vals)
		}
	}
	res := make([]*tensor.Tensor, len(p.outputs))
	for i, name := range p.outputs {
		t, ok := f.lookup(name)
		if !ok {
			return nil, fmt.Errorf("graph %q: output %q was not produced", p.g.Name, name)
		}
		res[i] = t
	}
	return res, nil
}

// checkInputs compares what the caller feeds with what the model declares.
func (e *Engine) checkInputs(inputs map[string]*tensor.Tensor) error {
	var errs []error
	want := map[string]bool{}
	params := map[string]int{} // symbolic dim -> size, to catch inconsistent batches
	paramFrom := map[string]string{}
	for _, s := range e.inputs {
		want[s.Name] = true
		t, ok := inputs[s.Name]
		if !ok || t == nil {
			errs = append(errs, fmt.Errorf("input %q: missing (model expects %v)", s.Name, s))
			continue
		}
		if s.DType != tensor.Undefined && t.DType != s.DType {
			errs = append(errs, fmt.Errorf("input %q: element type %v, model expects %v", s.Name, t.DType, s))
			continue
		}
		if s.Shape != nil {
			if len(t.Shape) != len(s.Shape) {
				errs = append(errs, fmt.Errorf("input %q: shape %v has rank %d, model expects rank %d: %v", s.Name, t.Shape, len(t.Shape), len(s.Shape), s))
				continue
			}
			bad := false
			for i, d := range s.Shape {
				if d >= 0 && t.Shape[i] != d {
					errs = append(errs, fmt.Errorf("input %q: shape %v, model expects %v (dimension %d is %d, want %d)", s.Name, t.Shape, s, i, t.Shape[i], d))
					bad = true
					break
				}
				if p := s.Params[i]; d < 0 && p != "" {
					if n, seen := params[p]; seen && n != t.Shape[i] {
						errs = append(errs, fmt.Errorf("input %q: dimension %d (%s) is %d but input %q gave %s=%d", s.Name, i, p, t.Shape[i], paramFrom[p], p, n))
						bad = true
						break
					}
					params[p], paramFrom[p] = t.Shape[i], s.Name
				}
			}
			if bad {
				continue
			}
		}
		if t.Len() != engineDataLen(t.Data) {
			errs = append(errs, fmt.Errorf("input %q: shape %v needs %d elements, data has %d", s.Name, t.Shape, t.Len(), engineDataLen(t.Data)))
			continue
		}
		if i, ok := engineFirstNaN(t); ok && !e.allowNaN {
			errs = append(errs, fmt.Errorf("input %q: NaN at flat index %d (of %v)", s.Name, i, t))
		}
	}
	var extra []string
	for name := range inputs {
		if !want[name] && !engineIsConst(e.main, name) {
			extra = append(extra, fmt.Sprintf("%q", name))
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		var names []string
		for _, s := range e.inputs {
			names = append(names, fmt.Sprintf("%q", s.Name))
		}
		errs = append(errs, fmt.Errorf("unknown input name(s) %s; the model's inputs are %s", strings.Join(extra, ", "), strings.Join(names, ", ")))
	}
	return errors.Join(errs...)
}

func engineFirstNaN(t *tensor.Tensor) (int, bool) {
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			if v != v {
				return i, true
			}
		}
	case []float64:
		for i, v := range d {
			if math.IsNaN(v) {
				return i, true
			}
		}
	}
	return 0, false
}

// engineDataLen is the length of any tensor data slice, or -1.
func engineDataLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []int64:
		return len(d)
	case []int32:
		return len(d)
	case []int16:
		return len(d)
	case []int8:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []complex64:
		return len(d)
	case []complex128:
		return len(d)
	}
	return -1
}
