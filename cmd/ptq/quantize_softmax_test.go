package main

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// TestQuantizeFlatSoftmaxORT: a classifier whose Softmax rows are nearly
// uniform (untrained, or many classes) calibrates its output to [0, ~1/D].
// ONNX Runtime fuses DQ -> Softmax -> Q into QLinearSoftmax, which
// overflows when 1/y_scale > ~148·D and then outputs all zeros; the range
// must be widened so that the quantized model is right in ONNX Runtime,
// for uint8 and int8 activations, QDQ and QOperator.
func TestQuantizeFlatSoftmaxORT(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	const k, d = 32, 91
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, k*d)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.002)
	}
	vi := func(name string, dims ...int64) *onnx.ValueInfoProto {
		var ds []*onnx.TensorShapeProto_Dimension
		for _, x := range dims {
			ds = append(ds, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: x}})
		}
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(int32(tensor.Float)), Shape: &onnx.TensorShapeProto{Dim: ds}}}}}
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name: proto.String("flat_softmax"),
			Node: []*onnx.NodeProto{
				{Name: proto.String("logits"), OpType: proto.String("MatMul"), Input: []string{"x", "w"}, Output: []string{"logits"}},
				{Name: proto.String("probs"), OpType: proto.String("Softmax"), Input: []string{"logits"}, Output: []string{"probs"}},
			},
			Initializer: []*onnx.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(int32(tensor.Float)), Dims: []int64{k, d}, FloatData: w}},
			Input:       []*onnx.ValueInfoProto{vi("x", 1, k)},
			Output:      []*onnx.ValueInfoProto{vi("probs", 1, d)},
		},
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	if err := onnxio.Save(model, mp, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	xs := make([]float32, n*k)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	x := tensor.FromFloat32(xs, n, 1, k)
	data := filepath.Join(dir, "x.npy")
	s, err := newNPYStream(data, tensor.Float, []int{1, k})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(x); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	x = tensor.FromFloat32(xs, n, k) // ONNX Runtime gets the samples one [1, k] batch at a time
	want := ortOutputs(t, model, x)
	for _, args := range [][]string{
		{},
		{"--activation-type", "int8"},
		{"--format", "qoperator"},
		{"--method", "minmax"},
	} {
		out := filepath.Join(dir, "q.onnx")
		ptqRun(t, append([]string{"quantize", model, "--data", data, "-o", out, "-q", "--no-eval"}, args...)...)
		st := &compare.Stats{Name: "probs"}
		if err := st.Add(want, ortOutputs(t, out, x)); err != nil {
			t.Fatal(err)
		}
		if sqnr := st.SQNR(); !(sqnr > 15) {
			t.Errorf("%v: output SQNR in ONNX Runtime %.2f dB, want > 15", args, sqnr)
		}
	}
}
