package oracle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("RepoRoot() = %q: %v", root, err)
	}
	if !bytes.Contains(b, []byte("module github.com/ptq-dev/ptq")) {
		t.Errorf("RepoRoot() = %q holds another module", root)
	}
}

func TestAvailableUnknown(t *testing.T) {
	if err := Available("no-such-oracle"); err == nil {
		t.Error("Available of an unknown oracle gave no error")
	}
}

func TestPPOCRModelNames(t *testing.T) {
	for _, name := range []string{"det", "rec", "cls", "keys"} {
		if p := PPOCRModel(name); !strings.HasPrefix(p, NodeModules()) {
			t.Errorf("PPOCRModel(%q) = %q, not under %s", name, p, NodeModules())
		}
	}
	if p := PPOCRModel("nope"); p != "" {
		t.Errorf("PPOCRModel(nope) = %q, want empty", p)
	}
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tests := []*tensor.Tensor{
		{DType: tensor.Float, Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}},
		{DType: tensor.Double, Shape: []int{3}, Data: []float64{1e300, -1, 0.5}},
		{DType: tensor.Float16, Shape: []int{2}, Data: []uint16{0x3c00, 0xc000}},
		{DType: tensor.Int64, Shape: []int{1, 2}, Data: []int64{math.MinInt64, 7}},
		{DType: tensor.Int32, Shape: []int{2}, Data: []int32{-5, 1 << 30}},
		{DType: tensor.Int16, Shape: []int{1}, Data: []int16{-300}},
		{DType: tensor.Int8, Shape: []int{2, 2}, Data: []int8{-128, 127, 0, -1}},
		{DType: tensor.Uint8, Shape: []int{3}, Data: []uint8{0, 128, 255}},
		{DType: tensor.Uint16, Shape: []int{1}, Data: []uint16{65535}},
		{DType: tensor.Bool, Shape: []int{2, 1}, Data: []bool{true, false}},
		{DType: tensor.Float, Shape: []int{}, Data: []float32{42}},
		{DType: tensor.Float, Shape: []int{0, 4}, Data: []float32{}},
	}
	for i, want := range tests {
		name := fmt.Sprintf("%d-%v", i, want)
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.npy", i))
			if err := WriteNPY(path, want); err != nil {
				t.Fatal(err)
			}
			got, err := ReadNPY(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) && !(len(got.Shape) == 0 && len(want.Shape) == 0) {
				t.Fatalf("read %v%v, wrote %v%v", got.DType, got.Shape, want.DType, want.Shape)
			}
			if got.Len() > 0 && !reflect.DeepEqual(got.Data, want.Data) {
				t.Errorf("data %v, want %v", got.Data, want.Data)
			}
		})
	}
}

func TestNPYReadableByNumpy(t *testing.T) {
	Require(t, TorchOracle) // numpy comes with it
	path := filepath.Join(t.TempDir(), "x.npy")
	x := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 1, 3)
	if err := WriteNPY(path, x); err != nil {
		t.Fatal(err)
	}
	out, err := pythonOutput(`import numpy as np, sys; a = np.load(sys.argv[1]); print(a.dtype, a.shape, a.sum())`, path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "float32 (2, 1, 3) 21.0"; out != want {
		t.Errorf("numpy sees %q, want %q", out, want)
	}
}

// nodeTests are conformance tests whose inputs and outputs cover the element
// types the runner must carry: float, double, half, int64, int8, uint8, bool.
var nodeTests = []string{
	"test_relu", "test_add_uint8", "test_and2d", "test_argmax_default_axis_example",
	"test_cast_FLOAT_to_DOUBLE", "test_cast_FLOAT_to_FLOAT16", "test_dequantizelinear",
	"test_quantizelinear", "test_equal", "test_mod_mixed_sign_int8", "test_nonzero_example",
	"test_where_example", "test_conv_with_strides_padding",
}

func TestORTNodeTests(t *testing.T) {
	Require(t, ORTOracle)
	Require(t, TestDataOracle)
	for _, name := range nodeTests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(TestDataDir(), "node", name)
			model := filepath.Join(dir, "model.onnx")
			inNames, outNames := ioNames(t, model)
			sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
			if len(sets) == 0 {
				t.Fatal("no test data sets")
			}
			var samples []map[string]*tensor.Tensor
			var wants []map[string]*tensor.Tensor
			for _, set := range sets {
				samples = append(samples, readSet(t, set, "input", inNames))
				wants = append(wants, readSet(t, set, "output", outNames))
			}
			got, err := ORTBatch(model, samples, ORTOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range wants {
				for name, w := range wants[i] {
					g := got[i][name]
					if g == nil {
						t.Fatalf("set %d: no output %q", i, name)
					}
					if err := closeEnough(g, w); err != nil {
						t.Errorf("set %d output %q: %v", i, name, err)
					}
				}
			}
		})
	}
}

