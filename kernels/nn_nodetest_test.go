package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// This file runs single-node ONNX conformance tests for the NN operators
// without the engine, so the kernels can be checked on their own. The
// engine's conformance test covers the same data end to end.

const nnTestData = "/usr/share/libonnx-testdata/data"

// nnTestTensor converts the few TensorProto layouts the test data uses.
func nnTestTensor(tp *onnx.TensorProto) (*tensor.Tensor, error) {
	shape := nnToInts(tp.GetDims())
	dt := tensor.DType(tp.GetDataType())
	t := tensor.New(dt, shape...)
	n := t.Len()
	raw := tp.GetRawData()
	switch d := t.Data.(type) {
	case []float32:
		if raw != nil {
			for i := range n {
				d[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			copy(d, tp.GetFloatData())
		}
	case []float64:
		if raw != nil {
			for i := range n {
				d[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			copy(d, tp.GetDoubleData())
		}
	case []int64:
		if raw != nil {
			for i := range n {
				d[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			copy(d, tp.GetInt64Data())
		}
	case []int32:
		if raw != nil {
			for i := range n {
				d[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			copy(d, tp.GetInt32Data())
		}
	case []uint8:
		if raw != nil {
			copy(d, raw)
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = uint8(v)
			}
		}
	case []int8:
		if raw != nil {
			for i := range n {
				d[i] = int8(raw[i])
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = int8(v)
			}
		}
	case []bool:
		if raw != nil {
			for i := range n {
				d[i] = raw[i] != 0
			}
		} else {
			for i, v := range tp.GetInt32Data() {
				d[i] = v != 0
			}
		}
	default:
		return nil, fmt.Errorf("test loader: unsupported dtype %v", dt)
	}
	return t, nil
}

func nnReadPB(path string) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tp onnx.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nnTestTensor(&tp)
}

// nnRunNodeTest runs the single-node model in dir on each test data set and
// compares to the expected outputs with ONNX's tolerances (rtol 1e-3,
// atol 1e-7) unless tight tolerances are given.
func nnRunNodeTest(t *testing.T, dir string, ctx *Context) {
	nnRunNodeTestTol(t, dir, ctx, 1e-3, 1e-7)
}

func nnRunNodeTestTol(t *testing.T, dir string, ctx *Context, rtol, atol float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	g := m.GetGraph()
	nodes := g.GetNode()
	// leading Constant nodes are folded into initializers
	consts := map[string]*onnx.TensorProto{}
	for len(nodes) > 1 && nodes[0].GetOpType() == "Constant" && len(nodes[0].GetAttribute()) == 1 && nodes[0].GetAttribute()[0].GetName() == "value" {
		consts[nodes[0].GetOutput()[0]] = nodes[0].GetAttribute()[0].GetT()
		nodes = nodes[1:]
	}
	if len(nodes) != 1 {
		t.Skipf("%d nodes; not a single-node test", len(g.GetNode()))
	}
	np := nodes[0]
	opset := 0
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			opset = int(o.GetVersion())
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, in := range g.GetInitializer() {
		inits[in.GetName()] = in
	}
	for name, tp := range consts {
		inits[name] = tp
	}
	node := &graph.Node{Name: np.GetName(), OpType: np.GetOpType(), Domain: np.GetDomain(), Attrs: np.GetAttribute()}
	for _, name := range np.GetInput() {
		if name == "" {
			node.Inputs = append(node.Inputs, nil)
			continue
		}
		node.Inputs = append(node.Inputs, &graph.Value{Name: name, Initializer: inits[name]})
	}
	for _, name := range np.GetOutput() {
		if name == "" {
			node.Outputs = append(node.Outputs, nil)
			continue
		}
		node.Outputs = append(node.Outputs, &graph.Value{Name: name})
	}
	op, err := Build(node, opset)
	if err != nil {
		t.Fatal(err)
	}
	// graph input order -> node input index
	var inputNames []string
	for _, vi := range g.GetInput() {
		if _, ok := inits[vi.GetName()]; !ok {
			inputNames = append(inputNames, vi.GetName())
		}
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	sort.Strings(sets)
	for _, set := range sets {
		vals := map[string]*tensor.Tensor{}
		for i, name := range inputNames {
			tt, err := nnReadPB(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				t.Fatal(err)
			}
			vals[name] = tt
		}
		for name, tp := range inits {
			tt, err := nnTestTensor(tp)
			if err != nil {
				t.Fatal(err)
			}
			vals[name] = tt
		}
		in := make([]*tensor.Tensor, len(np.GetInput()))
		for i, name := range np.GetInput() {
			if name != "" {
				in[i] = vals[name]
			}
		}
		out, err := op.Run(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(set), err)
		}
		for i, vi := range g.GetOutput() {
			want, err := nnReadPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				t.Fatal(err)
			}
			k := -1
			for j, name := range np.GetOutput() {
				if name == vi.GetName() {
					k = j
				}
			}
			if k < 0 || k >= len(out) || out[k] == nil {
				t.Fatalf("%s: output %q not produced", filepath.Base(set), vi.GetName())
			}
			if err := nnCompare(out[k], want, rtol, atol); err != nil {
				t.Errorf("%s: output %q: %v", filepath.Base(set), vi.GetName(), err)
			}
		}
	}
}

// nnCompare checks shape, type and values within |got-want| <= atol + rtol*|want|.
func nnCompare(got, want *tensor.Tensor, rtol, atol float64) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	gv, wv := nnAsFloat64(got), nnAsFloat64(want)
	bad := 0
	var first string
	for i := range wv {
		g, w := gv[i], wv[i]
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if g == w {
			continue
		}
		if !(math.Abs(g-w) <= atol+rtol*math.Abs(w)) {
			if bad == 0 {
				first = fmt.Sprintf("element %d: got %v, want %v", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; first: %s", bad, len(wv), first)
	}
	return nil
}

func nnAsFloat64(t *tensor.Tensor) []float64 {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []float64:
		return d
	case []int64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []int32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []uint8:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []int8:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out
	}
	panic(fmt.Sprintf("nnAsFloat64: %T", t.Data))
}

// nnNodeTestPattern selects the conformance directories of the NN operators.
var nnNodeTestPrefixes = []string{
	"node/test_averagepool", "node/test_basic_conv_", "node/test_batchnorm", "node/test_conv_", "node/test_convtranspose",
	"node/test_depthtospace", "node/test_einsum", "node/test_gemm", "node/test_globalaveragepool", "node/test_globalmaxpool",
	"node/test_hardmax", "node/test_instancenorm", "node/test_layer_normalization", "node/test_logsoftmax", "node/test_lrn",
	"node/test_matmul_", "node/test_maxpool", "node/test_mvn", "node/test_resize", "node/test_softmax", "node/test_spacetodepth",
	"node/test_upsample", "node/test_maxunpool", "node/test_group_normalization", "node/test_lppool", "node/test_col2im",
	"pytorch-converted/test_AvgPool", "pytorch-converted/test_BatchNorm", "pytorch-converted/test_Conv",
	"pytorch-converted/test_Linear", "pytorch-converted/test_LogSoftmax", "pytorch-converted/test_MaxPool",
	"pytorch-converted/test_PixelShuffle", "pytorch-converted/test_Softmax", "pytorch-converted/test_Softmin",
	"pytorch-converted/test_log_softmax", "pytorch-converted/test_softmax",
	"pytorch-operator/test_operator_conv", "pytorch-operator/test_operator_convtranspose", "pytorch-operator/test_operator_maxpool",
	"pytorch-operator/test_operator_mm", "pytorch-operator/test_operator_addmm",
}

// TestNNNodes runs every conformance test of the NN operators that is a
// single node (multi-node "_expanded" variants belong to the engine test).
func TestNNNodes(t *testing.T) {
	if _, err := os.Stat(nnTestData); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ONNX test data missing: %v", err)
		}
		t.Skipf("ONNX test data missing: %v", err)
	}
	for _, threads := range []int{1, 3} {
		ctx := &Context{Threads: threads}
		for _, p := range nnNodeTestPrefixes {
			dirs, _ := filepath.Glob(filepath.Join(nnTestData, p+"*"))
			for _, dir := range dirs {
				name := fmt.Sprintf("t%d/%s/%s", threads, filepath.Base(filepath.Dir(dir)), filepath.Base(dir))
				if strings.HasSuffix(dir, "_expanded") {
					continue
				}
				t.Run(name, func(t *testing.T) { nnRunNodeTest(t, dir, ctx) })
			}
		}
	}
}

// TestNNOrtCases runs the single-node cases of testdata/nn_ort, whose
// expected outputs were produced by ONNX Runtime 1.30 (see make.py there),
// within the engine's cross-check tolerance.
func TestNNOrtCases(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "nn_ort", "*", "model.onnx"))
	if len(dirs) == 0 {
		t.Fatal("no cases in testdata/nn_ort")
	}
	for _, threads := range []int{1, 2} {
		ctx := &Context{Threads: threads}
		for _, m := range dirs {
			dir := filepath.Dir(m)
			t.Run(fmt.Sprintf("t%d/%s", threads, filepath.Base(dir)), func(t *testing.T) { nnRunNodeTestTol(t, dir, ctx, 1e-4, 1e-5) })
		}
	}
}
