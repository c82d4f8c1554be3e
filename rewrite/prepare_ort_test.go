package rewrite_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// prepareModelCase is a real model run through Prepare: dims gives the
// value of every symbolic input dimension, in order.
type prepareModelCase struct {
	name   string
	path   func(t *testing.T) string
	dims   []int
	target int
	tol    float64
}

// TestPrepareModelsORT checks that the prepared float model computes what
// the original does, both run by ONNX Runtime, and that the checker accepts
// it. The checker is the Debian python3-onnx 1.12, which knows opsets up to
// 17 only: models prepared for a later opset are checked by ONNX Runtime
// alone.
func TestPrepareModelsORT(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	tm := oracle.TestModelsDir()
	file := func(rel string) func(t *testing.T) string {
		return func(t *testing.T) string { return filepath.Join(tm, rel) }
	}
	ppocr := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string { oracle.Require(t, oracle.PPOCROracle); return oracle.PPOCRModel(name) }
	}
	cases := []prepareModelCase{
		{"ppocr-det", ppocr("det"), []int{1, 64, 96}, 13, 1e-4},
		{"ppocr-rec", ppocr("rec"), []int{2, 160}, 13, 1e-4},
		{"ppocr-rec-opset21", ppocr("rec"), []int{1, 96}, 21, 1e-4},
		{"ppocr-cls", ppocr("cls"), []int{2, 48, 192}, 13, 1e-4},
		{"fmnist-cnn", file("fmnist/cnn.onnx"), []int{2}, 13, 1e-4},
		{"fmnist-resnet", file("fmnist/resnet.onnx"), []int{2}, 13, 1e-4},
		{"fmnist-mobilenetv2", file("fmnist/mobilenetv2.onnx"), []int{2}, 13, 1e-4},
		{"fmnist-vit", file("fmnist/vit.onnx"), []int{2}, 13, 1e-4},
		{"edge-constant-weights", file("edge/constant_weights.onnx"), []int{2}, 13, 1e-5},
		{"edge-if-weights", file("edge/if_weights.onnx"), nil, 13, 1e-5},
		{"edge-loop-weights", file("edge/loop_weights.onnx"), []int{2}, 13, 1e-5},
		{"edge-odd-names", file("edge/odd_names.onnx"), []int{2}, 13, 1e-5},
		{"edge-shared-init", file("edge/shared_init.onnx"), []int{2}, 13, 1e-5},
		{"torchvision-mobilenet_v2", func(t *testing.T) string { return oracle.TorchvisionModel(t, "mobilenet_v2") }, []int{1}, 13, 1e-4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path(t)
			mp, err := onnxio.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
			m, err := graph.FromProto(mp)
			if err != nil {
				t.Fatal(err)
			}
			before := countOps(m)
			if err := rewrite.RunPasses(m, rewrite.Prepare(c.target), nil); err != nil {
				t.Fatal(err)
			}
			after := countOps(m)
			if b, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(mp); !bytes.Equal(b, orig) {
				t.Error("Prepare modified the ModelProto it was built from")
			}
			if got := m.Opset(""); got < c.target {
				t.Errorf("opset %d after prepare, want >= %d", got, c.target)
			}
			if after["Constant"] != 0 {
				t.Errorf("%d Constant nodes left", after["Constant"])
			}
			for _, n := range nodesOf(m, "Identity") {
				// Only input -> Identity -> output (a Loop body's
				// condition, say) may stay: there is nothing to rename.
				if n.Inputs[0].Producer != nil || !n.Graph.IsOutput(n.Outputs[0]) {
					t.Errorf("Identity %s left", n)
				}
			}
			if after["BatchNormalization"] > 0 && after["BatchNormalization"] >= before["BatchNormalization"] {
				t.Errorf("no BatchNormalization folded: %d before, %d after", before["BatchNormalization"], after["BatchNormalization"])
			}
			out, err := m.ToProto()
			if err != nil {
				t.Fatal(err)
			}
			// Prepare is idempotent: a second run changes nothing, byte for byte.
			again := mustGraph(t, out)
			if err := rewrite.RunPasses(again, rewrite.Prepare(c.target), nil); err != nil {
				t.Fatal(err)
			}
			out2, err := again.ToProto()
			if err != nil {
				t.Fatal(err)
			}
			b1, _ := proto.MarshalOptions{Deterministic: true}.Marshal(out)
			b2, _ := proto.MarshalOptions{Deterministic: true}.Marshal(out2)
			if !bytes.Equal(b1, b2) {
				t.Errorf("a second Prepare changed the model (%d -> %d bytes)", len(b1), len(b2))
			}
			prepared := filepath.Join(t.TempDir(), "prepared.onnx")
			if err := onnxio.Save(prepared, out, onnxio.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			inputs := prepareInputs(t, m, c.dims)
			want, err := oracle.ORT(path, inputs, oracle.ORTOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := oracle.ORT(prepared, inputs, oracle.ORTOptions{})
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for name, w := range want {
				g := got[name]
				if g == nil {
					t.Fatalf("prepared model lost output %q", name)
				}
				d, err := maxAbsDiff(w, g)
				if err != nil {
					t.Fatalf("output %q: %v", name, err)
				}
				worst = math.Max(worst, d)
			}
			t.Logf("%s: opset %d -> %d, nodes %d -> %d, max abs diff %.3g", c.name, mp.GetOpsetImport()[0].GetVersion(), m.Opset(""), sum(before), sum(after), worst)
			if worst > c.tol {
				t.Errorf("max abs diff %g > %g", worst, c.tol)
			}
			if c.target <= 17 && oracle.Available(oracle.PythonONNXOracle) == nil {
				if err := oracle.CheckModel(prepared, true); err != nil {
					t.Errorf("checker: %v", err)
				} else {
					t.Logf("%s: onnx.checker full_check passed", c.name)
				}
			}
		})
	}
}