func TestORTOptions(t *testing.T) {
	Require(t, ORTOracle)
	Require(t, TestDataOracle)
	model := filepath.Join(TestDataDir(), "node", "test_relu", "model.onnx")
	x := tensor.New(tensor.Float, 3, 4, 5)
	for i := range x.Float32() {
		x.Float32()[i] = float32(i%7) - 3
	}
	opt := filepath.Join(t.TempDir(), "opt.onnx")
	for _, level := range []string{"all", "basic", "disabled"} {
		out, err := ORT(model, map[string]*tensor.Tensor{"x": x}, ORTOptions{Threads: 2, OptLevel: level, OptimizedModel: opt})
		if err != nil {
			t.Fatalf("level %s: %v", level, err)
		}
		y := out["y"].Float32()
		for i, v := range x.Float32() {
			if want := max(v, 0); y[i] != want {
				t.Fatalf("level %s: y[%d] = %v, want %v", level, i, y[i], want)
			}
		}
	}
	if fi, err := os.Stat(opt); err != nil || fi.Size() == 0 {
		t.Errorf("optimised model not written: %v", err)
	}
	if _, err := ORT(model, map[string]*tensor.Tensor{"x": x}, ORTOptions{OptLevel: "fast"}); err == nil {
		t.Error("unknown optimisation level accepted")
	}
	if _, err := ORT(model, map[string]*tensor.Tensor{"nope": x}, ORTOptions{}); err == nil {
		t.Error("wrong input name accepted")
	}
}

func TestCheckModel(t *testing.T) {
	Require(t, PythonONNXOracle)
	Require(t, TestDataOracle)
	good := filepath.Join(TestDataDir(), "node", "test_relu", "model.onnx")
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckModel(good, true); err != nil {
		t.Errorf("test_relu fails the checker: %v", err)
	}
	errs, err := CheckModels([]string{good, bad}, false)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] == nil {
		t.Errorf("CheckModels(good, bad) = %v", errs)
	}
}

func TestProtoEqual(t *testing.T) {
	Require(t, PythonONNXOracle)
	Require(t, TestDataOracle)
	relu := filepath.Join(TestDataDir(), "node", "test_relu", "model.onnx")
	abs := filepath.Join(TestDataDir(), "node", "test_abs", "model.onnx")
	b, err := os.ReadFile(relu)
	if err != nil {
		t.Fatal(err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m.ProducerName = proto.String("someone else")
	changed := filepath.Join(t.TempDir(), "changed.onnx")
	cb, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, cb, 0o644); err != nil {
		t.Fatal(err)
	}
	errs, err := ProtoEqual([][2]string{{relu, relu}, {relu, abs}, {relu, changed}})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil {
		t.Errorf("a model differs from itself: %v", errs[0])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "op_type") {
		t.Errorf("relu vs abs: %v, want a diff naming op_type", errs[1])
	}
	if errs[2] == nil || !strings.Contains(errs[2].Error(), "producer_name") {
		t.Errorf("changed producer: %v, want a diff naming producer_name", errs[2])
	}
}

func ioNames(t *testing.T, model string) (in, out []string) {
	t.Helper()
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	inits := map[string]bool{}
	for _, i := range m.GetGraph().GetInitializer() {
		inits[i.GetName()] = true
	}
	for _, v := range m.GetGraph().GetInput() {
		if !inits[v.GetName()] {
			in = append(in, v.GetName())
		}
	}
	for _, v := range m.GetGraph().GetOutput() {
		out = append(out, v.GetName())
	}
	return in, out
}

func readSet(t *testing.T, dir, kind string, names []string) map[string]*tensor.Tensor {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, kind+"_*.pb"))
	sort.Strings(files)
	if len(files) != len(names) {
		t.Fatalf("%s: %d %s files for %d names", dir, len(files), kind, len(names))
	}
	m := map[string]*tensor.Tensor{}
	for i, f := range files {
		m[names[i]] = readPB(t, f)
	}
	return m
}

