package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

func nnToDouble(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.DType != tensor.Float {
		return t
	}
	d := tensor.New(tensor.Double, t.Shape...)
	for i, v := range t.Float32() {
		d.Data.([]float64)[i] = float64(v)
	}
	return d
}

// TestFloat64Paths runs each operator on float32 data and on the same data
// as float64 and checks both agree, so the float64 code paths are exercised.
func TestFloat64Paths(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x4 := nnRandTensor(r, 2, 4, 5, 6)
	attrs := func(a ...*onnx.AttributeProto) []*onnx.AttributeProto { return a }
	cases := []struct {
		op    string
		opset int
		attrs []*onnx.AttributeProto
		in    []*tensor.Tensor
	}{
		{"Conv", 13, attrs(graph.IntsAttr("pads", []int64{1, 1, 1, 1})), []*tensor.Tensor{x4, nnRandTensor(r, 3, 4, 3, 3), nnRandTensor(r, 3)}},
		{"ConvTranspose", 13, attrs(graph.IntsAttr("strides", []int64{2, 2})), []*tensor.Tensor{x4, nnRandTensor(r, 4, 2, 3, 3), nnRandTensor(r, 2)}},
		{"Gemm", 13, attrs(graph.IntAttr("transB", 1)), []*tensor.Tensor{nnRandTensor(r, 3, 5), nnRandTensor(r, 4, 5), nnRandTensor(r, 4)}},
		{"MatMul", 13, nil, []*tensor.Tensor{nnRandTensor(r, 2, 3, 5), nnRandTensor(r, 5, 4)}},
		{"AveragePool", 19, attrs(graph.IntsAttr("kernel_shape", []int64{3, 2}), graph.IntsAttr("pads", []int64{1, 0, 1, 1})), []*tensor.Tensor{x4}},
		{"MaxPool", 12, attrs(graph.IntsAttr("kernel_shape", []int64{2, 2})), []*tensor.Tensor{x4}},
		{"LpPool", 18, attrs(graph.IntsAttr("kernel_shape", []int64{2, 2})), []*tensor.Tensor{x4}},
		{"GlobalAveragePool", 1, nil, []*tensor.Tensor{x4}},
		{"GlobalMaxPool", 1, nil, []*tensor.Tensor{x4}},
		{"BatchNormalization", 15, nil, []*tensor.Tensor{x4, nnRandTensor(r, 4), nnRandTensor(r, 4), nnRandTensor(r, 4), tensor.FromFloat32([]float32{1, 2, 0.5, 3}, 4)}},
		{"InstanceNormalization", 6, nil, []*tensor.Tensor{x4, nnRandTensor(r, 4), nnRandTensor(r, 4)}},
		{"LayerNormalization", 17, nil, []*tensor.Tensor{x4, nnRandTensor(r, 6), nnRandTensor(r, 6)}},
		{"GroupNormalization", 21, attrs(graph.IntAttr("num_groups", 2)), []*tensor.Tensor{x4, nnRandTensor(r, 4), nnRandTensor(r, 4)}},
		{"LRN", 13, attrs(graph.IntAttr("size", 3)), []*tensor.Tensor{x4}},
		{"MeanVarianceNormalization", 13, nil, []*tensor.Tensor{x4}},
		{"LpNormalization", 1, nil, []*tensor.Tensor{x4}},
		{"Softmax", 13, nil, []*tensor.Tensor{x4}},
		{"LogSoftmax", 11, nil, []*tensor.Tensor{x4}},
		{"Hardmax", 13, nil, []*tensor.Tensor{x4}},
		{"Resize", 13, attrs(graph.StringAttr("mode", "cubic")), []*tensor.Tensor{x4, nil, tensor.FromFloat32([]float32{1, 1, 1.5, 0.7}, 4)}},
		{"Einsum", 12, attrs(graph.StringAttr("equation", "nchw,nchw->nc")), []*tensor.Tensor{x4, x4}},
		{"DepthToSpace", 13, attrs(graph.IntAttr("blocksize", 2)), []*tensor.Tensor{x4}},
		{"GridSample", 16, nil, []*tensor.Tensor{x4, nnRandTensor(r, 2, 3, 3, 2)}},
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			n := &graph.Node{OpType: tc.op, Attrs: tc.attrs}
			op, err := Build(n, tc.opset)
			if err != nil {
				t.Fatal(err)
			}
			got32, err := op.Run(nil, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			in64 := make([]*tensor.Tensor, len(tc.in))
			for i, v := range tc.in {
				in64[i] = v
				// keep Resize's scales and GridSample's grid float32 (any
				// float type is accepted); convert the data operands
				if !(tc.op == "Resize" && i > 0) {
					in64[i] = nnToDouble(v)
				}
			}
			got64, err := op.Run(nil, in64)
			if err != nil {
				t.Fatal(err)
			}
			if got64[0].DType != tensor.Double {
				t.Fatalf("float64 input gave %v output", got64[0].DType)
			}
			if err := nnCompare(nnToDouble(got32[0]), got64[0], 1e-4, 1e-5); err != nil {
				t.Fatal(err)
			}
		})
	}
}
