package rewrite

import (
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
)

// rankOf returns the rank of v when it follows from declared types,
// initializers and a few rank rules for common operators, or -1. It lets
// the opset upgrade tell that a pre-13 Softmax works on the last axis
// (and so needs no Flatten/Reshape) in models that carry no value_info.
// Only rules that hold for every valid model are used: an unknown stays
// unknown.
func rankOf(v *graph.Value, memo map[*graph.Value]int) int {
	if v == nil {
		return -1
	}
	if r, ok := memo[v]; ok {
		return r
	}
	memo[v] = -1 // cycles through subgraph boundaries stay unknown
	r := rankRule(v, memo)
	memo[v] = r
	return r
}

func rankRule(v *graph.Value, memo map[*graph.Value]int) int {
	if v.Type != nil && v.Type.GetTensorType() != nil && v.Type.GetTensorType().GetShape() != nil {
		return len(v.Type.GetTensorType().GetShape().GetDim())
	}
	if v.Initializer != nil {
		return len(v.Initializer.GetDims())
	}
	n := v.Producer
	if n == nil || !isDefault(n) || len(n.Inputs) == 0 || n.Outputs[0] != v {
		return -1
	}
	in := func(i int) int {
		if i >= len(n.Inputs) {
			return -1
		}
		return rankOf(n.Inputs[i], memo)
	}
	ints := func(i int) []int64 { // a constant int64 input, or nil
		if i >= len(n.Inputs) || n.Inputs[i] == nil || n.Inputs[i].Initializer == nil {
			return nil
		}
		t, err := onnxio.ToTensor(n.Inputs[i].Initializer)
		if err != nil {
			return nil
		}
		d, _ := t.Data.([]int64)
		return d
	}
	switch n.OpType {
	case "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip", "Cast", "Sqrt", "Exp", "Log", "Erf", "Tanh",
		"Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round", "Softmax", "LogSoftmax", "Hardmax", "Dropout",
		"Identity", "BatchNormalization", "LeakyRelu", "Elu", "Selu", "Gelu", "Softplus", "PRelu",
		"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN",
		"InstanceNormalization", "LayerNormalization", "Pad", "Slice", "Transpose", "Concat", "Resize",
		"Upsample", "Not", "IsNaN", "Sign", "CumSum":
		return in(0)
	case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less",
		"Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod":
		r := 0
		for i := range n.Inputs {
			ri := in(i)
			if ri < 0 {
				return -1
			}
			r = max(r, ri)
		}
		return r
	case "MatMul":
		a, b := in(0), in(1)
		switch {
		case a < 0 || b < 0:
			return -1
		case a == 1 && b == 1:
			return 0
		case a == 1:
			return b - 1
		case b == 1:
			return a - 1
		}
		return max(a, b)
	case "Gemm", "Flatten":
		return 2
	case "Shape", "NonZero":
		if n.OpType == "NonZero" {
			return 2
		}
		return 1
	case "Reshape":
		if s := n.Inputs[1]; s != nil && s.Initializer != nil && len(s.Initializer.GetDims()) == 1 {
			return int(s.Initializer.GetDims()[0])
		}
	case "Gather":
		if a, i := in(0), in(1); a >= 0 && i >= 0 {
			return a + i - 1
		}
	case "Unsqueeze", "Squeeze":
		axes := n.AttrInts("axes", nil)
		if axes == nil {
			axes = ints(1)
		}
		r := in(0)
		if r < 0 || (axes == nil && n.OpType == "Unsqueeze") {
			return -1
		}
		if axes == nil {
			return -1 // Squeeze of every 1: depends on the shape
		}
		if n.OpType == "Unsqueeze" {
			return r + len(axes)
		}
		return r - len(axes)
	}
	if len(n.OpType) > 6 && n.OpType[:6] == "Reduce" {
		r := in(0)
		if r < 0 {
			return -1
		}
		if n.AttrInt("keepdims", 1) != 0 {
			return r
		}
		axes := n.AttrInts("axes", nil)
		if axes == nil {
			axes = ints(1)
		}
		if axes == nil {
			if n.AttrInt("noop_with_empty_axes", 0) != 0 {
				return -1
			}
			return 0
		}
		return r - len(axes)
	}
	return -1
}
