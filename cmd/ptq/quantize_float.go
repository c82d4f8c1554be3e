package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/rewrite"
)

// maxSoftmaxStep is the coarsest quantization step a Softmax input may
// have. Softmax turns a step s on its input into a relative error of up to
// s/2 on each probability; beyond a quarter the probabilities are noise.
// A wider range than that almost always comes from an additive attention
// mask ((1-mask)·-10000, or ·finfo.min): quantized with it, every real score
// rounds to the same level and attention becomes uniform.
const maxSoftmaxStep = 0.25

// softmaxOps normalise along an axis: their input's offset does not matter
// but its resolution does.
var softmaxOps = map[string]bool{"Softmax": true, "LogSoftmax": true}

// shapeOps move values without changing them: a range dropped at a Softmax
// input is dropped up through them too, since the plan shares ranges
// across them.
var shapeOps = map[string]bool{"Flatten": true, "Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "Identity": true}

// dropWideSoftmaxInputs removes from ranges every Softmax input (and the
// tensors it is a reshaped view of) whose range is too wide for type t, so
// that those nodes stay float, and records why.
func dropWideSoftmaxInputs(m *graph.Model, ranges map[string]calibrate.Range, t quant.Type, why map[string]string) {
	levels := math.Exp2(float64(t.Bits)) - 1
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			if n.Domain != "" && n.Domain != "ai.onnx" || !softmaxOps[n.OpType] || len(n.Inputs) == 0 {
				continue
			}
			for v := n.Inputs[0]; v != nil; {
				r, ok := ranges[v.Name]
				if !ok {
					break
				}
				step := (float64(r.Hi) - float64(r.Lo)) / levels
				if step <= maxSoftmaxStep {
					break
				}
				delete(ranges, v.Name)
				why[v.Name] = fmt.Sprintf("tensor %q feeds %s over [%g, %g], too wide for %d bits (an additive attention mask?)", v.Name, n.OpType, r.Lo, r.Hi, t.Bits)
				p := v.Producer
				if p == nil || !shapeOps[p.OpType] || len(p.Inputs) == 0 {
					break
				}
				v = p.Inputs[0]
			}
		}
		return nil
	})
}

// skipReason is why a node stayed float: the plan's reason, or a more
// precise one when the tensor that reason names was given no range on
// purpose.
func skipReason(s rewrite.Skip, floatWhy map[string]string) string {
	for _, vs := range [][]*graph.Value{s.Node.Inputs, s.Node.Outputs} {
		for _, v := range vs {
			if v != nil && floatWhy[v.Name] != "" && strings.Contains(s.Reason, strconv.Quote(v.Name)) {
				return floatWhy[v.Name]
			}
		}
	}
	return s.Reason
}

// ortSoftmaxHeadroom: ONNX Runtime's QLinearSoftmax (what it fuses a
// DequantizeLinear -> Softmax -> QuantizeLinear into) scales exp(x) so that
// a row of D of them just fits a float32, then multiplies by 1/y_scale
// before dividing by the row sum. That product overflows to +Inf, and the
// output becomes 0, when 1/y_scale > D·e^5 (about 148·D): a Softmax whose
// calibrated outputs stay below 1.72/D (near-uniform rows) comes out of
// ONNX Runtime as all zeros. The output range is widened to keep the scale
// clear of that bound, with a margin for the estimate of D.
const ortSoftmaxHeadroom = 2.5

// widenSoftmaxOutputs makes every Softmax output range one that ONNX
// Runtime's fused QLinearSoftmax computes correctly: [0, 1] for signed
// types (its int8 kernel wraps instead of saturating above the range), and
// for unsigned ones an upper end of at least ortSoftmaxHeadroom/D, with D
// (the row length) estimated as 1/mean, since every row sums to 1. Without
// a histogram to give the mean, [0, 1] is used, as ONNX Runtime's own
// quantizer does.
func widenSoftmaxOutputs(m *graph.Model, ranges map[string]calibrate.Range, st *calibrate.Stats, t quant.Type) {
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			if n.Domain != "" && n.Domain != "ai.onnx" || n.OpType != "Softmax" || len(n.Outputs) == 0 || n.Outputs[0] == nil {
				continue
			}
			y := n.Outputs[0].Name
			r, ok := ranges[y]
			if !ok {
				continue
			}
			hi := float32(1)
			if !t.Signed && st != nil && st.Tensors[y] != nil && len(st.Tensors[y].Summaries) == 1 {
				if mean, ok := histMean(st.Tensors[y].Summaries[0].Hist); ok {
					hi = min(1, max(r.Hi, float32(ortSoftmaxHeadroom*mean)))
				}
			}
			ranges[y] = calibrate.Range{Lo: 0, Hi: hi}
		}
		return nil
	})
}

