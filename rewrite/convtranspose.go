package rewrite

import (
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Names of the passes in this file, in Prepare's list.
const (
	PassFoldBiasAdd     = "fold-bias-add"
	PassConvTranspose   = "convtranspose-to-conv"
	minDepthToSpaceMode = 11 // DepthToSpace's mode attribute (CRD) arrived in opset 11
)

// FoldBiasAdd folds an Add of a per-channel (or scalar) constant into the
// bias of the Conv or ConvTranspose before it, when nothing else reads the
// convolution's output. Paddle exports its ConvTranspose bias this way; an
// Add between a convolution and its BatchNormalization keeps the
// normalization from folding, and the quantized Add costs a requantization.
func FoldBiasAdd(m *graph.Model) error {
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if err := foldBiasAdd(m, g, n); err != nil {
				return err
			}
		}
		g.RemoveDead()
	}
	return nil
}

func foldBiasAdd(m *graph.Model, g *graph.Graph, add *graph.Node) error {
	if add.OpType != "Add" || !isDefault(add) || len(add.Inputs) != 2 || len(add.Outputs) != 1 || add.Outputs[0] == nil {
		return nil
	}
	for k := 0; k < 2; k++ {
		x, cv := add.Inputs[k], add.Inputs[1-k]
		if x == nil || cv == nil {
			continue
		}
		p := x.Producer
		if p == nil || p.Graph != g || !isDefault(p) || (p.OpType != "Conv" && p.OpType != "ConvTranspose") ||
			len(x.Consumers) != 1 || g.IsOutput(x) || len(p.Inputs) < 2 || p.Inputs[1] == nil {
			continue
		}
		c, ok := floatTensor(m, cv)
		if !ok {
			continue
		}
		wt := constant(m, p.Inputs[1])
		if wt == nil {
			continue
		}
		rank := len(wt.GetDims())
		channels := int(wt.GetDims()[0])
		if p.OpType == "ConvTranspose" {
			channels = int(wt.GetDims()[1] * p.AttrInt("group", 1))
		}
		per, ok := channelValues(c, rank, channels)
		if !ok {
			continue
		}
		b := make([]float32, channels)
		if len(p.Inputs) > 2 && p.Inputs[2] != nil {
			old, ok := floatConst(m, p.Inputs[2])
			if !ok || len(old) != channels {
				continue
			}
			for i, v := range old {
				b[i] = float32(v)
			}
		}
		for i := range b {
			b[i] += per[i]
		}
		bp, err := onnxio.FromTensor("", tensor.FromFloat32(b, channels))
		if err != nil {
			return err
		}
		base := p.Name
		if base == "" {
			base = p.OpType
		}
		for len(p.Inputs) < 3 {
			p.Inputs = append(p.Inputs, nil)
		}
		p.SetInput(2, g.AddInitializer(base+"_bias", bp))
		y := add.Outputs[0]
		g.RemoveNode(add)
		return g.Merge(x, y)
	}
	return nil
}

// channelValues returns, per output channel, the value of a constant added
// to a convolution output of the given rank, when the constant is the same
// along every axis but the channel axis (1) and does not broadcast the
// output to a larger shape.
func channelValues(c *tensor.Tensor, rank, channels int) ([]float32, bool) {
	if c.Rank() > rank || channels <= 0 {
		return nil, false
	}
	along := -1 // the constant's axis aligned with the channel axis
	for i, d := range c.Shape {
		j := i + rank - c.Rank()
		switch {
		case d == 1:
		case j == 1 && d == channels:
			along = i
		default:
			return nil, false
		}
	}
	d := c.Float32()
	out := make([]float32, channels)
	for i := range out {
		if along < 0 {
			out[i] = d[0]
		} else {
			out[i] = d[i]
		}
	}
	return out, true
}

// ConvTransposeToConv rewrites a 2-D ConvTranspose whose kernel equals its
// stride (no padding, dilation or output padding, one group), the usual
// learned 2x upsampling, as a 1x1 Conv with k*k times the output channels
// followed by DepthToSpace (CRD): each input pixel writes its own k x k
// output block, so the two compute the same thing. ONNX Runtime has no
// quantized ConvTranspose; the 1x1 Conv runs as QLinearConv. An elementwise
// activation reading only the result moves before the DepthToSpace, where
// quantization folds it (Relu) or fuses it (Sigmoid) with the Conv.
func ConvTransposeToConv(m *graph.Model) error {
	if m.Opset("") < minDepthToSpaceMode {
		return nil
	}
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if err := convTransposeToConv(m, g, n); err != nil {
				return err
			}
		}
		g.RemoveDead()
	}
	return nil
}

