package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

func TestInspectUnsupported(t *testing.T) {
	node := func(op, in, out string) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(out + "_node"), OpType: proto.String(op), Input: []string{in}, Output: []string{out}}
	}
	vi := func(name string) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(1)}}}}
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnx.GraphProto{
			Name:   proto.String("g"),
			Node:   []*onnx.NodeProto{node("Relu", "x", "a"), node("NoSuchOp", "a", "b"), node("NoSuchOp", "b", "c")},
			Input:  []*onnx.ValueInfoProto{vi("x")},
			Output: []*onnx.ValueInfoProto{vi("c")},
		},
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	us := inspectUnsupported(m)
	if len(us) != 2 || us[0].Node != "b_node" || us[1].Node != "c_node" || us[0].OpType != "NoSuchOp" || us[0].Opset != 17 {
		t.Fatalf("inspectUnsupported = %+v, want b_node and c_node (NoSuchOp, opset 17)", us)
	}
	var b strings.Builder
	if err := writeUnsupported(&b, us); err != nil {
		t.Fatal(err)
	}
	if want := "NoSuchOp (opset 17): 2 node(s): b_node, c_node"; !strings.Contains(b.String(), want) {
		t.Errorf("report %q does not contain %q", b.String(), want)
	}
	b.Reset()
	writeUnsupported(&b, nil)
	if !strings.Contains(b.String(), "every operator is supported") {
		t.Errorf("empty report %q", b.String())
	}
}
