package rewrite

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// PassFoldAffine names FoldAffine.
const PassFoldAffine = "fold-affine"

// FoldAffine folds per-channel (or scalar) constant Mul and Add nodes into
// the convolutions next to them, as BatchNormalization is folded: PaddlePaddle's
// PP-LCNetV3 (PP-OCRv4) puts a learnable y = s*x + t after every
// convolution and after every activation, and each of those, quantized, is
// one more requantization (and kernel) between two convolutions.
//
//   - Conv, ConvTranspose or Gemm -> Mul(s): s scales the weights' output
//     channels and the bias; an Add after it then folds into the bias
//     (FoldBiasAdd).
//   - Mul(s) -> Conv: s scales the weights' input channels; zero padding is
//     unaffected, as s*0 = 0.
//   - Add(t) -> Conv without padding: the bias gains W·t. With padding the
//     border would see t where the original saw 0, so instead a Mul(s)
//     before the Add moves past it (s*x + t = s*(x + t/s)) into the Conv,
//     and the Add stays.
//
// Values read by other nodes, or that are graph outputs, are left alone;
// the outputs do not change beyond float rounding.
func FoldAffine(m *graph.Model) error {
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if n.Graph != g {
				continue // removed
			}
			if err := foldMulBackward(m, g, n); err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
		}
		g.RemoveDead()
	}
	if err := FoldBiasAdd(m); err != nil {
		return err
	}
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if err := foldIntoConvInput(m, g, n); err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
		}
		g.RemoveDead()
	}
	return nil
}

// affineConst splits a binary Mul or Add into its variable input and the
// per-channel values of its constant one, for an activation of the given
// rank and channel count (axis 1).
func affineConst(m *graph.Model, n *graph.Node, op string, rank, channels int) (x *graph.Value, c []float32, ok bool) {
	if n.OpType != op || !isDefault(n) || len(n.Inputs) != 2 || len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return nil, nil, false
	}
	for k := 0; k < 2; k++ {
		x, cv := n.Inputs[k], n.Inputs[1-k]
		if x == nil || cv == nil || constant(m, x) != nil {
			continue
		}
		t, ok := floatTensor(m, cv)
		if !ok {
			continue
		}
		if c, ok := channelValues(t, rank, channels); ok {
			return x, c, true
		}
	}
	return nil, nil, false
}

func foldMulBackward(m *graph.Model, g *graph.Graph, mul *graph.Node) error {
	if mul.OpType != "Mul" || len(mul.Inputs) != 2 {
		return nil
	}
	for _, in := range mul.Inputs {
		if in == nil {
			continue
		}
		p := channelAffineTarget(g, in)
		if p == nil || len(p.Inputs) < 2 {
			continue
		}
		rank, channels, ok := outputChannels(m, p)
		if !ok {
			continue
		}
		x, s, ok := affineConst(m, mul, "Mul", rank, channels)
		if !ok || x != in {
			continue
		}
		scale := make([]float64, channels)
		for i, v := range s {
			scale[i] = float64(v)
		}
		_, err := foldChannelAffine(m, g, x, mul, scale, make([]float64, channels), "_scaled")
		return err
	}
	return nil
}

// outputChannels returns the rank and channel count of p's output, from
// its constant weight.
func outputChannels(m *graph.Model, p *graph.Node) (rank, channels int, ok bool) {
	wt := constant(m, p.Inputs[1])
	if wt == nil || len(wt.GetDims()) < 2 {
		return 0, 0, false
	}
	dims := wt.GetDims()
	switch p.OpType {
	case "Conv":
		return len(dims), int(dims[0]), true
	case "ConvTranspose":
		return len(dims), int(dims[1] * p.AttrInt("group", 1)), true
	case "Gemm":
		if p.AttrInt("transB", 0) != 0 {
			return 2, int(dims[0]), true
		}
		return 2, int(dims[1]), true
	}
	return 0, 0, false
}

// convIn is a Conv whose float weights (and bias) are being rewritten.
type convIn struct {
	n      *graph.Node
	w      *tensor.Tensor
	bias   []float32 // nil when absent and not yet needed
	group  int
	padded bool
}

func newConvIn(m *graph.Model, n *graph.Node) (*convIn, bool) {
	if n.OpType != "Conv" || !isDefault(n) || len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[1] == nil {
		return nil, false
	}
	w, ok := floatTensor(m, n.Inputs[1])
	if !ok || w.Rank() < 3 {
		return nil, false
	}
	c := &convIn{n: n, w: w, group: int(n.AttrInt("group", 1))}
	if c.group < 1 || w.Shape[0]%c.group != 0 {
		return nil, false
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		b, ok := floatTensor(m, n.Inputs[2])
		if !ok || b.Len() != w.Shape[0] {
			return nil, false
		}
		c.bias = b.Float32()
	}
	switch n.AttrString("auto_pad", "NOTSET") {
	case "NOTSET", "VALID":
	default:
		c.padded = true
	}
	for _, p := range n.AttrInts("pads", nil) {
		c.padded = c.padded || p != 0
	}
	return c, true
}

func (c *convIn) inChannels() int { return c.w.Shape[1] * c.group }

