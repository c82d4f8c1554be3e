package kernels

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// fuseNode is a default-domain node (engNode puts nodes in the test domain).
func fuseNode(op string, in, out []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	return &onnx.NodeProto{Name: proto.String(op + "_" + out[0]), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func fuseRandom(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// fuseCount is how many steps of the main graph carry a fused activation.
func fuseCount(e *Engine) int {
	n := 0
	for _, s := range e.main.steps {
		if s.producer != s.node {
			n++
		}
	}
	return n
}

// A Conv followed by an activation must give the same outputs fused and
// unfused, and with Fuse the hook must still see the activation's output
// (produced by the activation node), but not the Conv output it replaced.
func TestEngineFuseConvActivation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	conv := fuseNode("Conv", []string{"x", "w", "b"}, []string{"c"}, engIntsAttr("pads", 1, 1, 1, 1))
	inits := []*onnx.TensorProto{
		engFloatInit("w", fuseRandom(r, 3*2*3*3), 3, 2, 3, 3),
		engFloatInit("b", fuseRandom(r, 3), 3),
		engFloatInit("lo", []float32{-0.5}),
		engFloatInit("hi", []float32{0.75}),
		engFloatInit("bad", []float32{-1}),
	}
	constLo := fuseNode("Constant", nil, []string{"klo"}, &onnx.AttributeProto{Name: proto.String("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: engFloatInit("", []float32{0})})
	in := []*onnx.ValueInfoProto{engVI("x", tensor.Float, 1, 2, 5, 5), engVI("h", tensor.Float, engScalarShape()...)}
	y := engVI("y", tensor.Float)
	cases := []struct {
		name   string
		opset  int64
		nodes  []*onnx.NodeProto
		out    []*onnx.ValueInfoProto
		fused  int
		lo, hi float32 // the activation's range, to check the output
	}{
		{"relu", 17, []*onnx.NodeProto{conv, fuseNode("Relu", []string{"c"}, []string{"y"})}, nil, 1, 0, float32(math.Inf(1))},
		{"clip initializers", 17, []*onnx.NodeProto{conv, fuseNode("Clip", []string{"c", "lo", "hi"}, []string{"y"})}, nil, 1, -0.5, 0.75},
		{"clip constant min only", 13, []*onnx.NodeProto{constLo, conv, fuseNode("Clip", []string{"c", "klo"}, []string{"y"})}, nil, 1, 0, float32(math.Inf(1))},
		{"clip attributes", 6, []*onnx.NodeProto{conv, fuseNode("Clip", []string{"c"}, []string{"y"}, engFloatAttr("min", -0.25), engFloatAttr("max", 0.5))}, nil, 1, -0.25, 0.5},
		{"clip bound is an input", 17, []*onnx.NodeProto{conv, fuseNode("Clip", []string{"c", "lo", "h"}, []string{"y"})}, nil, 0, -0.5, float32(math.Inf(1))},
		{"clip min above max", 17, []*onnx.NodeProto{conv, fuseNode("Clip", []string{"c", "lo", "bad"}, []string{"y"})}, nil, 0, -1, -1},
		{"conv output is a graph output", 17, []*onnx.NodeProto{conv, fuseNode("Relu", []string{"c"}, []string{"y"})}, []*onnx.ValueInfoProto{engVI("c", tensor.Float)}, 0, float32(math.Inf(-1)), float32(math.Inf(1))},
		// both readers are elementwise: the chain takes the diamond
		{"conv output read twice in a chain", 17, []*onnx.NodeProto{conv, fuseNode("Relu", []string{"c"}, []string{"r"}), fuseNode("Add", []string{"r", "c"}, []string{"y"})}, nil, 1, float32(math.Inf(-1)), float32(math.Inf(1))},
		{"conv output read outside the chain", 17, []*onnx.NodeProto{conv, fuseNode("Relu", []string{"c"}, []string{"y"}), fuseNode("Transpose", []string{"c"}, []string{"z"})}, []*onnx.ValueInfoProto{engVI("z", tensor.Float)}, 0, 0, float32(math.Inf(1))},
	}
	x := tensor.FromFloat32(fuseRandom(r, 2*5*5), 1, 2, 5, 5)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mp := &onnx.ModelProto{
				IrVersion:   proto.Int64(8),
				OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(tc.opset)}},
				Graph:       engGraph(tc.name, tc.nodes, in, append([]*onnx.ValueInfoProto{y}, tc.out...), inits...),
			}
			m, err := graph.FromProto(mp)
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string]*tensor.Tensor{"x": x, "h": tensor.FromFloat32([]float32{1})}
			run := func(fuse bool) (map[string]*tensor.Tensor, map[string]*graph.Node) {
				e, err := NewEngine(m, Options{Threads: 2, Fuse: fuse})
				if err != nil {
					t.Fatal(err)
				}
				if got := fuseCount(e); fuse && got != tc.fused || !fuse && got != 0 {
					t.Errorf("Fuse=%v: %d fused steps, want %d", fuse, got, tc.fused)
				}
				seen := map[string]*graph.Node{}
				out, err := e.Run(feeds, func(name string, n *graph.Node, _ *tensor.Tensor) error {
					seen[name] = n
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return out, seen
			}
			want, _ := run(false)
			got, seen := run(true)
			for name, w := range want {
				g := got[name].Float32()
				for i, v := range w.Float32() {
					if math.Abs(float64(g[i]-v)) > 1e-5 {
						t.Fatalf("%s[%d]: fused %v, unfused %v", name, i, g[i], v)
					}
				}
			}
			hit := false
			for _, v := range got["y"].Float32() {
				if v < tc.lo || v > tc.hi {
					t.Fatalf("y has %v outside [%v, %v]", v, tc.lo, tc.hi)
				}
				hit = hit || v == tc.lo || v == tc.hi
			}
			bounded := !math.IsInf(float64(tc.lo), -1) || !math.IsInf(float64(tc.hi), 1)
			if !hit && tc.fused > 0 && bounded {
				t.Errorf("no output reached a bound of [%v, %v]: the test does not exercise the activation", tc.lo, tc.hi)
			}
			if n := seen["y"]; n == nil || n.OpType == "Conv" {
				t.Errorf("hook saw y from %v, want the activation node", n)
			}
			if _, ok := seen["c"]; ok == (tc.fused > 0) {
				t.Errorf("hook saw the Conv output: %v, want %v", ok, tc.fused == 0)
			}
		})
	}
}

// Whole models give the same outputs with and without fusion. The
// Fashion-MNIST models put BatchNormalization between Conv and activation
// (nothing to fuse), the torchvision ones fold it into the Conv.
func TestEngineFuseModels(t *testing.T) {
	cases := []struct {
		name     string
		path     func(t *testing.T) string
		minFused int
		shapes   map[string][]int
	}{
		{"fmnist_mobilenetv2", func(*testing.T) string { return filepath.Join(oracle.TestModelsDir(), "fmnist", "mobilenetv2.onnx") }, 0, nil},
		{"fmnist_resnet", func(*testing.T) string { return filepath.Join(oracle.TestModelsDir(), "fmnist", "resnet.onnx") }, 0, nil},
		{"mobilenet_v2", func(t *testing.T) string { return oracle.TorchvisionModel(t, "mobilenet_v2") }, 30, nil},
		{"resnet18", func(t *testing.T) string { return oracle.TorchvisionModel(t, "resnet18") }, 8, nil},
		// affine + HardSwish chains after nearly every Conv
		{"ppocr_det", modelPPOCR("det"), 40, map[string][]int{"x": {1, 3, 96, 128}}},
		{"ppocr_rec", modelPPOCR("rec"), 25, map[string][]int{"x": {1, 3, 48, 160}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mp, err := onnxio.Load(tc.path(t))
			if err != nil {
				t.Fatal(err)
			}
			m, err := graph.FromProto(mp)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := NewEngine(m, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			fused, err := NewEngine(m, Options{Threads: 2, Fuse: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range fused.main.steps {
				if s.node.OpType == "Constant" {
					t.Fatalf("Constant %s still runs with Fuse: it should be made at planning", s.node)
				}
			}
			if n := fuseCount(fused); n < tc.minFused {
				t.Errorf("%d activations fused, want at least %d", n, tc.minFused)
			}
			feeds, err := modelInputs(plain.Inputs(), map[string]int{}, tc.shapes)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			for _, x := range feeds {
				if d, ok := x.Data.([]float32); ok {
					copy(d, fuseRandom(r, len(d)))
				}
			}
			want, err := plain.Run(feeds, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fused.Run(feeds, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				g := got[name].Float32()
				for i, v := range w.Float32() {
					if d := math.Abs(float64(g[i] - v)); d > 1e-5*max(1, math.Abs(float64(v))) {
						t.Fatalf("%s[%d]: fused %v, unfused %v", name, i, g[i], v)
					}
				}
			}
			t.Logf("%d activations fused", fuseCount(fused))
		})
	}
}
