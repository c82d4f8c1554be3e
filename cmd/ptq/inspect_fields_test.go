package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// fieldsModel writes a model with a symbolic batch dimension, an unknown
// dimension, a weight kept as external data, a MatMul and Relu the quantizer
// takes, a Gemm (transA) it refuses, and an operator of an unknown domain.
func fieldsModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 6*4), 0o644); err != nil {
		t.Fatal(err)
	}
	dim := func(v int64, p string) *onnx.TensorShapeProto_Dimension {
		switch {
		case p != "":
			return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: p}}
		case v < 0:
			return &onnx.TensorShapeProto_Dimension{}
		}
		return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string, et onnx.TensorProto_DataType, dims ...*onnx.TensorShapeProto_Dimension) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(et)), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
	}
	node := func(name, op, domain string, in []string, out string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Domain: proto.String(domain), Input: in, Output: []string{out}, Attribute: attrs}
	}
	ext := onnx.TensorProto_EXTERNAL
	m := &onnx.ModelProto{
		IrVersion:       proto.Int64(8),
		ProducerName:    proto.String("inspect-test"),
		ProducerVersion: proto.String("0.1"),
		OpsetImport: []*onnx.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(17)},
			{Domain: proto.String("com.example"), Version: proto.Int64(1)},
		},
		Graph: &onnx.GraphProto{
			Name: proto.String("g"),
			Input: []*onnx.ValueInfoProto{
				vi("x", onnx.TensorProto_FLOAT, dim(0, "batch"), dim(3, "")),
				vi("w", onnx.TensorProto_FLOAT, dim(3, ""), dim(2, "")), // an initializer listed as input: not reported
			},
			Initializer: []*onnx.TensorProto{
				{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{3, 2}, DataLocation: &ext,
					ExternalData: []*onnx.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}},
				{Name: proto.String("b"), DataType: proto.Int32(int32(onnx.TensorProto_INT64)), Dims: []int64{2}, Int64Data: []int64{1, 2}},
			},
			Node: []*onnx.NodeProto{
				node("mm", "MatMul", "", []string{"x", "w"}, "a"),
				node("relu", "Relu", "", []string{"a"}, "r"),
				node("gemm_t", "Gemm", "", []string{"r", "r"}, "s", &onnx.AttributeProto{Name: proto.String("transA"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(1)}),
				node("foo", "Foo", "com.example", []string{"s"}, "y"),
			},
			Output: []*onnx.ValueInfoProto{vi("y", onnx.TensorProto_FLOAT16, dim(0, "batch"), dim(-1, ""))},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInspectJSONFields checks every field of `ptq inspect --json`, by the
// names users see, and that no field goes undocumented here.
func TestInspectJSONFields(t *testing.T) {
	path := fieldsModel(t)
	var out, errb bytes.Buffer
	if code := run([]string{"ptq", "inspect", "--json", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	want := map[string]any{
		"path":             path,
		"ir_version":       8.0,
		"producer":         "inspect-test",
		"producer_version": "0.1",
		"opsets": []any{
			map[string]any{"domain": "", "version": 17.0},
			map[string]any{"domain": "com.example", "version": 1.0},
		},
		"inputs":              []any{map[string]any{"name": "x", "type": "float32", "shape": []any{"batch", 3.0}}},
		"outputs":             []any{map[string]any{"name": "y", "type": "float16", "shape": []any{"batch", nil}}},
		"nodes":               4.0,
		"op_types":            map[string]any{"MatMul": 1.0, "Relu": 1.0, "Gemm": 1.0, "com.example.Foo": 1.0},
		"parameters":          8.0,  // 3x2 float + 2 int64
		"parameter_bytes":     40.0, // 24 + 16
		"initializers":        2.0,
		"external_data_files": []any{"w.bin"},
		"quantizable": []any{
			map[string]any{"node": "mm", "op_type": "MatMul", "graph": "g"},
			map[string]any{"node": "relu", "op_type": "Relu", "graph": "g"},
		},
		"unsupported": []any{map[string]any{"node": "foo", "op_type": "Foo", "domain": "com.example", "opset": 1.0}},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("field %q is not checked (nor documented)", k)
		}
	}
}

func TestInspectTextFields(t *testing.T) {
	path := fieldsModel(t)
	var out, errb bytes.Buffer
	if code := run([]string{"ptq", "inspect", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"ir_version: 8", "inspect-test 0.1", "ai.onnx 17, com.example 1",
		"x: float32[batch,3]", "y: float16[batch,?]",
		"parameters: 8 in 2 initializers (40 bytes)", "external data: w.bin",
		"quantizable: 2 node(s): MatMul 1, Relu 1", "com.example.Foo",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestInspectPPOCR checks the figures on real models against counts made
// straight from the protobuf.
func TestInspectPPOCR(t *testing.T) {
	oracle.Require(t, "ppocr")
	for _, name := range []string{"det", "rec", "cls"} {
		path := oracle.PPOCRModel(name)
		var out, errb bytes.Buffer
		if code := run([]string{"ptq", "inspect", "--json", path}, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errb.String())
		}
		var ins inspection
		if err := json.Unmarshal(out.Bytes(), &ins); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var mp onnx.ModelProto
		if err := proto.Unmarshal(b, &mp); err != nil {
			t.Fatal(err)
		}
		g := mp.GetGraph()
		if ins.Nodes != len(g.GetNode()) || ins.Initializers != len(g.GetInitializer()) {
			t.Errorf("%s: %d nodes, %d initializers; protobuf has %d, %d", name, ins.Nodes, ins.Initializers, len(g.GetNode()), len(g.GetInitializer()))
		}
		convs := 0
		for _, n := range g.GetNode() {
			if n.GetOpType() == "Conv" {
				convs++
			}
		}
		qconv := 0
		for _, q := range ins.Quantizable {
			if q.OpType == "Conv" {
				qconv++
			}
		}
		if ins.OpTypes["Conv"] != convs || convs == 0 || qconv != convs {
			t.Errorf("%s: op_types Conv = %d, %d of them quantizable; protobuf has %d", name, ins.OpTypes["Conv"], qconv, convs)
		}
		if ins.Parameters < 100000 || ins.ParamBytes < 2*ins.Parameters {
			t.Errorf("%s: %d parameters in %d bytes: implausible for a float model", name, ins.Parameters, ins.ParamBytes)
		}
		if len(ins.Inputs) != 1 || ins.Inputs[0].Type != "float32" || len(ins.Inputs[0].Shape) != 4 {
			t.Errorf("%s: inputs %+v, want one float32 4-D image", name, ins.Inputs)
		}
		if len(ins.Unsupported) != 0 {
			t.Errorf("%s: engine reports unsupported nodes %+v", name, ins.Unsupported)
		}
	}
}
