package rewrite

import (
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// PassHardSwish names FuseHardSwish in Prepare's list.
const PassHardSwish = "fuse-hardswish"

// FuseHardSwish rewrites the hard-swish chain some exporters write out,
//
//	y = Mul(x, Clip(Add(x, b), 0, c)) / c
//
// as y = Mul(x, HardSigmoid(x, alpha=1/c, beta=b/c)), the same function
// with two ops instead of four (HardSigmoid exists since opset 6). Quantized,
// the chain cost a requantizing Add, Mul and a float Div; the short form is
// one float HardSigmoid and one QLinearMul.
func FuseHardSwish(m *graph.Model) error {
	return m.Graph.Walk(func(g *graph.Graph) error {
		for _, div := range append([]*graph.Node(nil), g.Nodes...) {
			fuseHardSwish(g, div)
		}
		return nil
	})
}

func fuseHardSwish(g *graph.Graph, div *graph.Node) {
	if div.OpType != "Div" || !isDefault(div) || len(div.Inputs) != 2 {
		return
	}
	c, ok := scalarConst(div.Inputs[1])
	if !ok || c <= 0 {
		return
	}
	mul := soleProducer(div.Inputs[0], "Mul")
	if mul == nil || len(mul.Inputs) != 2 {
		return
	}
	for k := 0; k < 2; k++ {
		x, clipOut := mul.Inputs[k], mul.Inputs[1-k]
		clip := soleProducer(clipOut, "Clip")
		if clip == nil || x == nil {
			continue
		}
		lo, hi, ok := clipBounds(clip)
		if !ok || lo != 0 || hi != c {
			continue
		}
		add := soleProducer(clip.Inputs[0], "Add")
		if add == nil || len(add.Inputs) != 2 {
			continue
		}
		var b float32
		switch {
		case add.Inputs[0] == x:
			b, ok = scalarConst(add.Inputs[1])
		case add.Inputs[1] == x:
			b, ok = scalarConst(add.Inputs[0])
		default:
			ok = false
		}
		if !ok {
			continue
		}
		y := div.Outputs[0]
		g.RemoveNode(div)
		hs := g.AddNode("HardSigmoid", "", []*graph.Value{x}, []string{y.Name + "_hardsigmoid"},
			graph.FloatAttr("alpha", 1/c), graph.FloatAttr("beta", b/c))
		if _, err := g.AddNodeProducing("Mul", "", []*graph.Value{x, hs.Outputs[0]}, []*graph.Value{y}); err != nil {
			return
		}
		g.RemoveDead()
		return
	}
}

// soleProducer returns v's producer if it has the op type, is in the
// default domain, and v is its only output that anything reads, read only
// once and not a graph output.
func soleProducer(v *graph.Value, op string) *graph.Node {
	if v == nil || v.Producer == nil || v.Producer.OpType != op || !isDefault(v.Producer) {
		return nil
	}
	if len(v.Consumers) != 1 || v.Graph.IsOutput(v) {
		return nil
	}
	return v.Producer
}

// scalarConst reads a one-element float32 initializer.
func scalarConst(v *graph.Value) (float32, bool) {
	if v == nil || v.Initializer == nil {
		return 0, false
	}
	t, err := tensorOf(v)
	if err != nil || t.DType != tensor.Float || t.Len() != 1 {
		return 0, false
	}
	return t.Float32()[0], true
}

// clipBounds returns a Clip's constant bounds (attributes before opset 11,
// initializer inputs after).
func clipBounds(n *graph.Node) (lo, hi float32, ok bool) {
	if a := n.Attr("min"); a != nil {
		lo = a.GetF()
		if b := n.Attr("max"); b != nil {
			return lo, b.GetF(), true
		}
		return 0, 0, false
	}
	if len(n.Inputs) < 3 {
		return 0, 0, false
	}
	lo, ok1 := scalarConst(n.Inputs[1])
	hi, ok2 := scalarConst(n.Inputs[2])
	return lo, hi, ok1 && ok2
}
