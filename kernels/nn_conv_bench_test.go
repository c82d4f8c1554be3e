package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Benchmarks for the Conv shapes the fast paths were written for; run with
//
//	go test ./kernels -run '^$' -bench 'Conv' -benchtime 20x

// BenchmarkConvShapes times single Conv layers of ResNet-18 (im2col with
// shifted row copies), MobileNetV2 (whole-plane depthwise) and PP-OCR (5x5
// depthwise), one thread.
func BenchmarkConvShapes(b *testing.B) {
	cases := []struct {
		name        string
		x, w        []int
		group, s, p int
	}{
		{"resnet18_layer1_3x3", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, 1, 1, 1},
		{"resnet18_layer3_3x3", []int{1, 256, 14, 14}, []int{256, 256, 3, 3}, 1, 1, 1},
		{"resnet18_layer2_3x3s2", []int{1, 64, 56, 56}, []int{128, 64, 3, 3}, 1, 2, 1},
		{"mobilenetv2_dw112", []int{1, 32, 112, 112}, []int{32, 1, 3, 3}, 32, 1, 1},
		{"mobilenetv2_dw56s2", []int{1, 144, 56, 56}, []int{144, 1, 3, 3}, 144, 2, 1},
		{"mobilenetv2_dw7", []int{1, 960, 7, 7}, []int{960, 1, 3, 3}, 960, 1, 1},
		{"ppocr_dw5x5", []int{1, 96, 40, 40}, []int{96, 1, 5, 5}, 96, 1, 2},
		{"pointwise_96x24", []int{1, 24, 56, 56}, []int{96, 24, 1, 1}, 1, 1, 0},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		x, w, bias := nnRandTensor(r, c.x...), nnRandTensor(r, c.w...), nnRandTensor(r, c.w[0])
		s, p := c.s, c.p
		op := &convOp{win: nnWindow{strides: []int{s, s}, pads: []int{p, p, p, p}}, group: c.group, act: nnAct{kind: nnActClip, lo: 0, hi: 6}}
		ctx := &Context{Threads: 1}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := op.Run(ctx, []*tensor.Tensor{x, w, bias}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConvChain times a PP-OCR block (1x1 Conv, then Mul, Add,
// HardSwish as Add/Clip/Mul/Div, Mul, Add) with and without Options.Fuse.
func BenchmarkConvChain(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const c, h, w = 48, 80, 80
	n := fuseNode
	nodes := []*onnx.NodeProto{
		n("Conv", []string{"x", "w", "b"}, []string{"c"}),
		n("Mul", []string{"s1", "c"}, []string{"a1"}),
		n("Add", []string{"a1", "b1"}, []string{"a2"}),
		n("Add", []string{"a2", "three"}, []string{"a3"}),
		n("Clip", []string{"a3", "zero", "six"}, []string{"a4"}),
		n("Mul", []string{"a2", "a4"}, []string{"a5"}),
		n("Div", []string{"a5", "six"}, []string{"a6"}),
		n("Mul", []string{"s2", "a6"}, []string{"a7"}),
		n("Add", []string{"a7", "b2"}, []string{"y"}),
	}
	inits := []*onnx.TensorProto{
		engFloatInit("w", fuseRandom(r, c*c), c, c, 1, 1), engFloatInit("b", fuseRandom(r, c), c),
		engFloatInit("s1", []float32{0.9}, 1), engFloatInit("b1", []float32{0.5}, 1), engFloatInit("s2", []float32{0.4}, 1),
		engFloatInit("b2", []float32{-0.1}, 1), engFloatInit("three", []float32{3}), engFloatInit("zero", []float32{0}), engFloatInit("six", []float32{6}),
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       engGraph("chain", nodes, []*onnx.ValueInfoProto{engVI("x", tensor.Float, 1, c, h, w)}, []*onnx.ValueInfoProto{engVI("y", tensor.Float)}, inits...),
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		b.Fatal(err)
	}
	x := map[string]*tensor.Tensor{"x": tensor.FromFloat32(fuseRandom(r, c*h*w), 1, c, h, w)}
	for _, fuse := range []bool{false, true} {
		e, err := NewEngine(m, Options{Threads: 1, Fuse: fuse})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("fuse=%v", fuse), func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Run(x, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
