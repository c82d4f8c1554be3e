package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// TestInspectJSON inspects a small model whose figures are known by hand:
// a symbolic batch dimension, a float initializer of 12 elements (48
// bytes), an int4 one of 5 (3 bytes), a Constant of 2 floats (8 bytes), and
// one MatMul. The model is saved with external data so the file is listed.
func TestInspectJSON(t *testing.T) {
	w, _ := onnxio.FromTensor("w", tensor.New(tensor.Float, 3, 4))
	q, _ := onnxio.FromTensor("q", &tensor.Tensor{DType: tensor.Int4, Shape: []int{5}, Data: make([]int8, 5)})
	c, _ := onnxio.FromTensor("cval", tensor.New(tensor.Float, 2))
	m := tinyModel([][3][]string{{{"MatMul"}, {"x", "w"}, {"m"}}, {{"Constant"}, nil, {"c"}}, {{"Add"}, {"m", "c"}, {"y"}}}, w, q)
	tt := onnx.AttributeProto_TENSOR
	m.Graph.Node[1].Attribute = []*onnx.AttributeProto{{Name: proto.String("value"), Type: &tt, T: c}}
	f := int32(onnx.TensorProto_FLOAT)
	m.Graph.Input[0].Type = &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: &f, Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
		{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}, {Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 3}},
	}}}}}
	m.ProducerName = proto.String("hand")
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := onnxio.Save(path, m, onnxio.SaveOptions{ExternalData: true, ExternalDataThreshold: 40}); err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	if code := run([]string{"ptq", "inspect", "--json", path}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var got struct {
		IRVersion int64  `json:"ir_version"`
		Producer  string `json:"producer"`
		Opsets    []struct {
			Domain  string `json:"domain"`
			Version int64  `json:"version"`
		} `json:"opsets"`
		Inputs []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Shape []any  `json:"shape"`
		} `json:"inputs"`
		Nodes       int            `json:"nodes"`
		OpTypes     map[string]int `json:"op_types"`
		Parameters  int64          `json:"parameters"`
		ParamBytes  int64          `json:"parameter_bytes"`
		Inits       int            `json:"initializers"`
		External    []string       `json:"external_data_files"`
		Quantizable []struct {
			OpType string `json:"op_type"`
		} `json:"quantizable"`
	}
	if err := json.Unmarshal(so.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, so.String())
	}
	if got.IRVersion != 8 || got.Producer != "hand" || len(got.Opsets) != 1 || got.Opsets[0].Version != 17 {
		t.Errorf("header: %+v", got)
	}
	if len(got.Inputs) != 1 || got.Inputs[0].Name != "x" || got.Inputs[0].Type != "float32" ||
		len(got.Inputs[0].Shape) != 2 || got.Inputs[0].Shape[0] != "batch" || got.Inputs[0].Shape[1] != float64(3) {
		t.Errorf("inputs: %+v", got.Inputs)
	}
	if got.Nodes != 3 || got.OpTypes["MatMul"] != 1 || got.OpTypes["Constant"] != 1 || got.OpTypes["Add"] != 1 {
		t.Errorf("nodes %d, op types %v", got.Nodes, got.OpTypes)
	}
	if got.Parameters != 19 || got.ParamBytes != 59 || got.Inits != 2 {
		t.Errorf("parameters %d (%d bytes) in %d initializers, want 19 (59 bytes) in 2", got.Parameters, got.ParamBytes, got.Inits)
	}
	if len(got.External) != 1 || got.External[0] != "m.onnx.data" {
		t.Errorf("external files %v", got.External)
	}
	foundMatMul := false
	for _, q := range got.Quantizable {
		foundMatMul = foundMatMul || q.OpType == "MatMul"
	}
	if !foundMatMul {
		t.Errorf("MatMul not among quantizable nodes: %+v", got.Quantizable)
	}
	// The text form names the symbolic dimension too.
	so.Reset()
	if code := run([]string{"ptq", "inspect", path}, &so, &se); code != 0 || !bytes.Contains(so.Bytes(), []byte("x: float32[batch,3]")) {
		t.Errorf("text inspect: exit %d\n%s", code, so.String())
	}
	if _, err := os.Stat(path + ".data"); err != nil {
		t.Error(err)
	}
}
