package kernels

import (
	"fmt"
	"math"
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Activation fusion (Options.Fuse) folds a Relu or a constant-bound Clip into
// the Gemm that feeds it, and a whole elementwise chain into a Conv (below),
// so the work runs while each block of the output is in cache instead of as
// separate passes over memory. The fused step produces the last node's
// output under its own name; the tensors before it are never materialised,
// so a hook cannot see them. Calibration observes exactly those tensors,
// which is why fusion is opt-in.

// engineFusion is an activation node folded into the node before it.
type engineFusion struct {
	act *graph.Node
	a   nnAct
}

// fusions finds, among g's nodes, each float32 Conv or Gemm whose output is
// read only by one Relu or constant-bound Clip and is not a graph output.
// The result is keyed by the Conv or Gemm node.
func (e *Engine) fusions(g *graph.Graph, opsets engineOpsets, outputs []string) map[*graph.Node]engineFusion {
	uses := map[string]int{}
	reader := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		for _, name := range e.reads(n) {
			uses[name]++
			reader[name] = n
		}
	}
	for _, name := range outputs {
		uses[name]++ // a graph output must stay observable
	}
	res := map[*graph.Node]engineFusion{}
	for _, n := range g.Nodes {
		if normDomain(n.Domain) != "" || (n.OpType != "Conv" && n.OpType != "Gemm") {
			continue
		}
		if len(n.Outputs) != 1 || n.Outputs[0] == nil || n.Outputs[0].Name == "" {
			continue
		}
		name := n.Outputs[0].Name
		act := reader[name]
		if uses[name] != 1 || act == nil || normDomain(act.Domain) != "" {
			continue
		}
		if len(act.Inputs) == 0 || act.Inputs[0] == nil || act.Inputs[0].Name != name {
			continue
		}
		if len(act.Outputs) != 1 || act.Outputs[0] == nil || act.Outputs[0].Name == "" {
			continue
		}
		// The fused epilogue exists for float32 only.
		if !engineIsFloat32(n.Outputs[0]) && !(len(n.Inputs) > 1 && engineIsFloat32(n.Inputs[1])) {
			continue
		}
		var a nnAct
		switch act.OpType {
		case "Relu":
			a = nnAct{kind: nnActRelu}
		case "Clip":
			lo, hi, ok := engineClipBounds(act, opsets.of(""))
			if !ok {
				continue
			}
			a = nnAct{kind: nnActClip, lo: lo, hi: hi}
		default:
			continue
		}
		res[n] = engineFusion{act: act, a: a}
	}
	return res
}

// engineIsFloat32 reports whether v is known to hold float32 data.
func engineIsFloat32(v *graph.Value) bool {
	if v == nil {
		return false
	}
	if v.Initializer != nil {
		return v.Initializer.GetDataType() == int32(onnx.TensorProto_FLOAT)
	}
	return v.Type.GetTensorType().GetElemType() == int32(onnx.TensorProto_FLOAT)
}

// engineClipBounds reads a Clip's bounds when they are known before running:
// attributes before opset 11, initializers or Constant outputs after.
func engineClipBounds(n *graph.Node, opset int) (lo, hi float32, ok bool) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if opset < 11 {
		lo, hi = n.AttrFloat("min", lo), n.AttrFloat("max", hi)
	} else {
		for i, dst := range []*float32{&lo, &hi} {
			if i+1 >= len(n.Inputs) || n.Inputs[i+1] == nil || n.Inputs[i+1].Name == "" {
				continue
			}
			v, ok := engineConstScalar(n.Inputs[i+1])
			if !ok {
				return 0, 0, false
			}
			*dst = v
		}
	}
	// Clip gives max everywhere when min > max; the epilogue would not. NaN
	// bounds are left to the standalone operator too.
	if !(lo <= hi) {
		return 0, 0, false
	}
	return lo, hi, true
}

// engineConstScalar is the value of a float32 scalar initializer or
// Constant output.
func engineConstScalar(v *graph.Value) (float32, bool) {
	tp := v.Initializer
	if tp == nil && v.Producer != nil && v.Producer.OpType == "Constant" && normDomain(v.Producer.Domain) == "" {
		tp = v.Producer.AttrTensor("value")
	}
	if tp == nil {
		return 0, false
	}
	t, err := onnxio.ToTensor(tp)
	if err != nil || t.DType != tensor.Float || t.Len() != 1 {
		return 0, false
	}
	return t.Float32()[0], true
}

// Elementwise chains (see nn_epilogue.go) generalise activation fusion for
// Conv: the Conv absorbs every following node that is elementwise, reads
// the chain's current value and whose other operand is either an earlier
// chain value or a tensor from outside (a scalar, a per-channel vector or
// a residual of the output's shape: which one is decided at run time, and
// a run whose operands do not fit runs the remaining nodes one by one). The
// fused step runs where the chain's last node would, so operands produced
// after the Conv (a residual branch) are ready.

// engineChainMax bounds a chain's length.
const engineChainMax = 16

// engineChain is a Conv with the nodes folded into it.
type engineChain struct {
	head  *graph.Node
	nodes []*graph.Node
	in    []string // the fused step's inputs: the Conv's three, then the chain's operands
	op    *convChainOp
}

