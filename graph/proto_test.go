package graph_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
)

// TestRoundTripConformanceModels converts every model of ONNX's test data to
// a Graph and back and checks the protobuf is unchanged, field for field.
func TestRoundTripConformanceModels(t *testing.T) {
	oracle.Require(t, "testdata")
	paths, _ := filepath.Glob(filepath.Join(oracle.TestDataDir(), "*", "*", "model.onnx"))
	if len(paths) < 1000 {
		t.Fatalf("found only %d conformance models", len(paths))
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnxio.LoadBytes(b)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		g, err := graph.FromProto(m)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		back, err := g.ToProto()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if !proto.Equal(m, back) {
			t.Errorf("%s: round trip changed the model", p)
		}
	}
}

// TestRoundTripPPOCR does the same for the PP-OCR models, which carry
// initializers in the hundreds and opsets 9 and 11.
func TestRoundTripPPOCR(t *testing.T) {
	oracle.Require(t, "ppocr")
	for _, name := range []string{"det", "rec", "cls"} {
		m, err := onnxio.Load(oracle.PPOCRModel(name))
		if err != nil {
			t.Fatal(err)
		}
		g, err := graph.FromProto(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := g.ToProto()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(m, back) {
			t.Errorf("%s: round trip changed the model", name)
		}
		if err := g.Graph.Sort(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, _ = g.ToProto()
		if !proto.Equal(m, back) {
			t.Errorf("%s: sorting an already sorted graph changed it", name)
		}
	}
}
