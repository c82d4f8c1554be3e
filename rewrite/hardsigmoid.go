package rewrite

import (
	"fmt"
	"math"
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/tensor"
)

// foldHardSigmoid plans to fold HardSigmoid(x) = Clip(alpha*x + beta, 0, 1)
// into the quantized Conv that computes x when nothing else reads x, as
// visitClamp folds a Relu: the Conv's weight is scaled by alpha and its
// bias becomes alpha*b + beta (done by QDQ, once the Conv is known to stay
// quantized), and the HardSigmoid's range, whose saturation at 0 and 1 does
// the clipping, quantizes the Conv's output. Squeeze-and-excitation gates
// (MobileNetV3, PP-LCNet) end this way; ONNX Runtime has no quantized
// HardSigmoid. It reports whether it folded n.
func (p *Plan) foldHardSigmoid(n *graph.Node) bool {
	x := input(n, 0)
	if x == nil || len(n.Outputs) != 1 || n.Outputs[0] == nil || p.cfg.SymmetricActivations {
		return false
	}
	alpha, beta := n.AttrFloat("alpha", 0.2), n.AttrFloat("beta", 0.5)
	if !(alpha > 0) || !finite(alpha) || !finite(beta) {
		return false
	}
	prod, y := x.Producer, n.Outputs[0]
	if prod == nil || prod.OpType != "Conv" || p.rule[prod].Kind != Compute || x.Graph != n.Graph ||
		len(x.Consumers) != 1 || x.Graph.IsOutput(x) || y.Graph.IsOutput(y) {
		return false
	}
	if w := input(prod, 1); w == nil || !isFloatInit(w) {
		return false
	}
	if b := input(prod, 2); b != nil && !isFloatInit(b) {
		return false
	}
	a := p.acts[x]
	if a == nil || a.sameAs != nil || a.rangeOf != "" {
		return false
	}
	a.rangeOf = y.Name
	p.folded[n] = prod
	p.foldedList = append(p.foldedList, n)
	p.alias[y] = x
	return true
}

// applyHardSigmoidFold does what foldHardSigmoid planned: conv computes
// alpha*conv + beta into the HardSigmoid's output, which keeps its name
// (the Conv's output no longer holds what the float model's tensor of that
// name does), and the HardSigmoid goes. The Conv is renamed too, so that
// passes matching nodes with the float model by name (bias correction)
// leave it alone.
func (p *Plan) applyHardSigmoidFold(n, conv *graph.Node, params map[*graph.Value]quant.Params) error {
	g := n.Graph
	x, y := n.Inputs[0], n.Outputs[0]
	alpha, beta := float64(n.AttrFloat("alpha", 0.2)), float64(n.AttrFloat("beta", 0.5))
	w, err := tensorOf(conv.Inputs[1])
	if err != nil {
		return err
	}
	w = w.Clone()
	c := w.Shape[0]
	scale := make([]float64, c)
	for i := range scale {
		scale[i] = alpha
	}
	if !scaleConvWeight(conv, w, scale) {
		return fmt.Errorf("node %s: cannot scale weight of shape %v", conv, w.Shape)
	}
	b := make([]float32, c)
	if bv := input(conv, 2); bv != nil {
		old, err := tensorOf(bv)
		if err != nil {
			return err
		}
		if old.Len() != c {
			return fmt.Errorf("node %s: bias of %d values for %d channels", conv, old.Len(), c)
		}
		for i, v := range old.Float32() {
			b[i] = float32(alpha*float64(v) + beta)
		}
	} else {
		for i := range b {
			b[i] = float32(beta)
		}
	}
	wp, err := onnxio.FromTensor("", w)
	if err != nil {
		return err
	}
	bp, err := onnxio.FromTensor("", tensor.FromFloat32(b, c))
	if err != nil {
		return err
	}
	base := conv.Name
	if base == "" {
		base = conv.OpType
	}
	conv.SetInput(1, g.AddInitializer(base+"_hardsigmoid_weight", wp))
	for len(conv.Inputs) < 3 {
		conv.Inputs = append(conv.Inputs, nil)
	}
	conv.SetInput(2, g.AddInitializer(base+"_hardsigmoid_bias", bp))
	conv.Name = g.UniqueName(base + "_hardsigmoid")
	g.RemoveNode(n)
	if err := g.Merge(x, y); err != nil {
		return err
	}
	a := p.acts[x]
	delete(p.acts, x)
	delete(p.alias, y)
	a.v, a.rangeOf = y, ""
	p.acts[y] = a
	params[y] = params[x]
	return nil
}