// histMean is the mean of the values a histogram counted, from bin centres.
func histMean(h *calibrate.Histogram) (float64, bool) {
	if h == nil {
		return 0, false
	}
	w := h.Width()
	var sum, n float64
	for j, c := range h.Counts {
		sum += (float64(h.Offset+int64(j)) + 0.5) * w * float64(c)
		n += float64(c)
	}
	if n == 0 {
		return 0, false
	}
	return sum / n, true
}

// shapeInputs lists, per operator, the inputs that say how to compute rather
// than what to compute on: shapes, sizes, scales, indices, counts. A float
// tensor flowing into one of them is shape arithmetic (a Resize's scales
// computed from Shape, an Upsample's scales at opset 9); quantizing it changes
// output shapes (1280 channels become 1281) or sizes.
var shapeInputs = map[string][]int{
	"Reshape": {1}, "Expand": {1}, "Tile": {1}, "ConstantOfShape": {0}, "Range": {0, 1, 2},
	"Slice": {1, 2, 3, 4}, "Pad": {1, 3}, "Resize": {1, 2, 3}, "Upsample": {1}, "TopK": {1},
	"OneHot": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "Split": {1}, "CenterCropPad": {1},
	"Col2Im": {1, 2}, "Trilu": {1}, "NonMaxSuppression": {2, 3, 4},
	"ReduceSum": {1}, "ReduceMean": {1}, "ReduceMax": {1}, "ReduceMin": {1}, "ReduceProd": {1},
	"ReduceL1": {1}, "ReduceL2": {1}, "ReduceLogSum": {1}, "ReduceLogSumExp": {1}, "ReduceSumSquare": {1},
}

// shapeSources end the backward walk: their outputs do not depend on the
// values of their inputs.
var shapeSources = map[string]bool{"Shape": true, "Size": true}

// dropShapeArithmetic removes from ranges every tensor computed only to feed
// a shape input (see shapeInputs), walking back from those inputs to Shape,
// Size, graph inputs and initializers, so that the nodes computing them stay
// float, and records why.
func dropShapeArithmetic(m *graph.Model, ranges map[string]calibrate.Range, why map[string]string) {
	m.Graph.Walk(func(g *graph.Graph) error {
		seen := map[*graph.Value]bool{}
		var walk func(v *graph.Value, user *graph.Node)
		walk = func(v *graph.Value, user *graph.Node) {
			if v == nil || seen[v] {
				return
			}
			seen[v] = true
			if _, ok := ranges[v.Name]; ok {
				delete(ranges, v.Name)
				why[v.Name] = fmt.Sprintf("tensor %q computes a shape, size or scale for %s %q; quantizing it would change shapes", v.Name, user.OpType, user.Name)
			}
			p := v.Producer
			if p == nil || shapeSources[p.OpType] {
				return
			}
			for _, in := range p.Inputs {
				walk(in, user)
			}
		}
		for _, n := range g.Nodes {
			if n.Domain != "" && n.Domain != "ai.onnx" {
				continue
			}
			for _, i := range shapeInputs[n.OpType] {
				if i < len(n.Inputs) {
					walk(n.Inputs[i], n)
				}
			}
		}
		return nil
	})
}

// integerNode reports whether every output of n was seen by calibration with
// a non-float type: shape arithmetic and index computations, which are not
// float nodes left unquantized and would only bury those in the summary.
func integerNode(n *graph.Node, nonFloat map[string]bool) bool {
	if len(nonFloat) == 0 || len(n.Outputs) == 0 {
		return false
	}
	for _, v := range n.Outputs {
		if v != nil && !nonFloat[v.Name] {
			return false
		}
	}
	return true
}

// quantizedOps are the operators of an already quantized model.
var quantizedOps = map[string]bool{
	"QuantizeLinear": true, "DequantizeLinear": true, "DynamicQuantizeLinear": true,
	"QLinearConv": true, "QLinearMatMul": true, "MatMulInteger": true, "ConvInteger": true,
	"QLinearAdd": true, "QLinearMul": true, "QLinearSigmoid": true, "QLinearLeakyRelu": true,
	"QLinearConcat": true, "QLinearAveragePool": true, "QLinearGlobalAveragePool": true,
	"QLinearSoftmax": true, "QLinearWhere": true, "QGemm": true, "MatMulIntegerToFloat": true,
	"DynamicQuantizeMatMul": true, "MatMulNBits": true,
}

// refuseQuantized fails on a model that already holds quantization nodes:
// quantizing it again would fold the old DequantizeLinear weights back to
// float and stack new Q/DQ pairs on the old ones (a bigger, less accurate
// model), or silently leave its QLinear nodes alone.
func refuseQuantized(m *graph.Model) error {
	var first *graph.Node
	n := 0
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, nd := range g.Nodes {
			if quantizedOps[nd.OpType] {
				if first == nil {
					first = nd
				}
				n++
			}
		}
		return nil
	})
	if n == 0 {
		return nil
	}
	return fmt.Errorf("the model is already quantized: %d quantization node(s), the first %s %q; give ptq the float model", n, first.OpType, first.Name)
}
