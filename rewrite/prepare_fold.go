package rewrite

import (
	"fmt"
	"math"
	"strings"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// maxFoldBytes bounds the size of a folded tensor: a constant Expand or
// Tile may compute something far bigger than the model it came from.
const maxFoldBytes = 64 << 20

// constant returns the data of v when v is a constant: an initializer that
// a caller cannot override. From IR version 4 on, an initializer that is
// also listed among the graph inputs is only a default for that input.
func constant(m *graph.Model, v *graph.Value) *onnx.TensorProto {
	if v == nil || v.Initializer == nil {
		return nil
	}
	if m.Proto.GetIrVersion() >= 4 {
		for _, in := range v.Graph.Inputs {
			if in == v {
				return nil
			}
		}
	}
	return v.Initializer
}

// FoldConstants evaluates, with ptq's own kernels, every node whose inputs
// are all constants, and every Shape of a value whose shape is fully known,
// and replaces its outputs by initializers of the same names, in every
// graph, until nothing more folds. Nondeterministic operators, nodes with
// subgraphs, nodes producing a graph output and results above 64 MiB stay.
// A node the kernels cannot evaluate also stays: folding is an
// optimisation, and the node still runs wherever the model runs.
func FoldConstants(m *graph.Model) error {
	gs := graphs(m)
	for _, g := range gs {
		nodes, err := g.TopoSort()
		if err != nil {
			return err
		}
		for _, n := range nodes {
			outs, ok := foldNode(m, n)
			if !ok {
				continue
			}
			g.RemoveNode(n)
			for i, o := range n.Outputs {
				if o == nil {
					continue
				}
				tp, err := onnxio.FromTensor(o.Name, outs[i])
				if err != nil {
					return fmt.Errorf("node %s: %w", n, err)
				}
				if err := g.MakeInitializer(o, tp); err != nil {
					return fmt.Errorf("node %s: %w", n, err)
				}
			}
		}
	}
	// Innermost graphs first, so an outer initializer read only by a folded
	// inner node is seen as unused.
	for i := len(gs) - 1; i >= 0; i-- {
		gs[i].RemoveDead()
	}
	return nil
}

// foldNode evaluates n if it can be folded.
func foldNode(m *graph.Model, n *graph.Node) ([]*tensor.Tensor, bool) {
	if !isDefault(n) || len(n.Subgraphs) > 0 || len(n.Inputs) == 0 ||
		strings.HasPrefix(n.OpType, "Random") || n.OpType == "Multinomial" || n.OpType == "Bernoulli" {
		return nil, false
	}
	for _, o := range n.Outputs {
		if o != nil && n.Graph.IsOutput(o) {
			return nil, false
		}
	}
	if n.OpType == "Shape" {
		if t := staticShape(m, n); t != nil {
			return []*tensor.Tensor{t}, true
		}
	}
	in := make([]*tensor.Tensor, len(n.Inputs))
	for i, v := range n.Inputs {
		if v == nil {
			continue
		}
		tp := constant(m, v)
		if tp == nil {
			return nil, false
		}
		t, err := onnxio.ToTensor(tp)
		if err != nil {
			return nil, false
		}
		in[i] = t
	}
	op, err := kernels.Build(n, m.Opset(n.Domain))
	if err != nil {
		return nil, false
	}
	outs, err := op.Run(&kernels.Context{Threads: 1}, in)
	if err != nil || len(outs) < len(n.Outputs) {
		return nil, false
	}
	for i, o := range n.Outputs {
		if o == nil {
			continue
		}
		if outs[i] == nil || tensorBytes(outs[i]) > maxFoldBytes {
			return nil, false
		}
	}
	return outs, true
}

// staticShape folds Shape(x) when x's type gives every dimension a value.
func staticShape(m *graph.Model, n *graph.Node) *tensor.Tensor {
	x := n.Inputs[0]
	if x == nil || x.Type == nil || x.Type.GetTensorType() == nil || x.Type.GetTensorType().GetShape() == nil {
		return nil
	}
	var dims []int64
	for _, d := range x.Type.GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" || d.Value == nil {
			return nil
		}
		if _, ok := d.Value.(*onnx.TensorShapeProto_Dimension_DimValue); !ok || d.GetDimValue() < 0 {
			return nil
		}
		dims = append(dims, d.GetDimValue())
	}
	r := int64(len(dims))
	start, end := n.AttrInt("start", 0), n.AttrInt("end", r)
	clamp := func(i int64) int64 {
		if i < 0 {
			i += r
		}
		return max(0, min(i, r))
	}
	start, end = clamp(start), clamp(end)
	if end < start {
		end = start
	}
	s := append([]int64(nil), dims[start:end]...)
	return tensor.FromInt64(s, len(s))
}

