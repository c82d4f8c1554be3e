package calibrate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/tensor"
)

// testEngine is h = Gemm(x, w); y = op(h) with x float32[batch,3].
func testEngine(t *testing.T, op string) *kernels.Engine {
	t.Helper()
	vi := func(name string, d1 int64) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(int32(tensor.Float)),
			Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
				{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d1}}}},
		}}}}
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name: proto.String("g"),
			Node: []*onnx.NodeProto{
				{OpType: proto.String("Gemm"), Input: []string{"x", "w"}, Output: []string{"h"}},
				{OpType: proto.String(op), Input: []string{"h"}, Output: []string{"y"}},
			},
			Initializer: []*onnx.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(int32(tensor.Float)),
				Dims: []int64{3, 4}, FloatData: []float32{1, -2, 0.5, 0, 3, 4, -1, 0.25, -5, 6, 2, 1}}},
			Input:  []*onnx.ValueInfoProto{vi("x", 3)},
			Output: []*onnx.ValueInfoProto{vi("y", 4)},
		},
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// writeNPY writes a float32 array of shape [n, 3].
func writeNPY(t *testing.T, path string, data []float32) {
	t.Helper()
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 3), }", len(data)/3)
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	binary.Write(&b, binary.LittleEndian, data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func openData(t *testing.T, path string, batch int, skip bool) dataset.Reader {
	t.Helper()
	r, err := dataset.Open(path, []dataset.Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, 3}}},
		dataset.Options{Batch: batch, SkipNonFinite: skip, Warn: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRunShardsMergeToOneRun(t *testing.T) {
	eng := testEngine(t, "Relu")
	path := filepath.Join(t.TempDir(), "x.npy")
	xs := samples("student-t3", 3*103, 9)
	for i := range xs {
		xs[i] *= float32(1 + i/60) // later samples widen the ranges
	}
	writeNPY(t, path, xs)
	needs := allNeeds(t)
	vals := map[string]Granularity{"x": {}, "h": {Kind: PerChannel, Axis: 1}, "y": {}}
	whole, err := Run(context.Background(), eng, openData(t, path, 4, false), RunOptions{Needs: needs, Values: vals})
	if err != nil {
		t.Fatal(err)
	}
	if whole.Samples != 103 || len(whole.Tensors) != 3 {
		t.Fatalf("one run: %d samples, %d tensors", whole.Samples, len(whole.Tensors))
	}
	var parts []*Stats
	for k := range 4 {
		s, err := Run(context.Background(), eng, openData(t, path, 4, false), RunOptions{Needs: needs, Values: vals, Shard: k, Shards: 4})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s)
	}
	merged, err := MergeStats(parts[3], parts[1], parts[0], parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if merged.Samples != whole.Samples || len(merged.Shards) != 4 {
		t.Fatalf("merged: %d samples, shards %v", merged.Samples, merged.Shards)
	}
	for _, m := range allMethods() {
		for _, tg := range []Target{{quant.Int8, true}, {quant.Uint8, false}} {
			want, err := whole.Ranges(m, tg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := merged.Ranges(m, tg)
			if err != nil {
				t.Fatal(err)
			}
			for name, rs := range want {
				for i, r := range rs {
					g := got[name][i]
					if math.Float32bits(g.Lo) != math.Float32bits(r.Lo) || math.Float32bits(g.Hi) != math.Float32bits(r.Hi) {
						t.Errorf("%v %v %s[%d]: merged %v, one run %v", m, tg, name, i, g, r)
					}
				}
			}
		}
	}
	// The default observes every float tensor, input included.
	all, err := Run(context.Background(), eng, openData(t, path, 1, false), RunOptions{Needs: Needs{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(all.Names(), ","); got != "h,x,y" {
		t.Errorf("default tensors %s, want h,x,y", got)
	}
	if r, _ := all.Tensors["y"].Ranges(MinMax{}, Target{Type: quant.Uint8}); r[0].Lo != 0 {
		t.Errorf("Relu output range %v, want it to start at 0", r[0])
	}
}

func TestRunNonFinite(t *testing.T) {
	eng := testEngine(t, "Relu")
	path := filepath.Join(t.TempDir(), "x.npy")
	xs := samples("gauss", 30, 1)
	xs[3*4+1] = float32(math.NaN()) // sample 4
	xs[3*7] = float32(math.Inf(1))  // sample 7
	writeNPY(t, path, xs)
	_, err := Run(context.Background(), eng, openData(t, path, 2, false), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), "sample 4") {
		t.Errorf("NaN in sample 4: error %v, want one naming input \"x\" and sample 4", err)
	}
	s, err := Run(context.Background(), eng, openData(t, path, 2, true), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Skipped != 2 || s.Samples != 8 {
		t.Errorf("skipping: %d skipped, %d observed; want 2 and 8", s.Skipped, s.Samples)
	}
	// Inf made inside the model (1/0) is counted and leaves the tensor
	// without a range; the other tensors are unaffected.
	xs = make([]float32, 6)
	writeNPY(t, path, xs)
	s, err = Run(context.Background(), testEngine(t, "Reciprocal"), openData(t, path, 1, false), RunOptions{})
	if err != nil {
		t.Fatalf("Inf from Reciprocal: %v", err)
	}
	if _, err := s.Tensors["y"].Ranges(MinMax{}, Target{Type: quant.Uint8}); !errors.Is(err, ErrInfinite) {
		t.Errorf("Inf from Reciprocal: range error %v, want ErrInfinite", err)
	}
	if _, err := s.Tensors["h"].Ranges(MinMax{}, Target{Type: quant.Uint8}); err != nil {
		t.Errorf("finite tensor h: %v", err)
	}
	// NaN made inside the model (the square root of -1) is an error.
	xs = []float32{1, 1, 1, 1, 1, 1}
	writeNPY(t, path, xs)
	_, err = Run(context.Background(), testEngine(t, "Sqrt"), openData(t, path, 1, false), RunOptions{})
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), `"y"`) || !strings.Contains(err.Error(), "samples 0-0") {
		t.Errorf("NaN from Sqrt: error %v, want one naming tensor \"y\" and the samples", err)
	}
}

func TestRunProgressAndShardErrors(t *testing.T) {
	eng := testEngine(t, "Relu")
	path := filepath.Join(t.TempDir(), "x.npy")
	writeNPY(t, path, samples("gauss", 3*20, 1))
	var buf bytes.Buffer
	if _, err := Run(context.Background(), eng, openData(t, path, 1, false), RunOptions{Progress: &buf}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "samples") {
		t.Errorf("progress output %q does not show samples/s", buf.String())
	}
	if _, err := Run(context.Background(), eng, openData(t, path, 1, false), RunOptions{Shard: 4, Shards: 4}); err == nil {
		t.Error("shard 4 of 4 accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, eng, openData(t, path, 1, false), RunOptions{}); err == nil {
		t.Error("a cancelled context did not stop the run")
	}
}