// affineHardSigmoids rewrites each quantized HardSigmoid, which ONNX Runtime
// runs in float between a DequantizeLinear and a QuantizeLinear, as
//
//	DQ(xq, s*alpha, z) -> Add(DQ(beta)) -> Q
//
// the same function with the slope moved into the input's scale and the
// clipping to [0, 1] left to the QuantizeLinear's saturation, as a folded
// Relu is; ONNX Runtime fuses it into one QLinearAdd (and ToQOperator
// writes one). That holds when the output's quantized range starts at zero
// and ends at or below one; other HardSigmoids stay as they are. The Add's
// output keeps the HardSigmoid's name, so the dequantized tensor still
// compares with the float model's.
func (p *Plan) affineHardSigmoids() error {
	t := p.cfg.ActivationType
	for _, n := range p.nodes {
		if n.OpType != "HardSigmoid" || len(n.Inputs) != 1 || len(n.Outputs) != 1 {
			continue
		}
		g := n.Graph
		alpha, beta := n.AttrFloat("alpha", 0.2), n.AttrFloat("beta", 0.5)
		if !(alpha > 0) || beta == 0 || !finite(alpha) || !finite(beta) {
			continue
		}
		y := n.Outputs[0]
		if y == nil || len(y.Consumers) != 1 || g.IsOutput(y) {
			continue
		}
		q := y.Consumers[0]
		if q.OpType != "QuantizeLinear" || len(q.Inputs) < 3 || q.Inputs[0] != y {
			continue
		}
		ys, ok1 := scalarConst(q.Inputs[1])
		yz, ok2 := scalarInt(q.Inputs[2])
		if !ok1 || !ok2 || yz != t.Min() || float32(t.Max()-yz)*ys-1 > 0x1p-23 {
			continue // the saturation would not clip at exactly 0 and 1
		}
		xv := n.Inputs[0]
		d := xv.Producer
		if d == nil || d.OpType != "DequantizeLinear" || len(xv.Consumers) != 1 || len(d.Inputs) < 3 || d.Inputs[2] == nil {
			continue
		}
		xs, ok := scalarConst(d.Inputs[1])
		if !ok {
			continue
		}
		xq, xz := d.Inputs[0], d.Inputs[2]
		g.RemoveNode(n)
		g.RemoveNode(d)
		sx := g.AddInitializer(xq.Name+"_scale_times_alpha", scalarFloat(float32(float64(xs)*float64(alpha))))
		dx := g.AddNode("DequantizeLinear", "", []*graph.Value{xq, sx, xz}, []string{xv.Name})
		bq, bz := int32(1), int32(0)
		switch {
		case beta < 0 && t.Signed:
			bq = -1
		case beta < 0:
			bq, bz = 0, 1
		}
		bv := g.AddInitializer(y.Name+"_beta_quantized", intTensor(t, []int32{bq}, nil))
		bs := g.AddInitializer(y.Name+"_beta_scale", scalarFloat(float32(math.Abs(float64(beta)))))
		bzv := g.AddInitializer(y.Name+"_beta_zero_point", zeroPoint(t, []int32{bz}, nil))
		db := g.AddNode("DequantizeLinear", "", []*graph.Value{bv, bs, bzv}, []string{y.Name + "_beta"})
		add, err := g.AddNodeProducing("Add", "", []*graph.Value{dx.Outputs[0], db.Outputs[0]}, []*graph.Value{y})
		if err != nil {
			return err
		}
		add.Name = n.Name
		// dx does not dequantize xq with its own scale: put the
		// DequantizeLinear nodes of xq's other readers before it, so that
		// tools pairing a QuantizeLinear with its first DequantizeLinear
		// (in graph order, as saved) find one of those.
		for _, c := range append([]*graph.Node(nil), xq.Consumers...) {
			if c != dx && c.OpType == "DequantizeLinear" && c.Graph == g {
				moveBefore(g, c, dx)
			}
		}
	}
	return nil
}

// scalarInt reads a one-element integer initializer (a zero point).
func scalarInt(v *graph.Value) (int32, bool) {
	if v == nil || v.Initializer == nil {
		return 0, false
	}
	t, err := tensorOf(v)
	if err != nil || t.Len() != 1 {
		return 0, false
	}
	switch d := t.Data.(type) {
	case []int8:
		return int32(d[0]), true
	case []uint8:
		return int32(d[0]), true
	case []int16:
		return int32(d[0]), true
	case []uint16:
		return int32(d[0]), true
	case []int32:
		return d[0], true
	}
	return 0, false
}

// moveBefore moves n to just before at in g's node order; n's inputs must
// be produced before at, so the order stays topological.
func moveBefore(g *graph.Graph, n, at *graph.Node) {
	i := slices.Index(g.Nodes, n)
	if i < 0 {
		return
	}
	g.Nodes = slices.Delete(g.Nodes, i, i+1)
	j := slices.Index(g.Nodes, at)
	if j < 0 {
		j = len(g.Nodes)
	}
	g.Nodes = slices.Insert(g.Nodes, j, n)
}