// readPB decodes the TensorProto files of the conformance data for the
// element types nodeTests use, independently of package onnxio so that the
// oracle is not tested with the code it is meant to check.
func readPB(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tp onnx.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	shape := make([]int, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		shape[i] = int(d)
	}
	x := tensor.New(tensor.DType(tp.GetDataType()), shape...)
	if raw := tp.GetRawData(); raw != nil {
		if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, x.Data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return x
	}
	switch d := x.Data.(type) {
	case []float32:
		copy(d, tp.GetFloatData())
	case []float64:
		copy(d, tp.GetDoubleData())
	case []int64:
		copy(d, tp.GetInt64Data())
	case []int32:
		copy(d, tp.GetInt32Data())
	case []int8:
		for i, v := range tp.GetInt32Data() {
			d[i] = int8(v)
		}
	case []uint8:
		for i, v := range tp.GetInt32Data() {
			d[i] = uint8(v)
		}
	case []uint16:
		for i, v := range tp.GetInt32Data() {
			d[i] = uint16(v)
		}
	case []bool:
		for i, v := range tp.GetInt32Data() {
			d[i] = v != 0
		}
	default:
		t.Fatalf("%s: readPB does not handle %v", path, x.DType)
	}
	return x
}

// closeEnough uses ONNX's test tolerances (rtol 1e-3, atol 1e-7) for floats
// and exact equality otherwise.
func closeEnough(got, want *tensor.Tensor) error {
	if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) && got.Len()+want.Len() > 0 {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	tol := func(g, w float64) bool { return math.Abs(g-w) <= 1e-7+1e-3*math.Abs(w) }
	switch w := want.Data.(type) {
	case []float32:
		g := got.Data.([]float32)
		for i := range w {
			if !tol(float64(g[i]), float64(w[i])) {
				return fmt.Errorf("[%d] = %v, want %v", i, g[i], w[i])
			}
		}
	case []float64:
		g := got.Data.([]float64)
		for i := range w {
			if !tol(g[i], w[i]) {
				return fmt.Errorf("[%d] = %v, want %v", i, g[i], w[i])
			}
		}
	default:
		if got.DType == tensor.Float16 {
			g := got.Data.([]uint16)
			for i, wv := range want.Data.([]uint16) {
				if !tol(float64(tensor.Float16ToFloat32(g[i])), float64(tensor.Float16ToFloat32(wv))) {
					return fmt.Errorf("[%d] = %#x, want %#x", i, g[i], wv)
				}
			}
			return nil
		}
		if got.Len() > 0 && !reflect.DeepEqual(got.Data, want.Data) {
			return fmt.Errorf("got %v, want %v", got.Data, want.Data)
		}
	}
	return nil
}

func TestORTBatchKeepsOrder(t *testing.T) {
	Require(t, ORTOracle)
	Require(t, TestDataOracle)
	model := filepath.Join(TestDataDir(), "node", "test_relu", "model.onnx")
	const n = 300
	samples := make([]map[string]*tensor.Tensor, n)
	for i := range samples {
		// Each sample has its own values so a mix-up shows.
		x := tensor.New(tensor.Float, 3, 4, 5)
		for j := range x.Float32() {
			x.Float32()[j] = float32(i) - float32(j)*float32(n)
		}
		samples[i] = map[string]*tensor.Tensor{"x": x}
	}
	got, err := ORTBatch(model, samples, ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		x, y := s["x"], got[i]["y"]
		if !reflect.DeepEqual(x.Shape, y.Shape) {
			t.Fatalf("sample %d: shape %v, want %v", i, y.Shape, x.Shape)
		}
		for j, v := range x.Float32() {
			if y.Float32()[j] != max(v, 0) {
				t.Fatalf("sample %d: y[%d] = %v, want %v", i, j, y.Float32()[j], max(v, 0))
			}
		}
	}
}

func TestORTOpTypesShowsFusion(t *testing.T) {
	Require(t, ORTOracle)
	// PyTorch's QDQ resnet: ORT fuses its DQ -> Conv -> Q groups.
	model := filepath.Join(TestModelsDir(), "fmnist", "torch_ptq", "resnet.qdq.onnx")
	fused, err := ORTOpTypes(model, ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ORTOpTypes(model, ORTOptions{OptLevel: "disabled"})
	if err != nil {
		t.Fatal(err)
	}
	if plain["Conv"] == 0 || plain["QLinearConv"] != 0 {
		t.Errorf("unoptimised graph: %v, want Conv and no QLinearConv", plain)
	}
	if fused["QLinearConv"] == 0 {
		t.Errorf("optimised graph has no QLinearConv: %v", fused)
	}
}

func TestORTBench(t *testing.T) {
	Require(t, ORTOracle)
	model := filepath.Join(TestModelsDir(), "fmnist", "cnn.onnx")
	r, err := ORTBench(model, map[string][]int{"input": {2, 1, 28, 28}}, ORTOptions{}, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Iters != 5 || r.Threads != 1 || r.MedianMS <= 0 || r.MinMS > r.MedianMS {
		t.Errorf("bench result %+v", r)
	}
	if _, err := ORTBench(model, map[string][]int{"nope": {1}}, ORTOptions{}, 1, 0); err == nil {
		t.Error("unknown input name accepted")
	}
}