func tensorBytes(t *tensor.Tensor) int64 {
	if ss, ok := t.Data.([]string); ok {
		n := int64(0)
		for _, s := range ss {
			n += int64(len(s))
		}
		return n
	}
	size := int64(8)
	switch t.DType {
	case tensor.Bool, tensor.Int8, tensor.Uint8, tensor.Int4, tensor.Uint4,
		tensor.Float8E4M3FN, tensor.Float8E4M3FNUZ, tensor.Float8E5M2, tensor.Float8E5M2FNUZ, tensor.Float4E2M1:
		size = 1
	case tensor.Int16, tensor.Uint16, tensor.Float16, tensor.BFloat16:
		size = 2
	case tensor.Float, tensor.Int32, tensor.Uint32:
		size = 4
	case tensor.Complex128:
		size = 16
	}
	return int64(t.Len()) * size
}

// FoldBatchNorm folds an inference BatchNormalization into the Conv,
// ConvTranspose or Gemm that feeds it when nothing else reads that node's
// output: y = s*(x - mean) + beta with s = scale/sqrt(var + eps) becomes a
// weight scaled by s per output channel and a bias (created if absent)
// s*(b - mean) + beta. The arithmetic is done in float64 and stored as
// float32. New initializers are made, so weights shared with other nodes
// are left alone.
func FoldBatchNorm(m *graph.Model) error {
	for _, g := range graphs(m) {
		for _, bn := range append([]*graph.Node(nil), g.Nodes...) {
			if !isDefault(bn) || bn.OpType != "BatchNormalization" {
				continue
			}
			if err := foldBN(m, g, bn); err != nil {
				return fmt.Errorf("node %s: %w", bn, err)
			}
		}
	}
	for _, g := range graphs(m) {
		g.RemoveDead()
	}
	return nil
}

// foldBN folds one BatchNormalization if the pattern holds; a node that
// does not match is left as it is (nil error).
func foldBN(m *graph.Model, g *graph.Graph, bn *graph.Node) error {
	if len(bn.Inputs) != 5 || bn.Inputs[0] == nil || len(bn.Outputs) == 0 || bn.Outputs[0] == nil {
		return nil
	}
	for _, o := range bn.Outputs[1:] {
		if o != nil && (len(o.Consumers) > 0 || g.IsOutput(o)) {
			return nil // training outputs are in use
		}
	}
	if bn.AttrInt("spatial", 1) != 1 || bn.AttrInt("training_mode", 0) != 0 {
		return nil
	}
	x := bn.Inputs[0]
	if channelAffineTarget(g, x) == nil {
		return nil
	}
	var params [4][]float64
	for i := range params {
		v, ok := floatConst(m, bn.Inputs[i+1])
		if !ok {
			return nil
		}
		params[i] = v
	}
	c := len(params[0])
	for _, v := range params {
		if len(v) != c {
			return nil
		}
	}
	eps := float64(bn.AttrFloat("epsilon", 1e-5))
	scale, shift := make([]float64, c), make([]float64, c)
	for i := range scale {
		scale[i] = params[0][i] / math.Sqrt(params[3][i]+eps)
		shift[i] = params[1][i] - scale[i]*params[2][i]
	}
	_, err := foldChannelAffine(m, g, x, bn, scale, shift, "_bn")
	return err
}

