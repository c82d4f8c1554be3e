package rewrite_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// TestMergeDepthToSpace: DepthToSpace -> small 1x1 Conv -> elementwise ops
// -> DepthToSpace (DCR) becomes Conv -> ops -> one DepthToSpace, computing
// the same; other shapes of the chain are left alone.
func TestMergeDepthToSpace(t *testing.T) {
	dcr := graph.StringAttr("mode", "DCR")
	crd := graph.StringAttr("mode", "CRD")
	for _, c := range []struct {
		name     string
		k1, k2   int
		mode1    *onnx.AttributeProto
		between  []string // elementwise ops between the Conv and the second DepthToSpace
		convOut  int      // the 1x1 Conv's output channels (k2*k2 times the final ones)
		group    int
		merged   bool
		withBias bool
	}{
		{"k2k2-sigmoid", 2, 2, dcr, []string{"Sigmoid"}, 4, 1, true, true},
		{"k2k3-relu-sigmoid", 2, 3, dcr, []string{"Relu", "Sigmoid"}, 18, 1, true, false},
		{"k3k2", 3, 2, dcr, nil, 8, 1, true, true},
		{"crd-first", 2, 2, crd, []string{"Sigmoid"}, 4, 1, false, true},
		{"grouped-conv", 2, 2, dcr, nil, 4, 2, false, false},
		{"softmax-between", 2, 2, dcr, []string{"Softmax"}, 4, 1, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			const m = 6 // channels after the first DepthToSpace
			b := newBuilder()
			b.input("x", 1, int64(m*c.k1*c.k1), 3, 4)
			b.weight("w", 0.4, c.convOut, m/c.group, 1, 1)
			b.node("DepthToSpace", []string{"x"}, []string{"d1"}, graph.IntAttr("blocksize", int64(c.k1)), c.mode1)
			ins := []string{"d1", "w"}
			if c.withBias {
				b.weight("b", 0.4, c.convOut)
				ins = append(ins, "b")
			}
			b.node("Conv", ins, []string{"v0"}, graph.IntAttr("group", int64(c.group)))
			prev := "v0"
			for i, op := range c.between {
				out := "v" + string(rune('1'+i))
				b.node(op, []string{prev}, []string{out})
				prev = out
			}
			b.node("DepthToSpace", []string{prev}, []string{"y"}, graph.IntAttr("blocksize", int64(c.k2)), dcr)
			b.output("y")
			mp := b.model(13)
			g := mustGraph(t, proto.Clone(mp).(*onnx.ModelProto))
			if err := rewrite.MergeDepthToSpace(g); err != nil {
				t.Fatal(err)
			}
			want := 2
			if c.merged {
				want = 1
			}
			if got := count(g, "DepthToSpace"); got != want {
				t.Errorf("%d DepthToSpace, want %d", got, want)
			}
			in := map[string]*tensor.Tensor{"x": rnd(5, 1, m*c.k1*c.k1, 3, 4)}
			sameOutputs(t, runEngine(t, mustGraph(t, mp), in), runEngine(t, roundTrip(t, g), in), 1e-5)
		})
	}
}
