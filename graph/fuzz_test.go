package graph

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// FuzzFromProto feeds arbitrary bytes through LoadBytes, FromProto and
// ToProto: nothing may panic, and a model FromProto accepts must come back
// from ToProto marshalling to the very same bytes. Bytes, not proto.Equal,
// because a NaN in float_data is unequal to itself.
func FuzzFromProto(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "testmodels", "edge", "*.onnx"))
	for _, test := range []string{"node/test_if", "node/test_loop11", "node/test_scan9_sum", "node/test_add_bcast", "simple/test_sequence_model4"} {
		paths = append(paths, filepath.Join("/usr/share/libonnx-testdata/data", test, "model.onnx"))
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	// A model with an If whose branches read an outer value, in case neither
	// the committed nor the installed models are present.
	if b, err := proto.Marshal(fuzzSeed()); err == nil {
		f.Add(b)
	}
	det := proto.MarshalOptions{Deterministic: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := onnxio.LoadBytes(b)
		if err != nil {
			return
		}
		want, err := det.Marshal(mp)
		if err != nil {
			return
		}
		m, err := FromProto(mp)
		if err != nil {
			return
		}
		back, err := m.ToProto()
		if err != nil {
			t.Fatalf("ToProto of a model FromProto accepted: %v", err)
		}
		got, err := det.Marshal(back)
		if err != nil {
			t.Fatalf("marshalling the round trip: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip changed the model: %d bytes in, %d out", len(want), len(got))
		}
		// Edits on whatever was accepted must not panic either.
		m.Graph.Walk(func(g *Graph) error {
			g.TopoSort()
			g.RemoveDead()
			return nil
		})
		m.ToProto()
	})
}

// fuzzSeed is an If whose branch reads a value of the main graph, with an
// initializer and a value_info: the structures FromProto links up.
func fuzzSeed() *onnx.ModelProto {
	s := proto.String
	branch := &onnx.GraphProto{
		Name:   s("then"),
		Node:   []*onnx.NodeProto{{OpType: s("Neg"), Input: []string{"a"}, Output: []string{"t"}}},
		Output: []*onnx.ValueInfoProto{{Name: s("t")}},
	}
	return &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnx.GraphProto{
			Name:        s("main"),
			Input:       []*onnx.ValueInfoProto{{Name: s("x")}, {Name: s("c")}},
			Initializer: []*onnx.TensorProto{{Name: s("w"), Dims: []int64{1}, DataType: proto.Int32(1), FloatData: []float32{2}}},
			ValueInfo:   []*onnx.ValueInfoProto{{Name: s("a")}},
			Node: []*onnx.NodeProto{
				{OpType: s("Add"), Input: []string{"x", "w"}, Output: []string{"a"}},
				{OpType: s("If"), Input: []string{"c"}, Output: []string{"y"}, Attribute: []*onnx.AttributeProto{
					{Name: s("then_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: branch},
					{Name: s("else_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: branch},
				}},
			},
			Output: []*onnx.ValueInfoProto{{Name: s("y")}},
		},
	}
}
