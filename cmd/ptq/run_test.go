package main

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// runTestModel is Y = X·W (Gemm) with X float32[batch,3] (or [1,3] when
// fixedBatch) and W = [[1 2] [3 4] [5 6]]; the output is named "y:0" to
// exercise file-name sanitising.
func runTestModel(t *testing.T, fixedBatch bool) *kernels.Engine {
	t.Helper()
	dim := func(p string, v int64) *onnx.TensorShapeProto_Dimension {
		if p != "" {
			return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: p}}
		}
		return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string, d0 *onnx.TensorShapeProto_Dimension, d1 int64) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(int32(tensor.Float)),
			Shape:    &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{d0, dim("", d1)}},
		}}}}
	}
	batch := dim("batch", 0)
	if fixedBatch {
		batch = dim("", 1)
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name: proto.String("gemm"),
			Node: []*onnx.NodeProto{{OpType: proto.String("Gemm"), Input: []string{"x", "w"}, Output: []string{"y:0"}}},
			Initializer: []*onnx.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(int32(tensor.Float)),
				Dims: []int64{3, 2}, FloatData: []float32{1, 2, 3, 4, 5, 6}}},
			Input:  []*onnx.ValueInfoProto{vi("x", batch, 3)},
			Output: []*onnx.ValueInfoProto{vi("y:0", batch, 2)},
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

// runFakeSource yields n samples x_i = [i, i+1, i+2], shaped [3] (no batch
// axis, as a .npy row would be).
type runFakeSource struct{ i, n int }

func (s *runFakeSource) Next() (map[string]*tensor.Tensor, error) {
	if s.i == s.n {
		return nil, io.EOF
	}
	v := float32(s.i)
	s.i++
	return map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{v, v + 1, v + 2}, 3)}, nil
}

func TestRunFeedStreamsAllSamples(t *testing.T) {
	cases := []struct {
		name       string
		fixed      bool
		n, batch   int
		wantOnDisk int
	}{
		{"batched, last batch short", false, 11, 4, 11},
		{"one at a time", false, 5, 1, 5},
		{"fixed batch dimension", true, 3, 1, 3},
		{"no samples", false, 0, 4, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := runTestModel(t, c.fixed)
			dir := t.TempDir()
			w, err := newRunWriter(dir, e.Outputs())
			if err != nil {
				t.Fatal(err)
			}
			n, err := runFeed(e, &runFakeSource{n: c.n}, c.batch, w)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if n != c.n {
				t.Errorf("fed %d samples, want %d", n, c.n)
			}
			path := filepath.Join(dir, "y_0.npy")
			if c.wantOnDisk < 0 {
				if _, err := os.Stat(path); err == nil {
					t.Errorf("%s written for zero samples", path)
				}
				return
			}
			got, err := oracle.ReadNPY(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Shape) != 2 || got.Shape[0] != c.wantOnDisk || got.Shape[1] != 2 {
				t.Fatalf("shape %v, want [%d 2]", got.Shape, c.wantOnDisk)
			}
			y := got.Float32()
			for i := range c.n {
				v := float64(i)
				// [v v+1 v+2]·W = [9v+13, 12v+16]
				if math.Abs(float64(y[2*i])-(9*v+13)) > 1e-4 || math.Abs(float64(y[2*i+1])-(12*v+16)) > 1e-4 {
					t.Fatalf("row %d = %v, want [%v %v]", i, y[2*i:2*i+2], 9*v+13, 12*v+16)
				}
			}
		})
	}
}

