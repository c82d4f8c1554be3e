package kernels

import (
	"fmt"
	"slices"
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
			if !slices.Equal(shape, rshape) {
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

func BenchmarkQLinearMatMul(b *testing.B) {
	r := newQtRand(10)
	n := &graph.Node{OpType: "QLinearMatMul", Outputs: []*graph.Value{{Name: "y"}}}
	op, err := Build(n, 13)
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.Tensor{r.u8(128, 768), qtScalarF(0.02), qtScalarU8(128), r.i8(768, 768), qtScalarF(0.01), qtScalarI8(0), qtScalarF(0.1), qtScalarU8(128)}
	ctx := &Context{Threads: 1}
	for b.Loop() {
		if _, err := op.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQMatMulBroadcasting checks the blocked integer matmul against a plain
// triple loop for numpy matmul shapes: 1-D operands, broadcast batches,
// row counts that are not a multiple of the 4-row block, and per-row and
// per-column zero points.
func TestQMatMulBroadcasting(t *testing.T) {
	r := newQtRand(11)
	cases := []struct{ a, b []int }{
		{[]int{5, 7}, []int{7, 3}},
		{[]int{7}, []int{7, 3}},
		{[]int{2, 5, 7}, []int{7}},
		{[]int{2, 1, 6, 4}, []int{3, 4, 9}},
		{[]int{1, 4}, []int{2, 4, 2}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.a, c.b), func(t *testing.T) {
			a, b := r.u8(c.a...), r.i8(c.b...)
			av, _ := qInts(a, "a")
			bv, _ := qInts(b, "b")
			m, n := 1, 1
			if len(c.a) > 1 {
				m = c.a[len(c.a)-2]
			}
			if len(c.b) > 1 {
				n = c.b[len(c.b)-1]
			}
			azp, bzp := make([]int32, m), make([]int32, n)
			for i := range azp {
				azp[i] = int32(100 + i)
			}
			for j := range bzp {
				bzp[j] = int32(j%3 - 1)
			}
			got, err := qMatMul(&Context{Threads: 2}, a, av, b, bv, azp, bzp)
			if err != nil {
				t.Fatal(err)
			}
			// Reference: promote to float, run the float MatMul kernel on
			// the shifted operands.
			af := make([]float32, len(av))
			k := c.a[len(c.a)-1]
			for i, v := range av {
				af[i] = float32(v - azp[(i/k)%m])
			}
			bf := make([]float32, len(bv))
			for i, v := range bv {
				bf[i] = float32(v - bzp[i%n])
			}
			n2 := &graph.Node{OpType: "MatMul", Outputs: []*graph.Value{{Name: "y"}}}
			op, err := Build(n2, 13)
			if err != nil {
				t.Fatal(err)
			}
			want, err := op.Run(&Context{Threads: 1}, []*tensor.Tensor{tensor.FromFloat32(af, c.a...), tensor.FromFloat32(bf, c.b...)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.shape, want[0].Shape) {
				t.Fatalf("shape %v, want %v", got.shape, want[0].Shape)
			}
			for i, v := range want[0].Float32() {
				if float32(got.acc[i]) != v {
					t.Fatalf("element %d: %d, want %v", i, got.acc[i], v)
				}
			}
		})
	}
}

// TestQDQErrors checks that malformed parameters are errors, not panics.
func TestQDQErrors(t *testing.T) {
	x := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	q := tensor.New(tensor.Uint8, 2, 3)
	cases := []struct {
		name  string
		op    string
		opset int
		attrs []*onnx.AttributeProto
		in    []*tensor.Tensor
	}{
		{"dq zero point count", "DequantizeLinear", 13, nil, []*tensor.Tensor{q, tensor.FromFloat32([]float32{1, 2, 3}, 3), tensor.New(tensor.Uint8)}},
		{"q per-axis at opset 10", "QuantizeLinear", 10, nil, []*tensor.Tensor{x, tensor.FromFloat32([]float32{1, 2, 3}, 3)}},
		{"q axis length", "QuantizeLinear", 13, nil, []*tensor.Tensor{x, tensor.FromFloat32([]float32{1, 2}, 2)}},
		{"q block shape", "QuantizeLinear", 21, []*onnx.AttributeProto{graph.IntAttr("block_size", 2)}, []*tensor.Tensor{x, tensor.FromFloat32([]float32{1, 2, 3}, 1, 3)}},
		{"dq int32 zero point", "DequantizeLinear", 13, nil, []*tensor.Tensor{tensor.New(tensor.Int32, 2), qtScalarF(1), func() *tensor.Tensor {
			z := tensor.New(tensor.Int32)
			z.Data.([]int32)[0] = 3
			return z
		}()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := &graph.Node{OpType: c.op, Attrs: c.attrs, Outputs: []*graph.Value{{Name: "y"}}}
			op, err := Build(n, c.opset)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := op.Run(&Context{}, c.in); err == nil {
				t.Error("no error")
			}
		})
	}
}
