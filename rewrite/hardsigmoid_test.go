package rewrite_test

import (
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
)

// gateNet has a squeeze-and-excitation gate, Conv -> HardSigmoid -> Mul,
// and a hard-swish, x * HardSigmoid(x), whose input has two readers.
func gateNet() *onnx.ModelProto {
	b := newBuilder()
	b.input("x", 1, 3, 8, 8)
	b.weight("w1", 0.5, 3, 3, 1, 1)
	b.weight("b1", 0.5, 3)
	b.weight("w2", 0.5, 3, 3, 3, 3)
	b.node("Conv", []string{"x", "w1", "b1"}, []string{"c1"})
	b.node("HardSigmoid", []string{"c1"}, []string{"gate"}, graph.FloatAttr("alpha", 0.2), graph.FloatAttr("beta", 0.5))
	b.node("Mul", []string{"x", "gate"}, []string{"g"})
	b.node("Conv", []string{"g", "w2"}, []string{"c2"}, graph.IntsAttr("pads", []int64{1, 1, 1, 1}))
	b.node("HardSigmoid", []string{"c2"}, []string{"hs"}, graph.FloatAttr("alpha", 1.0/6))
	b.node("Mul", []string{"c2", "hs"}, []string{"y"})
	b.output("y")
	return b.model(13)
}

// TestHardSigmoidQuantized: the gate's HardSigmoid folds into its Conv (a
// scaled weight and bias, the Conv renamed, the clipping left to the output
// range), the hard-swish one becomes DequantizeLinear -> Add, and
// the model still computes what the float one does. Excluding HardSigmoid
// leaves both in float.
func TestHardSigmoidQuantized(t *testing.T) {
	mp := gateNet()
	m, res := quantizeStatic(t, mp, rewrite.DefaultConfig())
	if count(m, "HardSigmoid") != 0 || len(res.Folded) != 1 {
		t.Errorf("%d HardSigmoid left, %d folded; want 0 and 1", count(m, "HardSigmoid"), len(res.Folded))
	}
	if count(m, "Add") != 1 || count(m, "Clip") != 0 {
		t.Errorf("Add %d, Clip %d; want the hard-swish HardSigmoid as one Add", count(m, "Add"), count(m, "Clip"))
	}
	gate := m.Graph.Value("gate")
	if gate == nil || gate.Producer == nil || gate.Producer.OpType != "Conv" || gate.Producer.Name == "Conv_c1" {
		t.Errorf("gate should be produced by the renamed Conv, is %v", gate)
	}
	if sqnr := modelSQNR(t, mp, m); sqnr < 30 {
		t.Errorf("SQNR %.1f dB, want at least 30", sqnr)
	}
	// In the QOperator format the Add is one QLinearAdd.
	if err := rewrite.ToQOperator(m); err != nil {
		t.Fatal(err)
	}
	if count(m, "QLinearAdd") != 1 || count(m, "Add") != 0 {
		t.Errorf("QOperator: QLinearAdd %d, Add %d; want 1 and 0", count(m, "QLinearAdd"), count(m, "Add"))
	}
	cfg := rewrite.DefaultConfig()
	cfg.ExcludeOpTypes = []string{"HardSigmoid"}
	m, res = quantizeStatic(t, mp, cfg)
	if count(m, "HardSigmoid") != 2 || len(res.Folded) != 0 {
		t.Errorf("HardSigmoid excluded: %d left, %d folded; want 2 and 0", count(m, "HardSigmoid"), len(res.Folded))
	}
}
