package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// chainConv describes the Conv at the head of a test chain.
type chainConv struct {
	name              string
	c, m, group, k, s int
	h, w              int
}

// chainCase is a chain of nodes after Conv "c" that ends in "y". Operands
// named in inits are made as initializers of the given shapes; "r" is a
// residual of the Conv's output shape produced by a second Conv that comes
// after the chain's first node in the stored order.
type chainCase struct {
	name  string
	nodes []*onnx.NodeProto
	inits map[string][]int64
	// fused is how many chain nodes must run inside the Conv (the rest, if
	// any, fall back to running one by one at run time).
	fused  int
	outVal []string // extra graph outputs
}

// Fused chains must give exactly the outputs of the unfused nodes, on
// every Conv path (GEMM with im2col, 1x1, grouped, depthwise 2-D with
// stride 1 and 2, 5x5), odd sizes, 1 and 2 threads; operands that do not
// fit the fused form fall back to running the nodes one by one.
func TestEngineChainMatchesUnfused(t *testing.T) {
	convs := []chainConv{
		{"gemm3x3", 3, 5, 1, 3, 1, 7, 9},
		// rows of 64 values or more run the register-resident program
		{"gemm3x3long", 3, 5, 1, 3, 1, 12, 17},
		{"pointwise", 6, 4, 1, 1, 1, 5, 11},
		{"grouped", 4, 6, 2, 3, 2, 9, 7},
		{"depthwise3x3s1", 6, 6, 6, 3, 1, 6, 21},
		{"depthwise3x3s2", 5, 5, 5, 3, 2, 11, 19},
		{"depthwise5x5", 4, 4, 4, 5, 1, 8, 13},
		// rows of 256 outputs or more are finished row by row
		{"depthwise3x3s1wide", 3, 3, 3, 3, 1, 3, 263},
		{"depthwise3x3s2wide", 2, 2, 2, 3, 2, 4, 517},
	}
	n := fuseNode
	hardSwish := []*onnx.NodeProto{
		n("Mul", []string{"s1", "c"}, []string{"a1"}),
		n("Add", []string{"a1", "b1"}, []string{"a2"}),
		n("Add", []string{"a2", "three"}, []string{"a3"}),
		n("Clip", []string{"a3", "zero", "six"}, []string{"a4"}),
		n("Mul", []string{"a2", "a4"}, []string{"a5"}),
		n("Div", []string{"a5", "six"}, []string{"a6"}),
		n("Mul", []string{"s2", "a6"}, []string{"a7"}),
		n("Add", []string{"a7", "b2"}, []string{"y"}),
	}
	ppocr := map[string][]int64{"s1": {1}, "b1": {1}, "three": nil, "zero": nil, "six": nil, "s2": {1}, "b2": {1}}
	cases := []chainCase{
		{name: "relu", nodes: []*onnx.NodeProto{n("Relu", []string{"c"}, []string{"y"})}, fused: 1},
		{name: "ppocr affine hardswish", nodes: hardSwish, inits: ppocr, fused: 8},
		{name: "residual add relu", nodes: []*onnx.NodeProto{
			n("Add", []string{"c", "r"}, []string{"a1"}),
			n("Relu", []string{"a1"}, []string{"y"}),
		}, fused: 2},
		{name: "per-channel and reversed", nodes: []*onnx.NodeProto{
			n("Mul", []string{"c", "pc4"}, []string{"a1"}),
			n("Sub", []string{"pc3", "a1"}, []string{"a2"}),
			n("Div", []string{"two", "a2"}, []string{"a3"}),
			n("Sub", []string{"a3", "two"}, []string{"a4"}),
			n("Clip", []string{"a4", "lo", "hi"}, []string{"y"}),
		}, inits: map[string][]int64{"pc4": {1, -1, 1, 1}, "pc3": {-1, 1, 1}, "two": nil, "lo": nil, "hi": nil}, fused: 5},
		{name: "activations", nodes: []*onnx.NodeProto{
			n("LeakyRelu", []string{"c"}, []string{"a1"}, engFloatAttr("alpha", 0.3)),
			n("HardSigmoid", []string{"a1"}, []string{"a2"}, engFloatAttr("alpha", 0.4), engFloatAttr("beta", 0.45)),
			n("Mul", []string{"a2", "a2"}, []string{"a3"}),
			n("Sigmoid", []string{"a3"}, []string{"a4"}),
			n("HardSwish", []string{"a4"}, []string{"y"}),
		}, fused: 5},
		{name: "squeeze-excite operand falls back", nodes: []*onnx.NodeProto{
			n("Relu", []string{"c"}, []string{"a1"}),
			n("Mul", []string{"a1", "big"}, []string{"y"}),
		}, inits: map[string][]int64{"big": {2, -1, -2, -3}}, fused: 1},
		{name: "intermediate is a graph output", nodes: []*onnx.NodeProto{
			n("Relu", []string{"c"}, []string{"y"}),
			n("Add", []string{"y", "two"}, []string{"z"}),
		}, inits: map[string][]int64{"two": nil}, fused: 1, outVal: []string{"z"}},
	}
	for _, cv := range convs {
		for _, tc := range cases {
			t.Run(cv.name+"/"+tc.name, func(t *testing.T) { testChain(t, cv, tc) })
		}
	}
}

