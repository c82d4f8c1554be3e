package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// conformanceModels lists every model.onnx of ONNX's test data plus the
// three PP-OCR models.
func conformanceModels(t *testing.T) []string {
	oracle.Require(t, oracle.TestDataOracle)
	oracle.Require(t, oracle.PPOCROracle)
	var paths []string
	for _, dir := range []string{"node", "pytorch-converted", "pytorch-operator", "simple"} {
		ps, err := filepath.Glob(filepath.Join(oracle.TestDataDir(), dir, "*", "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, ps...)
	}
	if len(paths) < 1000 {
		t.Fatalf("found only %d conformance models", len(paths))
	}
	for _, n := range []string{"det", "rec", "cls"} {
		paths = append(paths, oracle.PPOCRModel(n))
	}
	return paths
}

// outName gives each converted model its own file named after its test.
func outName(dir, in string) string {
	return filepath.Join(dir, strings.NewReplacer("/", "_").Replace(strings.TrimPrefix(in, "/")))
}

// TestConvertRoundTripEqual runs `ptq convert` on every conformance and
// PP-OCR model and checks, in one python process, that onnx.load sees the
// same protobuf in the output as in the input.
func TestConvertRoundTripEqual(t *testing.T) {
	oracle.Require(t, oracle.PythonONNXOracle)
	paths := conformanceModels(t)
	dir := t.TempDir()
	var pairs [][2]string
	for _, in := range paths {
		out := outName(dir, in)
		var so, se bytes.Buffer
		if code := run([]string{"ptq", "convert", in, out}, &so, &se); code != 0 {
			t.Errorf("ptq convert %s: exit %d: %s", in, code, se.String())
			continue
		}
		pairs = append(pairs, [2]string{in, out})
	}
	errs, err := oracle.ProtoEqual(pairs)
	if err != nil {
		t.Fatal(err)
	}
	equal := 0
	for _, e := range errs {
		if e != nil {
			t.Error(e)
		} else {
			equal++
		}
	}
	t.Logf("%d of %d models round-tripped equal as onnx.load sees them", equal, len(paths))
}

// readPB reads one ONNX test-data tensor file.
func readPB(t *testing.T, path string) *onnx.TensorProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp := &onnx.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tp
}

// sameOutputs reports whether two ORT results are bit for bit identical.
func sameOutputs(t *testing.T, a, b map[string]*tensor.Tensor) bool {
	t.Helper()
	if len(a) != len(b) {
		return false
	}
	for k, ta := range a {
		tb := b[k]
		if tb == nil {
			return false
		}
		pa, err := onnxio.FromTensor(k, ta)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := onnxio.FromTensor(k, tb)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(pa, pb) {
			return false
		}
	}
	return true
}

// TestConvertSameORTOutputs runs a sample of the conformance models (every
// 12th, to keep node start-ups few) before and after `ptq convert` in ONNX
// Runtime on their own test data and wants identical outputs wherever ONNX
// Runtime runs the original.
func TestConvertSameORTOutputs(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	paths := conformanceModels(t)
	paths = paths[:len(paths)-3]
	dir := t.TempDir()
	ran, same := 0, 0
	for i := 0; i < len(paths); i += 12 {
		in := paths[i]
		ins, _ := filepath.Glob(filepath.Join(filepath.Dir(in), "test_data_set_0", "input_*.pb"))
		sort.Strings(ins)
		mp, err := onnxio.Load(in)
		if err != nil {
			t.Fatal(err)
		}
		feed := map[string]*tensor.Tensor{}
		inits := map[string]bool{}
		for _, x := range mp.GetGraph().GetInitializer() {
			inits[x.GetName()] = true
		}
		var names []string
		for _, v := range mp.GetGraph().GetInput() {
			if !inits[v.GetName()] {
				names = append(names, v.GetName())
			}
		}
		if len(ins) != len(names) {
			continue
		}
		ok := true
		for k, p := range ins {
			x, err := onnxio.ToTensor(readPB(t, p))
			if err != nil {
				ok = false
				break
			}
			feed[names[k]] = x
		}
		if !ok {
			continue
		}
		want, err := oracle.ORT(in, feed, oracle.ORTOptions{})
		if err != nil {
			continue // ONNX Runtime does not run the original
		}
		out := outName(dir, in)
		var so, se bytes.Buffer
		if code := run([]string{"ptq", "convert", in, out}, &so, &se); code != 0 {
			t.Fatalf("ptq convert %s: %s", in, se.String())
		}
		got, err := oracle.ORT(out, feed, oracle.ORTOptions{})
		ran++
		if err != nil {
			t.Errorf("%s: ONNX Runtime runs the original but not the converted model: %v", in, err)
			continue
		}
		if !sameOutputs(t, want, got) {
			t.Errorf("%s: outputs differ after ptq convert", in)
			continue
		}
		same++
	}
	if ran < 20 {
		t.Errorf("only %d sampled models ran in ONNX Runtime", ran)
	}
	t.Logf("%d of %d sampled models ran in ONNX Runtime with identical outputs", same, ran)
}

// TestConvertExternalData packs PP-OCR det's weights into external data:
// the result loads back equal, the data file exists, and ONNX Runtime gives
// the same outputs as for the original.
func TestConvertExternalData(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	oracle.Require(t, oracle.PythonONNXOracle)
	oracle.Require(t, oracle.PPOCROracle)
	in := oracle.PPOCRModel("cls")
	dir := t.TempDir()
	out := filepath.Join(dir, "cls.onnx")
	var so, se bytes.Buffer
	if code := run([]string{"ptq", "convert", in, out, "--external-data", "--external-data-threshold", "0"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	st, err := os.Stat(out + ".data")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 100000 {
		t.Errorf("external data file holds only %d bytes", st.Size())
	}
	so.Reset()
	if code := run([]string{"ptq", "inspect", "--json", out}, &so, &se); code != 0 {
		t.Fatalf("inspect: %s", se.String())
	}
	if !strings.Contains(so.String(), `"cls.onnx.data"`) {
		t.Errorf("inspect does not list the external data file:\n%s", so.String())
	}
	// onnx.load marks tensors it read from external data with an explicit
	// data_location DEFAULT, which the original never had, so python compares
	// the original with the model unpacked again by ptq; Go compares the
	// loaded protobufs directly.
	a, err := onnxio.Load(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnxio.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, b) {
		t.Error("the external-data model does not load back equal to the original")
	}
	back := filepath.Join(dir, "back.onnx")
	if code := run([]string{"ptq", "convert", out, back}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	errs, err := oracle.ProtoEqual([][2]string{{in, back}})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil {
		t.Error(errs[0])
	}
	r := rand.New(rand.NewSource(1))
	x := tensor.New(tensor.Float, 1, 3, 48, 192)
	for i := range x.Float32() {
		x.Float32()[i] = r.Float32()*2 - 1
	}
	feed := map[string]*tensor.Tensor{"x": x}
	want, err := oracle.ORT(in, feed, oracle.ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := oracle.ORT(out, feed, oracle.ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sameOutputs(t, want, got) {
		t.Error("outputs differ with external data")
	}
}
