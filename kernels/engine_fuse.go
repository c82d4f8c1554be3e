package kernels

import (
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Activation fusion (Options.Fuse) folds a Relu or a constant-bound Clip into
// the Conv or Gemm that feeds it, so the activation runs in the GEMM's
// epilogue instead of as a separate pass over memory. The fused step
// produces the activation's output under its own name; the pre-activation
// tensor is never materialised, so a hook cannot see it. Calibration
// observes exactly that tensor, which is why fusion is opt-in.

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
