package rewrite

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/tensor"
)

// qweight is a weight tensor quantized per tensor, per channel or per block.
type qweight struct {
	q          []int32
	params     []quant.Params // one per channel, per block, or one in all
	shape      []int
	axis       int // -1: per tensor
	block      int // 0: not blocked
	scaleShape []int
}

// quantizeWeight quantizes w. With axis >= 0 and block == 0 each slice
// along axis gets its own parameters; with block > 0 each run of block
// elements along axis does.
func quantizeWeight(w []float32, shape []int, axis, block int, t quant.Type, symmetric bool) qweight {
	qw := qweight{shape: shape, axis: axis, block: block}
	if axis < 0 || len(shape) == 0 {
		r := minMax(w)
		qw.axis = -1
		qw.params = []quant.Params{quant.ParamsFor(r.Lo, r.Hi, t, symmetric)}
		qw.q = make([]int32, len(w))
		quant.QuantizeSlice(qw.q, w, qw.params[0], t)
		return qw
	}
	outer, c, inner := split3(shape, axis)
	groups := c
	if block > 0 {
		groups = (c + block - 1) / block
	}
	qw.scaleShape = append([]int(nil), shape...)
	if block > 0 {
		qw.scaleShape[axis] = groups
	} else {
		qw.scaleShape = []int{c}
	}
	nparams := groups
	if block > 0 {
		nparams = outer * groups * inner
	}
	lo := make([]float32, nparams)
	hi := make([]float32, nparams)
	for i := range lo {
		lo[i], hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	idx := func(o, ch, i int) int {
		if block > 0 {
			return (o*groups+ch/block)*inner + i
		}
		return ch
	}
	for o := 0; o < outer; o++ {
		for ch := 0; ch < c; ch++ {
			base := (o*c + ch) * inner
			for i := 0; i < inner; i++ {
				x := w[base+i]
				k := idx(o, ch, i)
				lo[k], hi[k] = min(lo[k], x), max(hi[k], x)
			}
		}
	}
	qw.params = make([]quant.Params, nparams)
	for k := range qw.params {
		qw.params[k] = quant.ParamsFor(lo[k], hi[k], t, symmetric)
	}
	qw.q = make([]int32, len(w))
	for o := 0; o < outer; o++ {
		for ch := 0; ch < c; ch++ {
			base := (o*c + ch) * inner
			for i := 0; i < inner; i++ {
				qw.q[base+i] = quant.Quantize(w[base+i], qw.params[idx(o, ch, i)], t)
			}
		}
	}
	return qw
}

// requantizeChannel re-quantizes channel ch of a per-channel weight with new
// parameters.
func (qw *qweight) requantizeChannel(w []float32, ch int, p quant.Params, t quant.Type) {
	outer, c, inner := split3(qw.shape, qw.axis)
	qw.params[ch] = p
	for o := 0; o < outer; o++ {
		base := (o*c + ch) * inner
		for i := 0; i < inner; i++ {
			qw.q[base+i] = quant.Quantize(w[base+i], p, t)
		}
	}
}

func split3(shape []int, axis int) (outer, c, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, shape[axis], inner
}

// initializers stores a quantized weight as three initializers beside the
// float one and returns a DequantizeLinear for node n that reads them.
func (qw qweight) emit(g *graph.Graph, n *graph.Node, base string, t quant.Type) *graph.Value {
	scales := make([]float32, len(qw.params))
	zps := make([]int32, len(qw.params))
	for i, p := range qw.params {
		scales[i], zps[i] = p.Scale, p.ZeroPoint
	}
	var scaleShape []int
	if qw.axis >= 0 {
		scaleShape = qw.scaleShape
	}
	qv := g.AddInitializer(base+"_quantized", intTensor(t, qw.q, qw.shape))
	st, _ := onnxio.FromTensor("", tensor.FromFloat32(scales, scaleShape...))
	sv := g.AddInitializer(base+"_scale", st)
	zv := g.AddInitializer(base+"_zero_point", zeroPoint(t, zps, scaleShape))
	var attrs []*onnx.AttributeProto
	if qw.axis >= 0 {
		attrs = append(attrs, graph.IntAttr("axis", int64(qw.axis)))
	}
	if qw.block > 0 {
		attrs = append(attrs, graph.IntAttr("block_size", int64(qw.block)))
	}
	dq := n.Graph.AddNode("DequantizeLinear", "", []*graph.Value{qv, sv, zv}, []string{base + "_dequantized"}, attrs...)
	return dq.Outputs[0]
}

// weightAxis is the per-channel axis of node n's weight w, or the blocking
// axis (input channels) when the config asks for blocks.
func (p *Plan) weightAxis(n *graph.Node, r Rule, rank int) (axis, block int) {
	if p.cfg.BlockSize > 0 && rank >= 2 {
		return inputChannelAxis(n, rank), p.cfg.BlockSize
	}
	if !p.cfg.PerChannel || rank < 2 || r.WeightAxis == nil {
		return -1, 0
	}
	return r.WeightAxis(n, rank), 0
}

// inputChannelAxis is the axis of a weight that the dot product runs over.
func inputChannelAxis(n *graph.Node, rank int) int {
	switch n.OpType {
	case "Conv":
		return 1
	case "ConvTranspose":
		return 0
	case "Gemm":
		if n.AttrInt("transB", 0) != 0 {
			return 1
		}
		return 0
	}
	return rank - 2 // MatMul: (..., K, N)
}

// quantizeWeights replaces node n's constant weight (and bias) by integers
// behind DequantizeLinear. The bias becomes int32 with scale input scale ×
// weight scale; where that would overflow int32 the weight scale grows.
func (p *Plan) quantizeWeights(n *graph.Node, r Rule, params map[*graph.Value]quant.Params) error {
	wv := input(n, r.Weight)
	if wv == nil || !isFloatInit(wv) {
		return nil
	}
	w, err := tensorOf(wv)
	if err != nil {
		return err
	}
	wt := p.cfg.effectiveWeightType()
	axis, block := p.weightAxis(n, r, w.Rank())
	if block > 0 && w.Shape[axis]%block != 0 && p.m.Opset("") < 21 {
		return fmt.Errorf("blocked weights need opset 21")
	}
	qw := quantizeWeight(w.Float32(), w.Shape, axis, block, wt, p.cfg.weightSymmetric())

	var bias *graph.Value
	var biasQ []int32
	var biasScales []float32
	if bv := input(n, r.Bias); bv != nil && isFloatInit(bv) && p.cfg.Mode == Static && block == 0 && biasQuantizable(n) {
		x := n.Inputs[0]
		xp, ok := params[x]
		if ok {
			b, err := tensorOf(bv)
			if err != nil {
				return err
			}
			biasQ, biasScales = p.quantizeBias(n, b.Float32(), xp.Scale, &qw, w.Float32(), wt)
			bias = bv
		}
	}
	dqW := qw.emit(wv.Graph, n, wv.Name, p.cfg.WeightType)
	n.SetInput(r.Weight, dqW)
	if bias != nil {
		bg := bias.Graph
		bq := bg.AddInitializer(bias.Name+"_quantized", int32Tensor(biasQ))
		st, _ := onnxio.FromTensor("", tensor.FromFloat32(biasScales, len(biasScales)))
		bs := bg.AddInitializer(bias.Name+"_scale", st)
		dq := n.Graph.AddNode("DequantizeLinear", "", []*graph.Value{bq, bs}, []string{bias.Name + "_dequantized"}, graph.IntAttr("axis", 0))
		n.SetInput(r.Bias, dq.Outputs[0])
	}
	return nil
}

// biasQuantizable: a Gemm's C is a bias only as a vector added once.
func biasQuantizable(n *graph.Node) bool {
	if n.OpType != "Gemm" {
		return true
	}
	if n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1 {
		return false
	}
	c := input(n, 2)
	return c != nil && c.Initializer != nil && len(c.Initializer.GetDims()) == 1
}

func (p *Plan) quantizeBias(n *graph.Node, b []float32, xs float32, qw *qweight, w []float32, wt quant.Type) ([]int32, []float32) {
	// channelOf maps an output channel (bias element) to its weight scale.
	channelOf := func(o int) int {
		if len(qw.params) == 1 {
			return 0
		}
		return o % len(qw.params) // ConvTranspose groups repeat the weight's channels
	}
	const limit = float64(math.MaxInt32) * 0.99
	for o, bo := range b {
		ch := channelOf(o)
		s := float64(xs) * float64(qw.params[ch].Scale)
		if math.Abs(float64(bo))/s > limit {
			// Grow the weight scale so the bias fits; the weight loses a
			// little precision instead of the bias being clipped.
			ns := float32(math.Abs(float64(bo)) / (limit * float64(xs)))
			np := quant.Params{Scale: ns, ZeroPoint: qw.params[ch].ZeroPoint}
			if qw.axis < 0 {
				qw.params[0] = np
				quant.QuantizeSlice(qw.q, w, np, wt)
			} else {
				qw.requantizeChannel(w, ch, np, wt)
			}
		}
	}
	scales := make([]float32, len(b))
	for o := range b {
		scales[o] = quant.BiasScale(xs, qw.params[channelOf(o)].Scale)
	}
	q, _, _ := quant.QuantizeBias(b, xs, expand(qw, len(b), channelOf))
	return q, scales
}

func expand(qw *qweight, n int, channelOf func(int) int) []float32 {
	s := make([]float32, n)
	for o := range s {
		s[o] = qw.params[channelOf(o)].Scale
	}
	return s
}

func int32Tensor(v []int32) *onnx.TensorProto {
	t := &tensor.Tensor{DType: tensor.Int32, Shape: []int{len(v)}, Data: v}
	tp, _ := onnxio.FromTensor("", t)
	return tp
}
