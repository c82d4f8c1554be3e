package rewrite_test

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// detLike is the shape of PP-OCR's detector in small: a hard-swish
// x*HardSigmoid(x), a squeeze-and-excitation gate Conv -> HardSigmoid ->
// Mul, and the upsampling head of upsampleHead.
func detLike() *onnx.ModelProto {
	b := newBuilder()
	b.input("x", 1, 4, 6, 6)
	b.weight("w0", 0.4, 4, 4, 3, 3)
	b.weight("b0", 0.1, 4)
	b.weight("wse", 0.4, 4, 4, 1, 1)
	b.weight("bse", 0.1, 4)
	b.weight("w1", 0.3, 4, 3, 2, 2)
	b.init("b1", rnd(3, 1, 3, 1, 1))
	b.init("scale", positive(4, 3))
	b.init("shift", rnd(5, 3))
	b.init("mean", rnd(6, 3))
	b.init("var", positive(7, 3))
	b.weight("w2", 0.3, 3, 1, 2, 2)
	b.init("b2", tensor.FromFloat32([]float32{-0.1}, 1, 1, 1, 1))
	b.node("Conv", []string{"x", "w0", "b0"}, []string{"c0"}, graph.IntsAttr("pads", []int64{1, 1, 1, 1}))
	b.node("HardSigmoid", []string{"c0"}, []string{"hs"}, graph.FloatAttr("alpha", 1.0/6))
	b.node("Mul", []string{"c0", "hs"}, []string{"swish"})
	b.node("GlobalAveragePool", []string{"swish"}, []string{"gap"})
	b.node("Conv", []string{"gap", "wse", "bse"}, []string{"se"})
	b.node("HardSigmoid", []string{"se"}, []string{"gate"}, graph.FloatAttr("alpha", 0.2), graph.FloatAttr("beta", 0.5))
	b.node("Mul", []string{"swish", "gate"}, []string{"f"})
	b.node("ConvTranspose", []string{"f", "w1"}, []string{"t1"}, graph.IntsAttr("strides", []int64{2, 2}))
	b.node("Add", []string{"t1", "b1"}, []string{"a1"})
	b.node("BatchNormalization", []string{"a1", "scale", "shift", "mean", "var"}, []string{"n1"})
	b.node("Relu", []string{"n1"}, []string{"r1"})
	b.node("ConvTranspose", []string{"r1", "w2"}, []string{"t2"}, graph.IntsAttr("strides", []int64{2, 2}))
	b.node("Add", []string{"t2", "b2"}, []string{"a2"})
	b.node("Sigmoid", []string{"a2"}, []string{"y"})
	b.output("y")
	return b.model(13)
}

// TestQDQFusesInORT quantizes detLike with the default passes and checks
// the graph ONNX Runtime runs after its optimisations: every float group
// became a QLinear kernel, so no Conv, ConvTranspose, HardSigmoid or
// BatchNormalization is left and the only DequantizeLinear and
// QuantizeLinear are the model's output and input. The quantized model
// must also still compute what the float one does, in ptq's engine and in
// ONNX Runtime.
func TestQDQFusesInORT(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	mp := detLike()
	m, err := graph.FromProto(proto.Clone(mp).(*onnx.ModelProto))
	if err != nil {
		t.Fatal(err)
	}
	if err := rewrite.RunPasses(m, rewrite.Prepare(13), nil); err != nil {
		t.Fatal(err)
	}
	prepared, err := m.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	q, res := quantizeStatic(t, prepared, rewrite.DefaultConfig(), 1, 4, 6, 6)
	for _, s := range res.Skipped {
		t.Errorf("%s left in float: %s", s.Node, s.Reason)
	}
	if sqnr := modelSQNR(t, mp, q, 1, 4, 6, 6); sqnr < 25 {
		t.Errorf("ptq engine: SQNR %.1f dB against the float model, want at least 25", sqnr)
	}
	qp, err := q.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "q.onnx")
	if err := onnxio.Save(path, qp, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	ops, err := oracle.ORTOpTypes(path, oracle.ORTOptions{OptLevel: "all", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ONNX Runtime runs %v", ops)
	for _, op := range []string{"Conv", "ConvTranspose", "HardSigmoid", "BatchNormalization", "Add", "Mul", "Clip", "Sigmoid"} {
		if ops[op] > 0 {
			t.Errorf("%d float %s left after ONNX Runtime's fusions", ops[op], op)
		}
	}
	if ops["DequantizeLinear"] > 1 || ops["QuantizeLinear"] > 1 {
		t.Errorf("%d DequantizeLinear and %d QuantizeLinear left, want one each (model output, input)", ops["DequantizeLinear"], ops["QuantizeLinear"])
	}
	if ops["QLinearConv"] != 4 || ops["QLinearAdd"] != 1 {
		t.Errorf("QLinearConv %d, QLinearAdd %d; want 4 (two Convs, two ConvTransposes) and 1 (the hard-swish HardSigmoid; the gate's folds into its Conv)", ops["QLinearConv"], ops["QLinearAdd"])
	}
	// ONNX Runtime's fused integer kernels still compute what the float
	// model does. (Not compared element by element with ptq's engine: a
	// value on a rounding boundary may land one step apart upstream.)
	st := &compare.Stats{Name: "y"}
	for i := range 4 {
		x := rnd(uint64(21+i), 1, 4, 6, 6)
		want := runEngine(t, mustGraph(t, mp), map[string]*tensor.Tensor{"x": x})["y"]
		got, err := oracle.ORT(path, map[string]*tensor.Tensor{"x": x}, oracle.ORTOptions{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Add(want, got["y"]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("ONNX Runtime: SQNR %.1f dB against the float model", st.SQNR())
	if st.SQNR() < 25 {
		t.Errorf("ONNX Runtime: SQNR %.1f dB against the float model, want at least 25", st.SQNR())
	}
}