func convTransposeToConv(m *graph.Model, g *graph.Graph, n *graph.Node) error {
	if n.OpType != "ConvTranspose" || !isDefault(n) || len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[1] == nil ||
		len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return nil
	}
	w, ok := floatTensor(m, n.Inputs[1])
	if !ok || w.Rank() != 4 || w.Shape[2] != w.Shape[3] {
		return nil
	}
	k := w.Shape[2]
	if k < 2 || n.AttrInt("group", 1) != 1 || n.Attr("output_shape") != nil {
		return nil
	}
	// Absent strides are 1, not k.
	st := n.AttrInts("strides", nil)
	if st == nil || !allEqual(st, int64(k), 2) || !allEqual(n.AttrInts("dilations", nil), 1, 2) ||
		!allEqual(n.AttrInts("pads", nil), 0, 4) || !allEqual(n.AttrInts("output_padding", nil), 0, 2) {
		return nil
	}
	if ks := n.AttrInts("kernel_shape", nil); ks != nil && !allEqual(ks, int64(k), 2) {
		return nil
	}
	switch n.AttrString("auto_pad", "NOTSET") {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER": // k == stride: every mode pads nothing
	default:
		return nil
	}
	cin, cout := w.Shape[0], w.Shape[1]
	src := w.Float32()
	dst := make([]float32, len(src))
	// w[c, m, a, b] -> w'[(a*k + b)*M + m, c, 0, 0], the DCR order
	for c := 0; c < cin; c++ {
		for o := 0; o < cout; o++ {
			for ab := 0; ab < k*k; ab++ {
				dst[(ab*cout+o)*cin+c] = src[(c*cout+o)*k*k+ab]
			}
		}
	}
	var bias []float32
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		old, ok := floatConst(m, n.Inputs[2])
		if !ok || len(old) != cout {
			return nil
		}
		bias = make([]float32, cout*k*k)
		for i := range bias {
			bias[i] = float32(old[i%cout])
		}
	}
	wp, err := onnxio.FromTensor("", tensor.FromFloat32(dst, cout*k*k, cin, 1, 1))
	if err != nil {
		return err
	}
	base := n.Name
	if base == "" {
		base = n.OpType
	}
	inputs := []*graph.Value{n.Inputs[0], g.AddInitializer(base+"_conv_weight", wp)}
	if bias != nil {
		bp, err := onnxio.FromTensor("", tensor.FromFloat32(bias, len(bias)))
		if err != nil {
			return err
		}
		inputs = append(inputs, g.AddInitializer(base+"_conv_bias", bp))
	}
	y := n.Outputs[0]
	g.RemoveNode(n)
	conv := g.AddNode("Conv", "", inputs, []string{y.Name + "_blocks"},
		graph.IntsAttr("kernel_shape", []int64{1, 1}), graph.IntsAttr("strides", []int64{1, 1}),
		graph.IntsAttr("pads", []int64{0, 0, 0, 0}), graph.IntsAttr("dilations", []int64{1, 1}), graph.IntAttr("group", 1))
	conv.Name = g.UniqueName(base)
	z := conv.Outputs[0]
	// Move an elementwise activation that alone reads y before the
	// DepthToSpace: it then reads z, and the DepthToSpace produces what
	// it produced.
	if len(y.Consumers) == 1 && !g.IsOutput(y) {
		if u := y.Consumers[0]; elementwiseUnary(m, u) && u.Graph == g {
			o := u.Outputs[0]
			moved, err := o.Detach(g.UniqueName(o.Name + "_blocks"))
			if err != nil {
				return err
			}
			moved.Type = elemTypeOnly(o.Type) // o's shape is the upsampled one
			u.SetInput(0, z)
			z, y = moved, o
		}
	}
	d2s := []*graph.Value{z}
	_, err = g.AddNodeProducing("DepthToSpace", "", d2s, []*graph.Value{y},
		graph.IntAttr("blocksize", int64(k)), graph.StringAttr("mode", "DCR"))
	return err
}

// elementwiseUnary reports whether n applies a function to each element of
// its one data input alone, so that it commutes with any permutation.
func elementwiseUnary(m *graph.Model, n *graph.Node) bool {
	if !isDefault(n) || len(n.Outputs) != 1 || n.Outputs[0] == nil || len(n.Inputs) == 0 {
		return false
	}
	switch n.OpType {
	case "Relu", "Sigmoid", "HardSigmoid", "LeakyRelu", "Tanh", "HardSwish":
		return len(n.Inputs) == 1
	case "Clip":
		for _, v := range n.Inputs[1:] {
			if v != nil && constant(m, v) == nil {
				return false
			}
		}
		return true
	}
	return false
}

// allEqual reports whether xs is absent or holds want n times.
func allEqual(xs []int64, want int64, n int) bool {
	if xs == nil {
		return true
	}
	if len(xs) != n {
		return false
	}
	for _, x := range xs {
		if x != want {
			return false
		}
	}
	return true
}

// elemTypeOnly returns a tensor type with t's element type and no shape,
// for a value whose shape a rewrite changed.
func elemTypeOnly(t *onnx.TypeProto) *onnx.TypeProto {
	tt := t.GetTensorType()
	if tt == nil {
		return nil
	}
	et := tt.GetElemType()
	return &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: &et}}}
}