// last is the node whose output the fused step produces.
func (c *engineChain) last() *graph.Node { return c.nodes[len(c.nodes)-1] }

// chains finds the elementwise chain after each float32 Conv of g. The
// result is keyed by the chain's last node.
func (e *Engine) chains(g *graph.Graph, opsets engineOpsets, outputs []string) map[*graph.Node]*engineChain {
	readers := map[string][]*graph.Node{}
	for _, n := range g.Nodes {
		seen := map[string]bool{}
		for _, name := range e.reads(n) {
			if !seen[name] {
				seen[name] = true
				readers[name] = append(readers[name], n)
			}
		}
	}
	isOut := map[string]bool{}
	for _, name := range outputs {
		isOut[name] = true
	}
	claimed := map[*graph.Node]bool{}
	res := map[*graph.Node]*engineChain{}
	for _, n := range g.Nodes {
		if normDomain(n.Domain) != "" || n.OpType != "Conv" || len(n.Outputs) != 1 || n.Outputs[0] == nil || n.Outputs[0].Name == "" {
			continue
		}
		// No need to know the element type now: a run with other than
		// float32 runs the nodes one by one.
		c := e.chainFrom(n, readers, isOut, claimed, opsets)
		if c == nil {
			continue
		}
		for _, m := range c.nodes {
			claimed[m] = true
		}
		res[c.last()] = c
	}
	return res
}

// chainFrom grows the chain after Conv n, and builds its operator; nil
// when nothing can be fused.
func (e *Engine) chainFrom(n *graph.Node, readers map[string][]*graph.Node, isOut map[string]bool, claimed map[*graph.Node]bool, opsets engineOpsets) *engineChain {
	vals := []string{n.Outputs[0].Name} // chain values
	var nodes []*graph.Node
	ok := func(m *graph.Node) bool {
		return !claimed[m] && engineChainable(m, opsets.of(""))
	}
	// single is the one reader of name, when the value may be folded.
	single := func(name string) *graph.Node {
		if isOut[name] || len(readers[name]) != 1 {
			return nil
		}
		return readers[name][0]
	}
	for len(nodes) < engineChainMax {
		cur := vals[len(vals)-1]
		if isOut[cur] {
			break
		}
		rs := readers[cur]
		if len(rs) == 1 && ok(rs[0]) {
			nodes = append(nodes, rs[0])
			vals = append(vals, rs[0].Outputs[0].Name)
			continue
		}
		if len(rs) != 2 {
			break
		}
		// A diamond such as HardSwish's x * Clip(x + 3, 0, 6): one reader
		// starts a path of single readers that ends in the other reader.
		var path []*graph.Node
		for _, first := range rs {
			other := rs[0]
			if other == first {
				other = rs[1]
			}
			path = path[:0]
			m := first
			for len(path) < 4 && m != nil && m != other && ok(m) {
				path = append(path, m)
				m = single(m.Outputs[0].Name)
			}
			if m == other && ok(other) && len(path) > 0 {
				path = append(path, other)
				break
			}
			path = path[:0]
		}
		if len(path) == 0 {
			break
		}
		for _, m := range path {
			nodes = append(nodes, m)
			vals = append(vals, m.Outputs[0].Name)
		}
	}
	// Drop a diamond cut short by the length limit: every value but the
	// last must be read inside the chain only.
	for len(nodes) > 0 {
		inChain := map[*graph.Node]bool{}
		for _, m := range nodes {
			inChain[m] = true
		}
		good := true
		for _, v := range vals[:len(vals)-1] {
			for _, r := range readers[v] {
				good = good && inChain[r] && !isOut[v]
			}
		}
		if good {
			break
		}
		nodes, vals = nodes[:len(nodes)-1], vals[:len(vals)-1]
	}
	if len(nodes) == 0 {
		return nil
	}
	head, err := buildNode(n, opsets.of(n.Domain))
	conv, isConv := head.(*convOp)
	if err != nil || !isConv {
		return nil
	}
	c := &engineChain{head: n, nodes: nodes}
	for i := range 3 {
		name := ""
		if i < len(n.Inputs) && n.Inputs[i] != nil {
			name = n.Inputs[i].Name
		}
		c.in = append(c.in, name)
	}
	chainIdx := map[string]int{}
	for i, v := range vals {
		chainIdx[v] = i
	}
	var epi []epiNode
	for i, m := range nodes {
		op, err := buildNode(m, opsets.of(m.Domain))
		if err != nil {
			return nil
		}
		en := epiNode{op: op, operand: epiArg{chain: -1, in: -1}}
		cur := -1 // the input holding the chain's current value
		for j, v := range m.Inputs {
			a := epiArg{chain: -1, in: -1}
			switch {
			case v == nil || v.Name == "":
			case chainIdx[v.Name] <= i && slices.Contains(vals[:i+1], v.Name):
				a.chain = chainIdx[v.Name] // an earlier chain value
				if a.chain == i && cur < 0 {
					cur = j
				}
			default:
				a.in = len(c.in)
				c.in = append(c.in, v.Name)
			}
			en.args = append(en.args, a)
		}
		if !engineEpiKind(m, &en, cur, opsets.of("")) {
			return nil
		}
		epi = append(epi, en)
	}
	ch, err := newEpiChain(epi)
	if err != nil {
		return nil
	}
	c.op = &convChainOp{conv: conv, chain: ch}
	return c
}