// eachIn calls f with every output channel o and weight index k reading
// input channel ch.
func (c *convIn) eachIn(ch int, f func(o, k int)) { convEachIn(c.w.Shape, c.group, ch, f) }

// convEachIn calls f with every output channel o and index k of a Conv
// weight of the given shape ([M, C/group, ...]) that reads input channel ch.
func convEachIn(shape []int, group, ch int, f func(o, k int)) {
	m, cg := shape[0], shape[1]
	spatial := 1
	for _, d := range shape[2:] {
		spatial *= d
	}
	grp, local := ch/cg, ch%cg
	mg := m / group
	for o := grp * mg; o < (grp+1)*mg; o++ {
		base := (o*cg + local) * spatial
		for k := base; k < base+spatial; k++ {
			f(o, k)
		}
	}
}

func (c *convIn) scaleIn(s []float32) {
	d := c.w.Float32()
	for ch, v := range s {
		c.eachIn(ch, func(_, k int) { d[k] *= v })
	}
}

func (c *convIn) shiftIn(t []float32) {
	if c.bias == nil {
		c.bias = make([]float32, c.w.Shape[0])
	}
	d := c.w.Float32()
	acc := make([]float64, len(c.bias))
	for ch, v := range t {
		c.eachIn(ch, func(o, k int) { acc[o] += float64(d[k]) * float64(v) })
	}
	for o := range c.bias {
		c.bias[o] = float32(float64(c.bias[o]) + acc[o])
	}
}

// store writes the weights and bias as new initializers (the old ones may
// be shared).
func (c *convIn) store(g *graph.Graph) error {
	base := c.n.Name
	if base == "" {
		base = c.n.OpType
	}
	wp, err := onnxio.FromTensor("", c.w)
	if err != nil {
		return err
	}
	c.n.SetInput(1, g.AddInitializer(base+"_affine_weight", wp))
	if c.bias != nil {
		bp, err := onnxio.FromTensor("", tensor.FromFloat32(c.bias, len(c.bias)))
		if err != nil {
			return err
		}
		for len(c.n.Inputs) < 3 {
			c.n.Inputs = append(c.n.Inputs, nil)
		}
		c.n.SetInput(2, g.AddInitializer(base+"_affine_bias", bp))
	}
	return nil
}

// soleReader reports whether v is read only by n and is not a graph output.
func soleReader(g *graph.Graph, v *graph.Value, n *graph.Node) bool {
	return v != nil && len(v.Consumers) == 1 && v.Consumers[0] == n && !g.IsOutput(v)
}

// foldIntoConvInput folds the constant Muls and Adds feeding Conv n's input.
func foldIntoConvInput(m *graph.Model, g *graph.Graph, n *graph.Node) error {
	// Decoding the weights is the expensive part; most Convs read no Mul or Add.
	if n.OpType != "Conv" || len(n.Inputs) == 0 || n.Inputs[0] == nil || n.Inputs[0].Producer == nil {
		return nil
	}
	if op := n.Inputs[0].Producer.OpType; op != "Mul" && op != "Add" {
		return nil
	}
	c, ok := newConvIn(m, n)
	if !ok {
		return nil
	}
	rank, channels := c.w.Rank(), c.inChannels()
	changed := false
	for {
		v := n.Inputs[0]
		p := v.Producer
		if p == nil || p.Graph != g || !soleReader(g, v, n) {
			break
		}
		if x, s, ok := affineConst(m, p, "Mul", rank, channels); ok {
			c.scaleIn(s)
			n.SetInput(0, x)
			g.RemoveNode(p)
			changed = true
			continue
		}
		x, t, ok := affineConst(m, p, "Add", rank, channels)
		if !ok {
			break
		}
		if !c.padded {
			c.shiftIn(t)
			n.SetInput(0, x)
			g.RemoveNode(p)
			changed = true
			continue
		}
		// s*x + t = s*(x + t/s): the Mul moves into the Conv, the Add stays.
		mul := x.Producer
		if mul == nil || mul.Graph != g || !soleReader(g, x, p) {
			break
		}
		y, s, ok := affineConst(m, mul, "Mul", rank, channels)
		if !ok || hasZero(s) {
			break
		}
		shift := make([]float32, len(t))
		for i := range t {
			shift[i] = t[i] / s[i]
		}
		shape := make([]int, rank-1) // [C, 1, ...]: per channel of the rank-long activation
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = len(shift)
		tp, err := onnxio.FromTensor("", tensor.FromFloat32(shift, shape...))
		if err != nil {
			return err
		}
		// The Add now computes x + t/s, not what its output name stood for
		// (ptq calibrate's statistics and ptq compare go by names), so a
		// new Add with a new output takes its place.
		shifted := g.AddNode("Add", "", []*graph.Value{y, g.AddInitializer(v.Name+"_shift", tp)}, []string{v.Name + "_shifted"})
		n.SetInput(0, shifted.Outputs[0])
		g.RemoveNode(p)
		c.scaleIn(s)
		g.RemoveNode(mul)
		changed = true
		break
	}
	if !changed {
		return nil
	}
	return c.store(g)
}

func hasZero(s []float32) bool {
	for _, v := range s {
		if v == 0 {
			return true
		}
	}
	return false
}
