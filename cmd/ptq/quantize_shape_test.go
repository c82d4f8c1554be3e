package main

import (
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// TestQuantizeShapeArithmetic: PyTorch's opset 9 exports of F.interpolate
// compute Upsample/Resize scales in float from Shape (Concat([1, 1],
// H/H·2, W/W·2)). Quantizing that Concat to [0, 2] in 8 bits turns the
// channel scale 1.0 into 1.0039, and 256 channels into 257, so the next Conv
// fails. Tensors feeding shape inputs must stay float.
func TestQuantizeShapeArithmetic(t *testing.T) {
	const c = 256
	rng := rand.New(rand.NewPCG(5, 6))
	w := make([]float32, c*c)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.06)
	}
	sym := func(p string) *onnx.TensorShapeProto_Dimension {
		return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: p}}
	}
	fix := func(v int64) *onnx.TensorShapeProto_Dimension {
		return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string, dims ...*onnx.TensorShapeProto_Dimension) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(int32(tensor.Float)), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
	}
	node := func(op string, in []string, out string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(out), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs}
	}
	f32 := func(name string, data []float32, dims ...int64) *onnx.TensorProto {
		return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(tensor.Float)), Dims: dims, FloatData: data}
	}
	i64 := func(name string, v ...int64) *onnx.TensorProto {
		return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(tensor.Int64)), Dims: []int64{int64(len(v))}, Int64Data: v}
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name: proto.String("interpolate"),
			Node: []*onnx.NodeProto{
				node("Conv", []string{"x", "w1"}, "y"),
				node("Shape", []string{"y"}, "shape"),
				node("Slice", []string{"shape", "two", "four"}, "hw"),
				node("Cast", []string{"hw"}, "hwf", &onnx.AttributeProto{Name: proto.String("to"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(int64(tensor.Float))}),
				node("Div", []string{"hwf", "hwf"}, "ones"),
				node("Mul", []string{"ones", "twos"}, "factor"),
				node("Concat", []string{"unit", "factor"}, "scales", &onnx.AttributeProto{Name: proto.String("axis"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(0)}),
				node("Resize", []string{"y", "", "scales"}, "up"),
				node("Conv", []string{"up", "w2"}, "z"),
			},
			Initializer: []*onnx.TensorProto{
				f32("w1", w, c, c, 1, 1), f32("w2", w, c, c, 1, 1),
				f32("unit", []float32{1, 1}, 2), f32("twos", []float32{2, 2}, 2),
				i64("two", 2), i64("four", 4),
			},
			Input:  []*onnx.ValueInfoProto{vi("x", fix(1), fix(c), sym("h"), sym("w"))},
			Output: []*onnx.ValueInfoProto{vi("z", fix(1), fix(c), sym("h2"), sym("w2"))},
		},
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	if err := onnxio.Save(model, mp, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	const n, hw = 4, 4
	xs := make([]float32, n*c*hw*hw)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	data := filepath.Join(dir, "x.npy")
	s, err := newNPYStream(data, tensor.Float, []int{1, c, hw, hw})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(tensor.FromFloat32(xs, n, 1, c, hw, hw)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	js := ptqRun(t, "quantize", model, "--data", data, "-o", filepath.Join(dir, "q.onnx"), "--json", "-q")
	var sum struct {
		Nodes []string `json:"quantized_nodes"`
		Float []struct {
			Node string `json:"node"`
		} `json:"left_float"`
		Integer int `json:"integer_nodes_not_listed"`
		Eval    struct {
			Outputs []struct {
				SQNR float64 `json:"sqnr_db"`
			} `json:"outputs"`
		} `json:"eval"`
	}
	if err := json.Unmarshal([]byte(js[:strings.LastIndex(js, "}")+1]), &sum); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	for _, q := range sum.Nodes {
		if q == "scales" || q == "factor" {
			t.Errorf("shape arithmetic node %s was quantized", q)
		}
	}
	// The int64 Slice of the shape is not a float node left unquantized.
	for _, f := range sum.Float {
		if f.Node == "hw" {
			t.Errorf("integer node hw listed as left in float")
		}
	}
	if sum.Integer < 1 {
		t.Errorf("%d integer nodes counted, want the Slice of the shape", sum.Integer)
	}
	if len(sum.Eval.Outputs) != 1 || !(sum.Eval.Outputs[0].SQNR > 25) {
		t.Errorf("output SQNR %+v, want > 25 dB", sum.Eval.Outputs)
	}
}