// engineChainable reports whether m is an elementwise node a chain may
// absorb: its attributes must be known now, its output single and named.
func engineChainable(m *graph.Node, opset int) bool {
	if normDomain(m.Domain) != "" || len(m.Outputs) != 1 || m.Outputs[0] == nil || m.Outputs[0].Name == "" || len(m.Subgraphs) > 0 {
		return false
	}
	switch m.OpType {
	case "Add", "Sub", "Mul", "Div":
		// Before opset 7, broadcast=1 aligns operands at an axis.
		return len(m.Inputs) == 2 && m.Inputs[0] != nil && m.Inputs[1] != nil && (opset >= 7 || m.Attr("broadcast") == nil)
	case "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu":
		return len(m.Inputs) >= 1
	case "Clip":
		_, _, ok := engineClipBounds(m, opset)
		return ok
	}
	return false
}

// engineEpiKind fills in what chain node m computes; cur is the input that
// holds the chain's current value.
func engineEpiKind(m *graph.Node, en *epiNode, cur, opset int) bool {
	if cur < 0 {
		return false
	}
	switch m.OpType {
	case "Add", "Sub", "Mul", "Div":
		kinds := map[string][2]epiKind{"Add": {epiAdd, epiAdd}, "Sub": {epiSub, epiRSub}, "Mul": {epiMul, epiMul}, "Div": {epiDiv, epiRDiv}}
		en.kind = kinds[m.OpType][cur]
		en.operand = en.args[1-cur]
		return true
	case "Relu":
		en.kind = epiRelu
	case "Sigmoid":
		en.kind = epiSigmoid
	case "HardSwish":
		en.kind = epiHardSwish
	case "HardSigmoid":
		en.kind, en.a, en.b = epiHardSigmoid, m.AttrFloat("alpha", 0.2), m.AttrFloat("beta", 0.5)
	case "LeakyRelu":
		en.kind, en.a = epiLeakyRelu, m.AttrFloat("alpha", 0.01)
	case "Clip":
		lo, hi, _ := engineClipBounds(m, opset)
		en.kind, en.a, en.b = epiClip, lo, hi
	default:
		return false
	}
	return cur == 0
}

// convChainOp is a Conv with an elementwise chain folded in. Its inputs
// are the Conv's three (nil where absent) and then the chain's operands.
type convChainOp struct {
	conv  *convOp
	chain *epiChain
}

func (o *convChainOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 3 {
		return nil, fmt.Errorf("fused Conv: want at least 3 inputs, got %d", len(in))
	}
	x, w, b := in[0], in[1], in[2]
	if x != nil && w != nil && x.DType == tensor.Float && w.DType == tensor.Float && (b == nil || b.DType == tensor.Float) && !o.conv.ref {
		if geo, nb, _, m, err := convShapes(&o.conv.win, o.conv.group, x, w, b); err == nil {
			shape := append([]int{nb, m}, geo.outShape()...)
			if prog, k := o.chain.bind(shape, in); k > 0 {
				out, err := o.conv.runFast(ctx, x, w, b, prog)
				if err != nil {
					return nil, err
				}
				return o.rest(ctx, in, out[0], k)
			}
		}
	}
	cin := in[:2]
	if b != nil {
		cin = in[:3]
	}
	out, err := o.conv.Run(ctx, cin)
	if err != nil {
		return nil, err
	}
	return o.rest(ctx, in, out[0], 0)
}

// rest runs the chain's nodes from k on one by one, y being chain value k.
func (o *convChainOp) rest(ctx *Context, in []*tensor.Tensor, y *tensor.Tensor, k int) ([]*tensor.Tensor, error) {
	nodes := o.chain.nodes
	vals := make([]*tensor.Tensor, len(nodes)+1)
	vals[k] = y
	for i := k; i < len(nodes); i++ {
		args := make([]*tensor.Tensor, len(nodes[i].args))
		for j, a := range nodes[i].args {
			switch {
			case a.chain >= 0:
				args[j] = vals[a.chain]
			case a.in >= 0:
				args[j] = in[a.in]
			}
		}
		out, err := nodes[i].op.Run(ctx, args)
		if err != nil {
			return nil, fmt.Errorf("fused node %d: %w", i, err)
		}
		if len(out) == 0 || out[0] == nil {
			return nil, fmt.Errorf("fused node %d produced no output", i)
		}
		vals[i+1] = out[0]
	}
	// The intermediates die here; give their buffers back (the engine
	// keeps any that the frame still sees, or that the result shares).
	if ctx != nil && ctx.free != nil {
		res, _ := poolSpan(vals[len(nodes)].Data)
		for _, v := range vals[k:len(nodes)] {
			if lo, _ := poolSpan(v.Data); lo != res {
				ctx.free(v)
			}
		}
	}
	return vals[len(nodes):], nil
}
