package rewrite

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// minUpgradeOpset is the oldest opset UpgradeOpset converts from: opset 7
// brought numpy broadcasting, and earlier models are rare.
const minUpgradeOpset = 7

// unchangedOps are default-domain operators whose versions from 7 to 21
// differ only in accepted types, negative axes, or new attributes and
// optional inputs whose defaults keep the old behaviour, so a node is
// valid unchanged at any of these opsets.
var unchangedOps = setOf(
	"Abs", "Acos", "AffineGrid", "CenterCropPad", "ImageDecoder", "RegexFullMatch", "StringConcat", "StringSplit", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
	"AveragePool", "Bernoulli", "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor",
	"BlackmanWindow", "Cast", "CastLike", "Ceil", "Celu", "Col2Im", "Compress", "Concat",
	"ConcatFromSequence", "Constant", "ConstantOfShape", "Conv", "ConvInteger", "ConvTranspose",
	"Cos", "Cosh", "CumSum", "DepthToSpace", "DequantizeLinear", "Det", "Div", "DynamicQuantizeLinear",
	"Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "GRU", "Gather",
	"GatherElements", "GatherND", "Gelu", "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool",
	"Greater", "GreaterOrEqual", "HammingWindow", "HannWindow", "HardSigmoid", "HardSwish", "Identity",
	"If", "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LayerNormalization", "LeakyRelu",
	"Less", "LessOrEqual", "Log", "Loop", "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max",
	"MaxPool", "MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization", "MelWeightMatrix", "Min",
	"Mish", "Mod", "Mul", "Multinomial", "Neg", "NonMaxSuppression", "NonZero", "Not", "OneHot",
	"Optional", "OptionalGetElement", "OptionalHasElement", "Or", "PRelu", "Pow", "QLinearConv",
	"QLinearMatMul", "QuantizeLinear", "RNN", "RandomNormal", "RandomNormalLike", "RandomUniform",
	"RandomUniformLike", "Range", "Reciprocal", "Relu", "Reshape", "ReverseSequence", "Round",
	"STFT", "ScatterElements", "ScatterND", "Selu", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
	"SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap", "Shape", "Shrink", "Sigmoid",
	"Sign", "Sin", "Sinh", "Size", "Softplus", "Softsign", "SpaceToDepth", "SplitToSequence", "Sqrt",
	"StringNormalizer", "Sub", "Sum", "Tan", "Tanh", "TfIdfVectorizer", "ThresholdedRelu", "Tile",
	"Transpose", "Trilu", "Unique", "Where", "Xor",
)

// changedAt lists operators whose meaning changed at the given versions in
// a way UpgradeOpset does not convert: crossing one is refused.
var changedAt = map[string][]int{
	"Scan":               {9},  // the batch axis went away
	"RoiAlign":           {16}, // coordinate_transformation_mode defaults to half_pixel
	"GridSample":         {20}, // mode names changed
	"DFT":                {20}, // axis became an input
	"GroupNormalization": {21}, // scale and bias became per channel
}

// upgraders convert a node from the semantics of opset from to those of
// opset to (from < to) for operators whose attributes became inputs or
// whose defaults changed.
var upgraders = map[string]func(n *graph.Node, from, to int) error{
	"BatchNormalization": upgradeBatchNorm,
	"Clip":               upgradeClip,
	"Pad":                upgradePad,
	"Slice":              attrsToInputs(10, "starts", "ends", "axes"),
	"Squeeze":            attrsToInputs(13, "axes"),
	"Unsqueeze":          attrsToInputs(13, "axes"),
	"Split":              upgradeSplit,
	"ReduceSum":          attrsToInputs(13, "axes"),
	"ReduceMean":         attrsToInputs(18, "axes"),
	"ReduceMax":          attrsToInputs(18, "axes"),
	"ReduceMin":          attrsToInputs(18, "axes"),
	"ReduceProd":         attrsToInputs(18, "axes"),
	"ReduceL1":           attrsToInputs(18, "axes"),
	"ReduceL2":           attrsToInputs(18, "axes"),
	"ReduceLogSum":       attrsToInputs(18, "axes"),
	"ReduceLogSumExp":    attrsToInputs(18, "axes"),
	"ReduceSumSquare":    attrsToInputs(18, "axes"),
	"Softmax":            upgradeSoftmax,
	"LogSoftmax":         upgradeSoftmax,
	"Hardmax":            upgradeSoftmax,
	"Upsample":           upgradeUpsample,
	"Resize":             upgradeResize,
	"Dropout":            upgradeDropout,
	"TopK":               attrsToInputs(10, "k"),
	"Scatter":            upgradeScatter,
}