// channelAffineTarget returns the Conv, ConvTranspose or Gemm producing x
// when x has no other reader, so that a per-channel affine map of x can be
// folded into it; nil otherwise.
func channelAffineTarget(g *graph.Graph, x *graph.Value) *graph.Node {
	p := x.Producer
	if p == nil || p.Graph != g || !isDefault(p) || len(x.Consumers) != 1 || g.IsOutput(x) {
		return nil
	}
	if p.OpType != "Conv" && p.OpType != "ConvTranspose" && p.OpType != "Gemm" {
		return nil
	}
	return p
}

// foldChannelAffine folds y = scale*x + shift per output channel, computed
// by node n from x, into the Conv, ConvTranspose or Gemm producing x (see
// channelAffineTarget), with new initializers named after it plus tag, and
// removes n. It reports whether it folded.
func foldChannelAffine(m *graph.Model, g *graph.Graph, x *graph.Value, n *graph.Node, scale, shift []float64, tag string) (bool, error) {
	p := channelAffineTarget(g, x)
	if p == nil {
		return false, nil
	}
	c := len(scale)
	if len(p.Inputs) < 2 || p.Inputs[1] == nil {
		return false, nil
	}
	wt, ok := floatTensor(m, p.Inputs[1])
	if !ok {
		return false, nil
	}
	var bias *tensor.Tensor // the new bias (Conv, ConvTranspose) or C (Gemm)
	switch p.OpType {
	case "Conv", "ConvTranspose":
		if !scaleConvWeight(p, wt, scale) {
			return false, nil
		}
		b := make([]float64, c)
		if len(p.Inputs) > 2 && p.Inputs[2] != nil {
			old, ok := floatConst(m, p.Inputs[2])
			if !ok || len(old) != c {
				return false, nil
			}
			copy(b, old)
		}
		out := make([]float32, c)
		for i := range out {
			out[i] = float32(scale[i]*b[i] + shift[i])
		}
		bias = tensor.FromFloat32(out, c)
	case "Gemm":
		var ok bool
		if bias, ok = foldGemm(m, p, wt, scale, shift); !ok {
			return false, nil
		}
	}
	wp, err := onnxio.FromTensor("", wt)
	if err != nil {
		return false, err
	}
	bp, err := onnxio.FromTensor("", bias)
	if err != nil {
		return false, err
	}
	base := p.Name
	if base == "" {
		base = p.OpType
	}
	w := g.AddInitializer(base+tag+"_weight", wp)
	b := g.AddInitializer(base+tag+"_bias", bp)
	p.SetInput(1, w)
	for len(p.Inputs) < 3 {
		p.Inputs = append(p.Inputs, nil)
	}
	p.SetInput(2, b)
	y := n.Outputs[0]
	g.RemoveNode(n)
	return true, g.Merge(x, y)
}

// scaleConvWeight multiplies w in place by scale along the output channels:
// axis 0 for Conv ([M, C/g, ...]); for ConvTranspose ([C, M/g, ...]) the
// output channel of w[c, j] is (c / (C/g))*(M/g) + j.
func scaleConvWeight(p *graph.Node, w *tensor.Tensor, scale []float64) bool {
	if w.Rank() < 3 {
		return false
	}
	d := w.Float32()
	inner := w.Len() / (w.Shape[0] * w.Shape[1])
	if p.OpType == "Conv" {
		if w.Shape[0] != len(scale) {
			return false
		}
		per := w.Len() / w.Shape[0]
		for m := range scale {
			for i := m * per; i < (m+1)*per; i++ {
				d[i] = float32(float64(d[i]) * scale[m])
			}
		}
		return true
	}
	group := int(p.AttrInt("group", 1))
	if group < 1 || w.Shape[0]%group != 0 || w.Shape[1]*group != len(scale) {
		return false
	}
	cPer, mPer := w.Shape[0]/group, w.Shape[1]
	for ci := 0; ci < w.Shape[0]; ci++ {
		for j := 0; j < mPer; j++ {
			s := scale[(ci/cPer)*mPer+j]
			row := (ci*mPer + j) * inner
			for i := row; i < row+inner; i++ {
				d[i] = float32(float64(d[i]) * s)
			}
		}
	}
	return true
}

