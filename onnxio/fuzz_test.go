package onnxio_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// seedModels adds the committed small models (edge cases with If and Loop
// bodies, Constant weights, odd names) and a few conformance models when
// installed.
func seedModels(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "testmodels", "edge", "*.onnx"))
	for _, test := range []string{"node/test_if", "node/test_loop11", "node/test_scan9_sum", "node/test_conv_with_strides_padding", "simple/test_sequence_model1", "node/test_cast_FLOAT_to_FLOAT16"} {
		paths = append(paths, filepath.Join("/usr/share/libonnx-testdata/data", test, "model.onnx"))
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte("not a model"))
	f.Add([]byte{0x08, 0x07, 0x3a, 0x00})
}

// FuzzLoadBytes feeds arbitrary bytes through the loader and the graph:
// nothing may panic, and whatever loads must convert back to a protobuf
// that loads again to the same graph.
func FuzzLoadBytes(f *testing.F) {
	seedModels(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := onnxio.LoadBytes(b)
		if err != nil {
			return
		}
		m, err := graph.FromProto(mp)
		if err != nil {
			return
		}
		m.Graph.Walk(func(g *graph.Graph) error {
			g.TopoSort()
			return nil
		})
		back, err := m.ToProto()
		if err != nil {
			t.Fatalf("ToProto of a model FromProto accepted: %v", err)
		}
		if !proto.Equal(back, mp) {
			t.Fatalf("round trip changed the model")
		}
		for _, tp := range back.GetGraph().GetInitializer() {
			onnxio.ToTensor(tp) // must not panic
		}
	})
}

// FuzzToTensor decodes arbitrary TensorProto bytes: no panic, and a tensor
// that decodes must encode and decode to the same data.
func FuzzToTensor(f *testing.F) {
	for _, tp := range []*onnx.TensorProto{
		{DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{1, 2}},
		{DataType: proto.Int32(22), Dims: []int64{3}, RawData: []byte{0xf1, 0x07}},
		{DataType: proto.Int32(10), Dims: []int64{1, 2}, RawData: []byte{0, 0x3c, 0, 0xbc}},
		{DataType: proto.Int32(8), Dims: []int64{1}, StringData: [][]byte{[]byte("s")}},
		{DataType: proto.Int32(7), Dims: []int64{}, Int64Data: []int64{-5}},
	} {
		b, err := proto.Marshal(tp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tp := &onnx.TensorProto{}
		if proto.Unmarshal(b, tp) != nil {
			return
		}
		x, err := onnxio.ToTensor(tp)
		if err != nil {
			return
		}
		enc, err := onnxio.FromTensor(tp.GetName(), x)
		if err != nil {
			t.Fatalf("FromTensor of a decoded %v: %v", x, err)
		}
		y, err := onnxio.ToTensor(enc)
		if err != nil {
			t.Fatalf("decoding our own encoding of %v: %v", x, err)
		}
		e2, _ := onnxio.FromTensor(tp.GetName(), y)
		if !proto.Equal(enc, e2) {
			t.Fatalf("encode/decode is not stable for %v", x)
		}
	})
}
