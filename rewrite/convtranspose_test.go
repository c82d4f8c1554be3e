package rewrite_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// upsampleHead is PP-OCR's detection head in small: ConvTranspose with a
// bias written as a separate Add, BatchNormalization, Relu, a second
// ConvTranspose with its Add, and Sigmoid.
func upsampleHead(k int, strides []int64) *onnx.ModelProto {
	b := newBuilder()
	b.input("x", 1, 4, 5, 6)
	b.weight("w1", 0.3, 4, 3, k, k)
	b.init("b1", rnd(3, 1, 3, 1, 1))
	b.init("scale", positive(4, 3))
	b.init("shift", rnd(5, 3))
	b.init("mean", rnd(6, 3))
	b.init("var", positive(7, 3))
	b.weight("w2", 0.3, 3, 1, k, k)
	b.init("b2", tensor.FromFloat32([]float32{-0.1}, 1, 1, 1, 1))
	b.node("ConvTranspose", []string{"x", "w1"}, []string{"t1"}, graph.IntsAttr("strides", strides), graph.IntsAttr("kernel_shape", []int64{int64(k), int64(k)}))
	b.node("Add", []string{"t1", "b1"}, []string{"a1"})
	b.node("BatchNormalization", []string{"a1", "scale", "shift", "mean", "var"}, []string{"n1"})
	b.node("Relu", []string{"n1"}, []string{"r1"})
	b.node("ConvTranspose", []string{"r1", "w2"}, []string{"t2"}, graph.IntsAttr("strides", strides))
	b.node("Add", []string{"b2", "t2"}, []string{"a2"})
	b.node("Sigmoid", []string{"a2"}, []string{"y"})
	b.output("y")
	return b.model(13)
}

// TestConvTransposeToConv: with k == stride the head becomes 1x1 Convs and
// DepthToSpace (the two DepthToSpace merging into one), the bias Adds and
// the BatchNormalization fold, the activations move before the
// DepthToSpace, and the outputs stay the same.
// A ConvTranspose whose kernel overlaps (k > stride) is left alone.
func TestConvTransposeToConv(t *testing.T) {
	for _, c := range []struct {
		name      string
		k         int
		strides   []int64
		converted bool
	}{
		{"k2s2", 2, []int64{2, 2}, true},
		{"k3s3", 3, []int64{3, 3}, true},
		{"k3s2", 3, []int64{2, 2}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mp := upsampleHead(c.k, c.strides)
			m, err := graph.FromProto(proto.Clone(mp).(*onnx.ModelProto))
			if err != nil {
				t.Fatal(err)
			}
			if err := rewrite.RunPasses(m, rewrite.Prepare(13), nil); err != nil {
				t.Fatal(err)
			}
			if got := count(m, "Add") + count(m, "BatchNormalization"); got != 0 {
				t.Errorf("%d Add/BatchNormalization left, want them folded", got)
			}
			// The two DepthToSpace merge into one around the small second Conv.
			want := map[bool][3]int{true: {0, 2, 1}, false: {2, 0, 0}}[c.converted]
			got := [3]int{count(m, "ConvTranspose"), count(m, "Conv"), count(m, "DepthToSpace")}
			if got != want {
				t.Errorf("ConvTranspose, Conv, DepthToSpace = %v, want %v", got, want)
			}
			if c.converted {
				// Relu and Sigmoid read the Convs, so quantization can
				// fold or fuse them.
				for _, op := range []string{"Relu", "Sigmoid"} {
					for _, n := range m.Graph.Nodes {
						if n.OpType == op && n.Inputs[0].Producer.OpType != "Conv" {
							t.Errorf("%s reads %s, want a Conv", op, n.Inputs[0].Producer.OpType)
						}
					}
				}
			}
			in := map[string]*tensor.Tensor{"x": rnd(11, 1, 4, 5, 6)}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, roundTrip(t, m), in), 1e-5)
		})
	}
}