func TestRunFileName(t *testing.T) {
	for in, want := range map[string]string{
		"logits":          "logits.npy",
		"y:0":             "y_0.npy",
		"a/b c":           "a_b_c.npy",
		"..":              "_...npy",
		"sigmoid_0.tmp-1": "sigmoid_0.tmp-1.npy",
	} {
		if got := runFileName(in); got != want {
			t.Errorf("runFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBenchInputsAndStats(t *testing.T) {
	e := runTestModel(t, false)
	shapes, err := benchParseShapes([]string{"x=5,3"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := benchInputs(e.Inputs(), shapes)
	if err != nil {
		t.Fatal(err)
	}
	if s := in["x"].Shape; len(s) != 2 || s[0] != 5 || s[1] != 3 {
		t.Errorf("x shape %v, want [5 3]", s)
	}
	if _, err := e.Run(in, nil); err != nil {
		t.Errorf("bench inputs do not run: %v", err)
	}
	in, err = benchInputs(e.Inputs(), map[string][]int{})
	if err != nil || in["x"].Shape[0] != 1 {
		t.Errorf("default shape: %v, %v; want symbolic batch as 1", in["x"], err)
	}
	if _, err := benchInputs(e.Inputs(), map[string][]int{"nope": {1}}); err == nil {
		t.Error("unknown --shape input accepted")
	}
	for _, bad := range []string{"x", "x=1,a", "=1"} {
		if _, err := benchParseShapes([]string{bad}); err == nil {
			t.Errorf("--shape %q accepted", bad)
		}
	}
	med, lo, mean := benchStats([]float64{5, 1, 3, 2})
	if med != 2.5 || lo != 1 || mean != 2.75 {
		t.Errorf("benchStats = %v %v %v, want 2.5 1 2.75", med, lo, mean)
	}
}

// ptq run end to end on a committed model: batched and one-at-a-time runs
// write the same rows, which match the engine run sample by sample.
func TestRunCommandOnFMNIST(t *testing.T) {
	model := filepath.Join(oracle.TestModelsDir(), "fmnist", "cnn.onnx")
	all, err := oracle.ReadNPY(filepath.Join(oracle.TestModelsDir(), "fmnist", "test.npy"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	row := tensor.NumElements(all.Shape[1:])
	data := tensor.FromFloat32(all.Float32()[:n*row], append([]int{n}, all.Shape[1:]...)...)
	dir := t.TempDir()
	npy := filepath.Join(dir, "x.npy")
	if err := oracle.WriteNPY(npy, data); err != nil {
		t.Fatal(err)
	}
	e, _, err := runLoadEngine(model, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []string{"1", "3"} {
		out := filepath.Join(dir, "out"+batch)
		var stdout, stderr strings.Builder
		args := []string{"ptq", "run", "--batch", batch, "--threads", "1", "--data", npy, "--out", out, model}
		if batch == "3" { // the documented form, flags after MODEL
			args = []string{"ptq", "run", model, "--batch", batch, "--threads", "1", "--data", npy, "--out", out}
		}
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("batch %s: exit %d: %s", batch, code, stderr.String())
		}
		got, err := oracle.ReadNPY(filepath.Join(out, "logits.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Shape) != 2 || got.Shape[0] != n || got.Shape[1] != 10 {
			t.Fatalf("batch %s: logits shape %v, want [%d 10]", batch, got.Shape, n)
		}
		for i := range n {
			x := tensor.FromFloat32(all.Float32()[i*row:(i+1)*row], append([]int{1}, all.Shape[1:]...)...)
			want, err := e.Run(map[string]*tensor.Tensor{"input": x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for j, w := range want["logits"].Float32() {
				if g := got.Float32()[i*10+j]; math.Abs(float64(g-w)) > 1e-5*(1+math.Abs(float64(w))) {
					t.Fatalf("batch %s: sample %d logit %d = %v, want %v", batch, i, j, g, w)
				}
			}
		}
	}
	var stderr strings.Builder
	if code := run([]string{"ptq", "run", model}, io.Discard, &stderr); code != 2 {
		t.Errorf("run without --data: exit %d, want 2 (%s)", code, stderr.String())
	}
}

func TestRunParseDataFlags(t *testing.T) {
	sizes := []struct {
		in   string
		want [2]int
		ok   bool
	}{
		{"224", [2]int{224, 224}, true},
		{"48x320", [2]int{48, 320}, true},
		{"48,320", [2]int{48, 320}, true},
		{"0", [2]int{}, false},
		{"1x2x3", [2]int{}, false},
		{"ax3", [2]int{}, false},
	}
	for _, c := range sizes {
		got, err := runParseSize(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("runParseSize(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
	if got, err := runParseFloats("mean", "0.485, 0.456,0.406"); err != nil || len(got) != 3 || got[1] != float32(0.456) {
		t.Errorf("runParseFloats = %v, %v", got, err)
	}
	if got, err := runParseFloats("mean", ""); err != nil || got != nil {
		t.Errorf("empty --mean = %v, %v; want nil", got, err)
	}
	if _, err := runParseFloats("std", "0.2,x"); err == nil || !strings.Contains(err.Error(), "--std") {
		t.Errorf("bad --std accepted or error not naming the flag: %v", err)
	}
}
