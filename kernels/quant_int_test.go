package kernels

import (
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

func BenchmarkQLinearConv(b *testing.B) {
	r := newQtRand(7)
	n := &graph.Node{OpType: "QLinearConv", Attrs: nil, Outputs: []*graph.Value{{Name: "y"}}}
	n.Attrs = append(n.Attrs, graph.IntsAttr("pads", []int64{1, 1, 1, 1}))
	op, err := Build(n, 13)
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.Tensor{r.u8(1, 64, 56, 56), qtScalarF(0.02), qtScalarU8(128), r.i8(64, 64, 3, 3), r.f32Pos(64),
		tensor.New(tensor.Int8, 64), qtScalarF(0.1), qtScalarU8(128), r.i32(-1000, 1000, 64)}
	ctx := &Context{Threads: 1}
	for b.Loop() {
		if _, err := op.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQConvIm2colMatchesDirect checks the tiled im2col convolution against
// the direct reference loop over geometries that stress the tiling (more
// than one tile, partial last tile), padding, strides, dilations, groups,
// per-channel weight zero points and 1-D/3-D inputs.
func TestQConvIm2colMatchesDirect(t *testing.T) {
	r := newQtRand(8)
	cases := []struct {
		name  string
		x, w  *tensor.Tensor
		attrs []*onnx.AttributeProto
	}{
		{"2d_pads_multi_tile", r.u8(2, 3, 19, 17), r.u8(5, 3, 3, 3), []*onnx.AttributeProto{graph.IntsAttr("pads", []int64{1, 2, 0, 1})}},
		{"2d_group_stride_dilation", r.u8(1, 4, 12, 11), r.u8(6, 2, 3, 2), []*onnx.AttributeProto{graph.IntAttr("group", 2), graph.IntsAttr("strides", []int64{2, 1}), graph.IntsAttr("dilations", []int64{1, 2})}},
		{"1d_same_lower", r.u8(1, 2, 30), r.u8(7, 2, 4), []*onnx.AttributeProto{graph.StringAttr("auto_pad", "SAME_LOWER"), graph.IntsAttr("strides", []int64{3})}},
		{"3d_depthwise", r.u8(1, 3, 4, 5, 6), r.u8(3, 1, 2, 3, 3), []*onnx.AttributeProto{graph.IntAttr("group", 3), graph.IntsAttr("pads", []int64{1, 1, 1, 0, 1, 1})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := &graph.Node{OpType: "ConvInteger", Attrs: c.attrs}
			op, err := parseQConv(n)
			if err != nil {
				t.Fatal(err)
			}
			M := c.w.Shape[0]
			wzp := make([]int32, M)
			for i := range wzp {
				wzp[i] = int32(100 + 7*i)
			}
			ctx := &Context{Threads: 2}
			fast, shape, err := op.conv(ctx, c.x, c.w, 120, wzp)
			if err != nil {
				t.Fatal(err)
			}
			op.direct = true
			ref, rshape, err := op.conv(ctx, c.x, c.w, 120, wzp)
			if err != nil {
				t.Fatal(err)
			}
			if !sameShape(shape, rshape) {
				t.Fatalf("shape %v, reference %v", shape, rshape)
			}
			for i := range ref {
				if fast[i] != ref[i] {
					t.Fatalf("element %d: %d, reference %d", i, fast[i], ref[i])
				}
			}
		})
	}
}