func nodesOf(m *graph.Model, op string) []*graph.Node {
	var ns []*graph.Node
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			if n.OpType == op {
				ns = append(ns, n)
			}
		}
		return nil
	})
	return ns
}

func countOps(m *graph.Model) map[string]int {
	c := map[string]int{}
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			c[n.OpType]++
		}
		return nil
	})
	return c
}

func sum(c map[string]int) int {
	s := 0
	for _, n := range c {
		s += n
	}
	return s
}

// prepareInputs makes one uniform [-1, 1) float tensor per graph input that
// is not an initializer; symbolic dimensions take the values of dims in
// order.
func prepareInputs(t *testing.T, m *graph.Model, dims []int) map[string]*tensor.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	in := map[string]*tensor.Tensor{}
	k := 0
	for _, v := range m.Graph.Inputs {
		if v.Initializer != nil {
			continue
		}
		var shape []int
		for _, d := range v.Type.GetTensorType().GetShape().GetDim() {
			if d.GetDimParam() != "" || d.GetDimValue() == 0 {
				if k >= len(dims) {
					t.Fatalf("input %q: no size for symbolic dimension %d", v.Name, k)
				}
				shape = append(shape, dims[k])
				k++
				continue
			}
			shape = append(shape, int(d.GetDimValue()))
		}
		x := tensor.New(tensor.Float, shape...)
		for i := range x.Float32() {
			x.Float32()[i] = float32(r.Float64()*2 - 1)
		}
		in[v.Name] = x
	}
	return in
}

func maxAbsDiff(a, b *tensor.Tensor) (float64, error) {
	if a.Len() != b.Len() || a.DType != b.DType {
		return 0, errShape{a, b}
	}
	switch x := a.Data.(type) {
	case []float32:
		y := b.Float32()
		d := 0.0
		for i := range x {
			d = math.Max(d, math.Abs(float64(x[i])-float64(y[i])))
			if math.IsNaN(float64(x[i])) != math.IsNaN(float64(y[i])) {
				return math.Inf(1), nil
			}
		}
		return d, nil
	case []bool:
		for i, v := range x {
			if v != b.Data.([]bool)[i] {
				return 1, nil
			}
		}
		return 0, nil
	case []int64:
		y := b.Int64()
		d := 0.0
		for i := range x {
			d = math.Max(d, math.Abs(float64(x[i]-y[i])))
		}
		return d, nil
	}
	return 0, errShape{a, b}
}

type errShape struct{ a, b *tensor.Tensor }

func (e errShape) Error() string { return "cannot compare " + e.a.String() + " with " + e.b.String() }