func testChain(t *testing.T, cv chainConv, tc chainCase) {
	r := rand.New(rand.NewPCG(5, 6))
	oh, ow := (cv.h+2*(cv.k/2)-cv.k)/cv.s+1, (cv.w+2*(cv.k/2)-cv.k)/cv.s+1
	p := int64(cv.k / 2)
	convAttrs := func() []*onnx.AttributeProto {
		return []*onnx.AttributeProto{engIntsAttr("pads", p, p, p, p), engIntsAttr("strides", int64(cv.s), int64(cv.s)), engIntAttr("group", int64(cv.group))}
	}
	conv := fuseNode("Conv", []string{"x", "w", "b"}, []string{"c"}, convAttrs()...)
	inits := []*onnx.TensorProto{
		engFloatInit("w", fuseRandom(r, cv.m*cv.c/cv.group*cv.k*cv.k), int64(cv.m), int64(cv.c/cv.group), int64(cv.k), int64(cv.k)),
		engFloatInit("b", fuseRandom(r, cv.m), int64(cv.m)),
	}
	consts := map[string]float32{"three": 3, "zero": 0, "six": 6, "two": 2, "lo": -0.8, "hi": 1.1}
	outShape := []int64{1, int64(cv.m), int64(oh), int64(ow)}
	for name, dims := range tc.inits {
		if v, ok := consts[name]; ok {
			inits = append(inits, engFloatInit(name, []float32{v}))
			continue
		}
		shape := make([]int64, len(dims))
		count := 1
		for i, d := range dims {
			shape[i] = d
			if d < 0 { // -k: dimension k of the Conv's output
				shape[i] = outShape[-d]
			}
			count *= int(shape[i])
		}
		inits = append(inits, engFloatInit(name, fuseRandom(r, count), shape...))
	}
	nodes := []*onnx.NodeProto{conv}
	nodes = append(nodes, tc.nodes[0])
	// The residual's producer comes after the chain's first node.
	nodes = append(nodes, fuseNode("Conv", []string{"x", "w2"}, []string{"r"}, convAttrs()...))
	inits = append(inits, engFloatInit("w2", fuseRandom(r, cv.m*cv.c/cv.group*cv.k*cv.k), int64(cv.m), int64(cv.c/cv.group), int64(cv.k), int64(cv.k)))
	nodes = append(nodes, tc.nodes[1:]...)
	outs := []*onnx.ValueInfoProto{engVI("y", tensor.Float)}
	for _, name := range tc.outVal {
		outs = append(outs, engVI(name, tensor.Float))
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       engGraph(tc.name, nodes, []*onnx.ValueInfoProto{engVI("x", tensor.Float, 1, cv.c, cv.h, cv.w)}, outs, inits...),
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromFloat32(fuseRandom(r, cv.c*cv.h*cv.w), 1, cv.c, cv.h, cv.w)
	plain, err := NewEngine(m, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Run(map[string]*tensor.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		fused, err := NewEngine(m, Options{Threads: threads, Fuse: true})
		if err != nil {
			t.Fatal(err)
		}
		var chain *convChainOp
		for _, s := range fused.main.steps {
			if c, ok := s.op.(*convChainOp); ok && s.node.Outputs[0].Name == "c" {
				chain = c
			}
		}
		if chain == nil {
			t.Fatalf("no chain fused after the Conv")
		}
		shape := []int{1, cv.m, oh, ow}
		in := make([]*tensor.Tensor, 3, 3+len(tc.inits))
		step := fusedStepFor(fused, "c")
		for _, name := range step.in[3:] {
			c := fused.main.consts[name]
			if name == "r" {
				c = tensor.New(tensor.Float, shape...)
			}
			in = append(in, c)
		}
		if _, k := chain.chain.bind(shape, in); k != tc.fused {
			t.Errorf("%d nodes bound into the Conv, want %d", k, tc.fused)
		}
		// Twice: the second run reuses buffers, which must not leak in.
		for run := range 2 {
			got, err := fused.Run(map[string]*tensor.Tensor{"x": x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				g := got[name].Float32()
				for i, v := range w.Float32() {
					if g[i] != v && !(math.IsNaN(float64(v)) && math.IsNaN(float64(g[i]))) {
						t.Fatalf("threads=%d run %d: %s[%d] fused %v, unfused %v", threads, run, name, i, g[i], v)
					}
				}
			}
		}
	}
}

// fusedStepFor is the step that runs the Conv producing name.
func fusedStepFor(e *Engine, name string) *engineStep {
	for i := range e.main.steps {
		s := &e.main.steps[i]
		if s.node.OpType == "Conv" && s.node.Outputs[0].Name == name {
			return s
		}
	}
	panic(fmt.Sprintf("no step for Conv %q", name))
}