func setOf(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// minIRVersion is the IR version an opset needs (onnx/helper.py's table).
func minIRVersion(opset int) int64 {
	switch {
	case opset >= 23:
		return 11
	case opset >= 21:
		return 10
	case opset >= 19:
		return 9
	case opset >= 15:
		return 8
	case opset >= 12:
		return 7
	case opset >= 11:
		return 6
	case opset >= 10:
		return 5
	case opset >= 9:
		return 4
	}
	return 3
}

// UpgradeOpset raises the default-domain opset of m to target, converting
// every node (in every graph) whose operator changed meaning between the
// model's opset and target: attributes that became inputs (Clip, Pad,
// Slice, Squeeze, Unsqueeze, Split, Reduce*, TopK, Dropout), Softmax's
// coercion to 2-D before opset 13, Upsample and Resize-10 to Resize with
// asymmetric coordinates, Scatter to ScatterElements. An operator neither
// known unchanged nor convertible is an error naming the node, and the
// model is then left as it was. The IR version is raised when the target
// opset needs a newer one. A model already at target or later is left alone.
func UpgradeOpset(m *graph.Model, target int) error {
	from := m.Opset("")
	if from >= target {
		return nil
	}
	if from < minUpgradeOpset {
		return fmt.Errorf("cannot upgrade from opset %d: the oldest opset supported is %d", from, minUpgradeOpset)
	}
	// Check every node before changing any, so a refusal leaves the model whole.
	var todo []*graph.Node
	for _, g := range graphs(m) {
		for _, n := range g.Nodes {
			if !isDefault(n) {
				continue
			}
			if upgraders[n.OpType] != nil {
				todo = append(todo, n)
				continue
			}
			if unchangedOps[n.OpType] {
				continue
			}
			vs, ok := changedAt[n.OpType]
			if !ok {
				return fmt.Errorf("cannot upgrade node %s from opset %d to %d: operator %s is not known to the upgrader", n, from, target, n.OpType)
			}
			for _, v := range vs {
				if from < v && v <= target {
					return fmt.Errorf("cannot upgrade node %s from opset %d to %d: %s changed meaning at opset %d", n, from, target, n.OpType, v)
				}
			}
		}
	}
	for _, n := range todo {
		if err := upgraders[n.OpType](n, from, target); err != nil {
			return fmt.Errorf("cannot upgrade node %s (%s) from opset %d to %d: %w", n, n.OpType, from, target, err)
		}
	}
	m.SetOpset("", target)
	if need := minIRVersion(target); m.Proto.GetIrVersion() < need {
		m.Proto.IrVersion = &need
	}
	return nil
}

// crosses reports whether an upgrade from -> to passes version v.
func crosses(from, to, v int) bool { return from < v && v <= to }

// addInput appends v (nil for absent) as the next input of n.
func addInput(n *graph.Node, v *graph.Value) {
	n.Inputs = append(n.Inputs, nil)
	if v != nil {
		n.SetInput(len(n.Inputs)-1, v)
	}
}

// setInputAt sets input i of n, padding with absent inputs.
func setInputAt(n *graph.Node, i int, v *graph.Value) {
	for len(n.Inputs) <= i {
		n.Inputs = append(n.Inputs, nil)
	}
	n.SetInput(i, v)
}

func constInit(n *graph.Node, suffix string, t *tensor.Tensor) (*graph.Value, error) {
	tp, err := onnxio.FromTensor("", t)
	if err != nil {
		return nil, err
	}
	base := n.Name
	if base == "" {
		base = n.OpType
	}
	return n.Graph.AddInitializer(base+"_"+suffix, tp), nil
}

// attrsToInputs moves INTS attributes, in order, to int64 inputs 1, 2, ...
// at opset since; absent attributes become absent inputs (trailing ones are
// dropped).
func attrsToInputs(since int, names ...string) func(n *graph.Node, from, to int) error {
	return func(n *graph.Node, from, to int) error {
		if !crosses(from, to, since) {
			return nil
		}
		if len(n.Inputs) != 1 {
			return fmt.Errorf("expected 1 input before opset %d, found %d", since, len(n.Inputs))
		}
		var vals []*graph.Value
		for _, name := range names {
			a := n.Attr(name)
			if a == nil {
				vals = append(vals, nil)
				continue
			}
			var data []int64
			if a.GetType() == onnx.AttributeProto_INT {
				data = []int64{a.GetI()}
			} else {
				data = append([]int64(nil), a.GetInts()...)
			}
			v, err := constInit(n, name, tensor.FromInt64(data, len(data)))
			if err != nil {
				return err
			}
			vals = append(vals, v)
		}
		for len(vals) > 0 && vals[len(vals)-1] == nil {
			vals = vals[:len(vals)-1]
		}
		for _, v := range vals {
			addInput(n, v)
		}
		dropAttrs(n, names...)
		return nil
	}
}

func upgradeBatchNorm(n *graph.Node, from, to int) error {
	if crosses(from, to, 9) {
		if n.AttrInt("spatial", 1) != 1 {
			return fmt.Errorf("spatial=0 (per-activation statistics) has no equivalent after opset 8")
		}
		dropAttrs(n, "spatial")
	}
	if crosses(from, to, 14) {
		for _, o := range n.Outputs[1:] {
			if o != nil && (len(o.Consumers) > 0 || n.Graph.IsOutput(o)) {
				return fmt.Errorf("training outputs (%q) are in use", o.Name)
			}
		}
		for _, o := range n.Outputs[1:] {
			if o != nil {
				o.Producer = nil
			}
		}
		n.Outputs = n.Outputs[:1]
	}
	return nil
}

// floatInputType is the element type of n's first input when known, else
// float32 (what exporters almost always produce).
func floatInputType(n *graph.Node) tensor.DType {
	if v := n.Inputs[0]; v != nil && v.Type != nil && v.Type.GetTensorType() != nil {
		if et := v.Type.GetTensorType().GetElemType(); et != 0 {
			return tensor.DType(et)
		}
	}
	return tensor.Float
}

func scalarOf(dt tensor.DType, x float64) (*tensor.Tensor, error) {
	switch dt {
	case tensor.Float:
		return tensor.FromFloat32([]float32{float32(x)}), nil
	case tensor.Double:
		return &tensor.Tensor{DType: tensor.Double, Shape: []int{}, Data: []float64{x}}, nil
	case tensor.Float16:
		return &tensor.Tensor{DType: tensor.Float16, Shape: []int{}, Data: []uint16{tensor.Float32ToFloat16(float32(x))}}, nil
	}
	return nil, fmt.Errorf("element type %v is not supported", dt)
}

func upgradeClip(n *graph.Node, from, to int) error {
	if !crosses(from, to, 11) {
		return nil
	}
	dt := floatInputType(n)
	for i, name := range []string{"min", "max"} {
		a := n.Attr(name)
		if a == nil {
			continue
		}
		t, err := scalarOf(dt, float64(a.GetF()))
		if err != nil {
			return err
		}
		v, err := constInit(n, name, t)
		if err != nil {
			return err
		}
		setInputAt(n, i+1, v)
	}
	dropAttrs(n, "min", "max")
	return nil
}

func upgradePad(n *graph.Node, from, to int) error {
	if !crosses(from, to, 11) {
		return nil
	}
	pads := n.AttrInts("pads", nil)
	if pads == nil {
		return fmt.Errorf("no pads attribute")
	}
	pv, err := constInit(n, "pads", tensor.FromInt64(append([]int64(nil), pads...), len(pads)))
	if err != nil {
		return err
	}
	setInputAt(n, 1, pv)
	if val := n.AttrFloat("value", 0); val != 0 {
		t, err := scalarOf(floatInputType(n), float64(val))
		if err != nil {
			return err
		}
		cv, err := constInit(n, "value", t)
		if err != nil {
			return err
		}
		setInputAt(n, 2, cv)
	}
	dropAttrs(n, "pads", "value")
	return nil
}

func upgradeSplit(n *graph.Node, from, to int) error {
	if err := attrsToInputs(13, "split")(n, from, to); err != nil {
		return err
	}
	if crosses(from, to, 18) && (len(n.Inputs) < 2 || n.Inputs[1] == nil) && n.Attr("num_outputs") == nil {
		setAttr(n, graph.IntAttr("num_outputs", int64(len(n.Outputs))))
	}
	return nil
}

// upgradeSoftmax handles the change at opset 13: before it, Softmax,
// LogSoftmax and Hardmax flattened the input to 2-D at axis (default 1)
// and normalised over all the trailing dimensions; from 13 they work along
// axis alone (default -1). When axis is the last dimension the two agree;
// otherwise the old behaviour is spelled out as Flatten -> op(axis=-1) ->
// Reshape back to the input's shape.
func upgradeSoftmax(n *graph.Node, from, to int) error {
	if !crosses(from, to, 13) {
		return nil
	}
	axis := n.AttrInt("axis", 1)
	rank := rankOf(n.Inputs[0], map[*graph.Value]int{})
	if axis == -1 || (rank >= 0 && (axis == int64(rank-1) || axis+int64(rank) == int64(rank-1))) {
		setAttr(n, graph.IntAttr("axis", -1))
		return nil
	}
	g := n.Graph
	x, y := n.Inputs[0], n.Outputs[0]
	flat := g.AddNode("Flatten", "", []*graph.Value{x}, []string{x.Name + "_2d"}, graph.IntAttr("axis", axis))
	shape := g.AddNode("Shape", "", []*graph.Value{x}, []string{x.Name + "_shape"})
	n.SetInput(0, flat.Outputs[0])
	setAttr(n, graph.IntAttr("axis", -1))
	// The op now produces a 2-D value; a Reshape produces y under its name.
	y2d, err := y.Detach(y.Name + "_2d")
	if err != nil {
		return err
	}
	if _, err := g.AddNodeProducing("Reshape", "", []*graph.Value{y2d, shape.Outputs[0]}, []*graph.Value{y}); err != nil {
		return err
	}
	y2d.Type = nil
	y.Type = x.Type
	return g.Sort()
}

func upgradeUpsample(n *graph.Node, from, to int) error {
	if to < 10 {
		return nil
	}
	mode := n.AttrString("mode", "nearest")
	if mode == "bilinear" {
		mode = "linear"
	}
	if mode != "nearest" && mode != "linear" {
		return fmt.Errorf("mode %q", mode)
	}
	if a := n.Attr("scales"); a != nil { // Upsample-7
		s := append([]float32(nil), a.GetFloats()...)
		v, err := constInit(n, "scales", tensor.FromFloat32(s, len(s)))
		if err != nil {
			return err
		}
		setInputAt(n, 1, v)
	}
	if len(n.Inputs) != 2 || n.Inputs[1] == nil {
		return fmt.Errorf("no scales")
	}
	n.OpType = "Resize"
	n.Attrs = []*onnx.AttributeProto{graph.StringAttr("mode", mode)}
	// Upsample picks the input pixel floor(i/scale): asymmetric coordinates,
	// rounding down (its scales are >= 1).
	return resizeTo11(n, from, to, "floor")
}

func upgradeResize(n *graph.Node, from, to int) error {
	if !crosses(from, to, 11) {
		return nil
	}
	nearest := "floor"
	if n.AttrString("mode", "nearest") == "nearest" && len(n.Inputs) > 1 {
		if s, ok := initFloats(n.Inputs[1]); ok {
			// Resize-10 (as ONNX Runtime runs it) rounds down when
			// enlarging an axis and up when shrinking it.
			up, down := false, false
			for _, x := range s {
				up = up || x > 1
				down = down || x < 1
			}
			if up && down {
				return fmt.Errorf("nearest mode with scales %v both enlarging and shrinking", s)
			}
			if down {
				nearest = "ceil"
			}
		}
	}
	return resizeTo11(n, 10, to, nearest)
}

// resizeTo11 turns Resize-10 inputs (X, scales) into Resize-11 ones (X, roi,
// scales) and pins the coordinate mapping Resize-10 had.
func resizeTo11(n *graph.Node, from, to int, nearest string) error {
	if to < 11 {
		return nil
	}
	scales := n.Inputs[1]
	roi, err := constInit(n, "roi", tensor.FromFloat32(nil, 0))
	if err != nil {
		return err
	}
	n.SetInput(1, roi)
	setInputAt(n, 2, scales)
	setAttr(n, graph.StringAttr("coordinate_transformation_mode", "asymmetric"))
	if n.AttrString("mode", "nearest") == "nearest" {
		setAttr(n, graph.StringAttr("nearest_mode", nearest))
	}
	return nil
}

func upgradeDropout(n *graph.Node, from, to int) error {
	dropAttrs(n, "is_test")
	if !crosses(from, to, 12) {
		return nil
	}
	if a := n.Attr("ratio"); a != nil {
		t, err := scalarOf(floatInputType(n), float64(a.GetF()))
		if err != nil {
			return err
		}
		v, err := constInit(n, "ratio", t)
		if err != nil {
			return err
		}
		setInputAt(n, 1, v)
		dropAttrs(n, "ratio")
	}
	return nil
}

func upgradeScatter(n *graph.Node, from, to int) error {
	if to >= 11 {
		n.OpType = "ScatterElements"
	}
	return nil
}

// initFloats reads a float initializer (overridable or not: it only picks
// the rounding that matches the model's own scales).
func initFloats(v *graph.Value) ([]float32, bool) {
	if v == nil || v.Initializer == nil {
		return nil, false
	}
	t, err := onnxio.ToTensor(v.Initializer)
	if err != nil {
		return nil, false
	}
	f, ok := t.Data.([]float32)
	return f, ok
}