// TestFoldBiasAddShapes: only constants that add one value per output
// channel fold; one that broadcasts along the spatial axes stays an Add.
func TestFoldBiasAddShapes(t *testing.T) {
	for _, c := range []struct {
		name   string
		shape  []int
		folded bool
	}{
		{"channel", []int{3, 1, 1}, true},
		{"batch-channel", []int{1, 3, 1, 1}, true},
		{"scalar", []int{}, true},
		{"spatial", []int{1, 1, 1, 6}, false},
		{"full", []int{1, 3, 5, 6}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBuilder()
			b.input("x", 1, 4, 5, 6)
			b.weight("w", 0.3, 3, 4, 3, 3)
			b.weight("bias", 0.1, 3)
			b.init("c", rnd(2, c.shape...))
			b.node("Conv", []string{"x", "w", "bias"}, []string{"z"}, graph.IntsAttr("pads", []int64{1, 1, 1, 1}))
			b.node("Add", []string{"z", "c"}, []string{"y"})
			b.output("y")
			mp := b.model(13)
			m := mustGraph(t, proto.Clone(mp).(*onnx.ModelProto))
			if err := rewrite.FoldBiasAdd(m); err != nil {
				t.Fatal(err)
			}
			if got := count(m, "Add") == 0; got != c.folded {
				t.Errorf("folded = %v, want %v", got, c.folded)
			}
			in := map[string]*tensor.Tensor{"x": rnd(11, 1, 4, 5, 6)}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, roundTrip(t, m), in), 1e-5)
		})
	}
}

// TestConvTransposeToConvAttributes: only a ConvTranspose whose output
// pixels each come from one input pixel is rewritten, and whatever the
// attributes the model computes the same.
func TestConvTransposeToConvAttributes(t *testing.T) {
	for _, c := range []struct {
		name      string
		w         []int
		attrs     []*onnx.AttributeProto
		bias      bool
		converted bool
	}{
		{"k2s2-bias", []int{4, 3, 2, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 2})}, true, true},
		{"k4s4", []int{4, 2, 4, 4}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{4, 4})}, false, true},
		{"same-upper", []int{4, 3, 2, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 2}), graph.StringAttr("auto_pad", "SAME_UPPER")}, true, true},
		{"stride1", []int{4, 3, 2, 2}, nil, false, false},
		{"k2s2-pads", []int{4, 3, 2, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 2}), graph.IntsAttr("pads", []int64{1, 1, 0, 0})}, false, false},
		{"k2s2-output-padding", []int{4, 3, 2, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 2}), graph.IntsAttr("output_padding", []int64{1, 1})}, false, false},
		{"k2s2-group2", []int{4, 2, 2, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 2}), graph.IntAttr("group", 2)}, false, false},
		{"k2x3-s2x3", []int{4, 3, 2, 3}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 3})}, false, false},
		{"k2s2-dilated", []int{4, 3, 2, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2, 2}), graph.IntsAttr("dilations", []int64{2, 2})}, false, false},
		{"1d", []int{4, 3, 2}, []*onnx.AttributeProto{graph.IntsAttr("strides", []int64{2})}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBuilder()
			shape := []int64{1, 4, 5, 6}
			if len(c.w) == 3 {
				shape = []int64{1, 4, 5}
			}
			b.input("x", shape...)
			b.weight("w", 0.3, c.w...)
			ins := []string{"x", "w"}
			if c.bias {
				group := 1
				for _, a := range c.attrs {
					if a.GetName() == "group" {
						group = int(a.GetI())
					}
				}
				b.weight("b", 0.3, c.w[1]*group)
				ins = append(ins, "b")
			}
			b.node("ConvTranspose", ins, []string{"y"}, c.attrs...)
			b.output("y")
			mp := b.model(13)
			m := mustGraph(t, proto.Clone(mp).(*onnx.ModelProto))
			if err := rewrite.ConvTransposeToConv(m); err != nil {
				t.Fatal(err)
			}
			if got := count(m, "ConvTranspose") == 0; got != c.converted {
				t.Errorf("converted = %v, want %v", got, c.converted)
			}
			x := rnd(13, 1, 4, 5, 6)
			if len(c.w) == 3 {
				x = rnd(13, 1, 4, 5)
			}
			in := map[string]*tensor.Tensor{"x": x}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, roundTrip(t, m), in), 1e-5)
		})
	}
}
