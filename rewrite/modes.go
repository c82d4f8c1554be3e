package rewrite

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/tensor"
)

// weightOnly stores each compute node's weight as integers (per channel or
// per block) behind a DequantizeLinear; activations stay float.
func (p *Plan) weightOnly(res *Result) error {
	for _, n := range p.nodes {
		if err := p.quantizeWeights(n, p.rule[n], nil); err != nil {
			return fmt.Errorf("node %s: %w", n, err)
		}
		res.Quantized = append(res.Quantized, n)
	}
	removeUnusedInitializers(p.m.Graph)
	return nil
}

// dynamic rewrites MatMul and Gemm with constant weights as
//
//	x -> DynamicQuantizeLinear -> MatMulInteger(·, Wq) -> Cast -> Mul(x_scale × W_scale) [-> Add bias]
//
// the pattern ONNX Runtime fuses into its dynamic int8 kernels. Other
// compute ops (Conv) get weight-only quantization.
func (p *Plan) dynamic(res *Result) error {
	for _, n := range p.nodes {
		var err error
		switch n.OpType {
		case "MatMul", "Gemm":
			err = p.dynamicMatMul(n)
		default:
			err = p.quantizeWeights(n, p.rule[n], nil)
		}
		if err != nil {
			return fmt.Errorf("node %s: %w", n, err)
		}
		res.Quantized = append(res.Quantized, n)
	}
	removeUnusedInitializers(p.m.Graph)
	return nil
}

func (p *Plan) dynamicMatMul(n *graph.Node) error {
	g := n.Graph
	x, wv := n.Inputs[0], n.Inputs[1]
	w, err := tensorOf(wv)
	if err != nil {
		return err
	}
	if w.Rank() != 2 {
		return p.quantizeWeights(n, p.rule[n], nil) // batched weights: weight-only
	}
	data, shape := w.Float32(), w.Shape
	alpha, beta := float32(1), float32(1)
	var bias *graph.Value
	if n.OpType == "Gemm" {
		if n.AttrInt("transA", 0) != 0 {
			return p.quantizeWeights(n, p.rule[n], nil)
		}
		if n.AttrInt("transB", 0) != 0 {
			data, shape = transpose2D(data, shape)
		}
		alpha, beta = n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
		bias = input(n, 2)
	}
	// Per output column, symmetric int8: zero points are all zero, which
	// MatMulInteger handles fastest.
	qw := quantizeWeight(data, shape, 1, 0, quant.Int8, true)
	scales := make([]float32, len(qw.params))
	for i, q := range qw.params {
		scales[i] = q.Scale * alpha
	}
	wq := g.AddInitializer(wv.Name+"_quantized", intTensor(quant.Int8, qw.q, shape))
	wzp := g.AddInitializer(wv.Name+"_zero_point", zeroPoint(quant.Int8, make([]int32, len(scales)), []int{len(scales)}))
	st, _ := onnxio.FromTensor("", tensor.FromFloat32(scales, len(scales)))
	ws := g.AddInitializer(wv.Name+"_scale", st)

	out := n.Outputs[0]
	base := out.Name
	dql := g.AddNode("DynamicQuantizeLinear", "", []*graph.Value{x}, []string{x.Name + "_quantized", x.Name + "_scale", x.Name + "_zero_point"})
	xq, xs, xzp := dql.Outputs[0], dql.Outputs[1], dql.Outputs[2]
	mmi := g.AddNode("MatMulInteger", "", []*graph.Value{xq, wq, xzp, wzp}, []string{base + "_int32"})
	cast := g.AddNode("Cast", "", []*graph.Value{mmi.Outputs[0]}, []string{base + "_int32_float"}, graph.IntAttr("to", int64(onnx.TensorProto_FLOAT)))
	sc := g.AddNode("Mul", "", []*graph.Value{xs, ws}, []string{base + "_scale"})

	g.RemoveNode(n)
	last := []*graph.Value{cast.Outputs[0], sc.Outputs[0]}
	if bias == nil {
		_, err = g.AddNodeProducing("Mul", "", last, []*graph.Value{out})
		return err
	}
	mul := g.AddNode("Mul", "", last, []string{base + "_unbiased"})
	if beta != 1 {
		bt, err := tensorOf(bias)
		if err != nil {
			return err
		}
		bf := bt.Float32()
		scaled := make([]float32, len(bf))
		for i, v := range bf {
			scaled[i] = v * beta
		}
		tp, _ := onnxio.FromTensor("", tensor.FromFloat32(scaled, bt.Shape...))
		bias = g.AddInitializer(bias.Name+"_beta", tp)
	}
	_, err = g.AddNodeProducing("Add", "", []*graph.Value{mul.Outputs[0], bias}, []*graph.Value{out})
	return err
}

func transpose2D(d []float32, shape []int) ([]float32, []int) {
	r, c := shape[0], shape[1]
	out := make([]float32, len(d))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = d[i*c+j]
		}
	}
	return out, []int{c, r}
}
