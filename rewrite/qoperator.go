package rewrite

import (
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// msDomain is ONNX Runtime's contrib operator domain, home of QLinearAdd
// and the other QOperator kernels ONNX itself lacks.
const msDomain = "com.microsoft"

// qop says how a QDQ-wrapped float node becomes one quantized operator.
type qop struct {
	op, domain string
	// build returns the new node's inputs from the dequantized inputs
	// (quantized value, scale, zero point for each) and the output's
	// scale and zero point; nil means the pattern does not fit.
	build func(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value
	// keepAttrs copies the float node's attributes, except those in dropAttrs.
	keepAttrs bool
	dropAttrs []string
}

// dq is a DequantizeLinear feeding an input: its quantized value, scale and
// zero point (nil when absent).
type dq struct{ q, s, z *graph.Value }

func triple(d dq) []*graph.Value { return []*graph.Value{d.q, d.s, d.z} }

var qops = map[string]qop{
	"Conv": {op: "QLinearConv", keepAttrs: true, build: func(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value {
		if len(in) < 2 || in[0].q == nil || in[1].q == nil {
			return nil
		}
		args := append(append(triple(in[0]), triple(in[1])...), ys, yz)
		if len(in) > 2 {
			if in[2].q == nil {
				return nil // float bias: no QLinearConv form
			}
			args = append(args, in[2].q)
		}
		return args
	}},
	"MatMul": {op: "QLinearMatMul", build: func(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value {
		if len(in) != 2 || in[0].q == nil || in[1].q == nil {
			return nil
		}
		return append(append(triple(in[0]), triple(in[1])...), ys, yz)
	}},
	"Gemm": {op: "QGemm", domain: msDomain, keepAttrs: true, dropAttrs: []string{"beta"}, build: func(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value {
		if len(in) < 2 || in[0].q == nil || in[1].q == nil {
			return nil
		}
		args := append(triple(in[0]), triple(in[1])...)
		if len(in) > 2 {
			if in[2].q == nil {
				return nil // float C: no QGemm form
			}
			args = append(args, in[2].q)
		} else {
			args = append(args, nil)
		}
		return append(args, ys, yz)
	}},
	"Add":               {op: "QLinearAdd", domain: msDomain, build: binary},
	"Mul":               {op: "QLinearMul", domain: msDomain, build: binary},
	"GlobalAveragePool": {op: "QLinearGlobalAveragePool", domain: msDomain, build: unary},
	"Sigmoid":           {op: "QLinearSigmoid", domain: msDomain, build: unary},
	"LeakyRelu":         {op: "QLinearLeakyRelu", domain: msDomain, keepAttrs: true, build: unary},
	"AveragePool":       {op: "QLinearAveragePool", domain: msDomain, keepAttrs: true, build: unary},
	"Concat": {op: "QLinearConcat", domain: msDomain, keepAttrs: true, build: func(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value {
		args := []*graph.Value{ys, yz}
		for _, d := range in {
			if d.q == nil {
				return nil
			}
			args = append(args, triple(d)...)
		}
		return args
	}},
}

func unary(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value {
	if len(in) != 1 || in[0].q == nil {
		return nil
	}
	return append(triple(in[0]), ys, yz)
}

func binary(n *graph.Node, in []dq, ys, yz *graph.Value) []*graph.Value {
	if len(in) != 2 || in[0].q == nil || in[1].q == nil {
		return nil
	}
	return append(append(triple(in[0]), triple(in[1])...), ys, yz)
}

// ToQOperator turns each float node sitting between DequantizeLinear inputs
// and a single QuantizeLinear output into its QOperator form (QLinearConv,
// QLinearMatMul, ONNX Runtime's QLinearAdd ...), and lets order-preserving
// ops (Reshape, MaxPool ...) whose input and output share parameters run on
// the integers directly. DequantizeLinear and QuantizeLinear stay only at
// the borders with float code.
func ToQOperator(m *graph.Model) error {
	usedMS := false
	err := m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if n.Domain != "" {
				continue
			}
			out, q := singleQ(n)
			if q == nil {
				continue
			}
			var in []dq
			for _, v := range n.Inputs {
				in = append(in, dqOf(v))
			}
			if r, ok := Rules[n.OpType]; ok && r.Kind == Passthrough {
				if in[0].q == nil || !sameParams(in[0], q) {
					continue
				}
				// The op moves integers as well as floats; its output is
				// no longer the float the model declared.
				n.SetInput(0, in[0].q)
				out.Type = nil
				graph.ReplaceUses(q.Outputs[0], out)
				g.RemoveNode(q)
				continue
			}
			spec, ok := qops[n.OpType]
			if !ok {
				continue
			}
			args := spec.build(n, in, q.Inputs[1], q.Inputs[2])
			if args == nil {
				continue
			}
			yq := q.Outputs[0]
			g.RemoveNode(q)
			g.RemoveNode(n)
			var attrs []*onnx.AttributeProto
			if spec.keepAttrs {
				for _, a := range n.Attrs {
					if !slices.Contains(spec.dropAttrs, a.GetName()) {
						attrs = append(attrs, a)
					}
				}
			}
			nn, err := g.AddNodeProducing(spec.op, spec.domain, args, []*graph.Value{yq}, attrs...)
			if err != nil {
				return err
			}
			nn.Name = n.Name
			if spec.domain == msDomain {
				usedMS = true
			}
		}
		g.RemoveDead()
		return g.Sort()
	})
	if err != nil {
		return err
	}
	if usedMS && m.Opset(msDomain) == 0 {
		m.SetOpset(msDomain, 1)
	}
	return nil
}

// singleQ returns n's only output and the QuantizeLinear that is its only
// reader, or nil.
func singleQ(n *graph.Node) (*graph.Value, *graph.Node) {
	if len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return nil, nil
	}
	out := n.Outputs[0]
	if len(out.Consumers) != 1 || out.Graph.IsOutput(out) {
		return nil, nil
	}
	q := out.Consumers[0]
	if q.OpType != "QuantizeLinear" || q.Domain != "" || len(q.Inputs) < 3 || q.Inputs[0] != out || q.Inputs[2] == nil {
		return nil, nil
	}
	return out, q
}

// dqOf describes the DequantizeLinear producing v, if any.
func dqOf(v *graph.Value) dq {
	if v == nil || v.Producer == nil || v.Producer.OpType != "DequantizeLinear" || v.Producer.Domain != "" {
		return dq{}
	}
	p := v.Producer
	d := dq{q: p.Inputs[0], s: p.Inputs[1]}
	if len(p.Inputs) > 2 {
		d.z = p.Inputs[2]
	}
	return d
}

// sameParams reports whether a DQ and a Q use the very same scale and zero
// point values (the rewriter shares them for order-preserving ops).
func sameParams(d dq, q *graph.Node) bool {
	return d.s == q.Inputs[1] && d.z == q.Inputs[2]
}