// foldGemm scales B's output columns (rows when transB) and returns the new
// C: Y = alpha*A*B' + beta*C, so C' = s*C + shift/beta.
func foldGemm(m *graph.Model, p *graph.Node, w *tensor.Tensor, scale, shift []float64) (*tensor.Tensor, bool) {
	if w.Rank() != 2 {
		return nil, false
	}
	n := len(scale)
	d := w.Float32()
	if p.AttrInt("transB", 0) != 0 {
		if w.Shape[0] != n {
			return nil, false
		}
		for j := 0; j < n; j++ {
			for k := 0; k < w.Shape[1]; k++ {
				d[j*w.Shape[1]+k] = float32(float64(d[j*w.Shape[1]+k]) * scale[j])
			}
		}
	} else {
		if w.Shape[1] != n {
			return nil, false
		}
		for k := 0; k < w.Shape[0]; k++ {
			for j := 0; j < n; j++ {
				d[k*n+j] = float32(float64(d[k*n+j]) * scale[j])
			}
		}
	}
	beta := float64(p.AttrFloat("beta", 1))
	if beta == 0 {
		beta = 1
		setAttr(p, graph.FloatAttr("beta", 1))
		if len(p.Inputs) > 2 && p.Inputs[2] != nil {
			p.SetInput(2, nil)
		}
	}
	cval := make([]float64, n)
	shape := []int{n}
	if len(p.Inputs) > 2 && p.Inputs[2] != nil {
		old, ok := floatTensor(m, p.Inputs[2])
		if !ok {
			return nil, false
		}
		od := old.Float32()
		switch {
		case len(od) == 1:
			for j := range cval {
				cval[j] = float64(od[0])
			}
		case old.Rank() >= 1 && old.Shape[old.Rank()-1] == n:
			cval = make([]float64, len(od))
			for i, v := range od {
				cval[i] = float64(v)
			}
			shape = old.Shape
		default:
			return nil, false // C broadcasts along the columns
		}
	}
	out := make([]float32, len(cval))
	for i, v := range cval {
		j := i % n
		out[i] = float32(scale[j]*v + shift[j]/beta)
	}
	return tensor.FromFloat32(out, shape...), true
}

// floatTensor returns a copy of a float32 constant (ToTensor's result
// shares nothing with the proto).
func floatTensor(m *graph.Model, v *graph.Value) (*tensor.Tensor, bool) {
	tp := constant(m, v)
	if tp == nil || tp.GetDataType() != int32(tensor.Float) {
		return nil, false
	}
	t, err := onnxio.ToTensor(tp)
	if err != nil {
		return nil, false
	}
	return t, true
}

// floatConst returns a float32 or float64 constant as float64s.
func floatConst(m *graph.Model, v *graph.Value) ([]float64, bool) {
	tp := constant(m, v)
	if tp == nil {
		return nil, false
	}
	t, err := onnxio.ToTensor(tp)
	if err != nil {
		return nil, false
	}
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out, true
	case []float64:
		return append([]float64(nil), d...), true
	}
	return nil, false
}

// setAttr adds or replaces an attribute without writing into the attribute
// slice of the model that was read (graph.Node.SetAttr would).
func setAttr(n *graph.Node, a *onnx.AttributeProto) {
	attrs := make([]*onnx.AttributeProto, 0, len(n.Attrs)+1)
	for _, old := range n.Attrs {
		if old.GetName() != a.GetName() {
			attrs = append(attrs, old)
		}
	}
	n.Attrs = append(attrs, a)
}

// dropAttrs removes attributes without writing into the slice read.
func dropAttrs(n *graph.Node, names ...string) {
	attrs := make([]*onnx.AttributeProto, 0, len(n.Attrs))
	for _, a := range n.Attrs {
		drop := false
		for _, name := range names {
			drop = drop || a.GetName() == name
		}
		if !drop {
			attrs = append(attrs, a)
		}
	}
	n.Attrs = attrs
}
